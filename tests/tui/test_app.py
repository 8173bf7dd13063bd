"""Pilot tests of the TUI against a temp database filled with the demo data."""

from __future__ import annotations

import asyncio

import pytest
from textual.worker import WorkerFailed
from textual.widgets import DataTable, Input, ProgressBar, Select, Static

from topup_tui.core.models import Batch, Card, Reseller
from topup_tui.core.pins import group_pin
from topup_tui.tui.app import TopupApp
from topup_tui.tui.card_screen import CardScreen, LookupScreen
from topup_tui.tui.generate_screen import GeneratedScreen, GenerateScreen
from topup_tui.tui.mass_edit_screen import DeleteConfirmScreen, MassEditScreen
from topup_tui.tui.search_screen import SearchScreen

SIZES = [(80, 24), (120, 40)]


async def settle(pilot, rounds: int = 3) -> None:
    """Let thread workers finish (a failed one is the app's business, shown as a message)."""
    for _ in range(rounds):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
            pass
        await pilot.pause()


def fill(screen, values: dict[str, str]) -> None:
    """Type `values` into the screen's inputs, by id."""
    for field, value in values.items():
        screen.query_one(f"#{field}", Input).value = value


async def show_search(pilot, **fields) -> None:
    """Put the main table on the search `fields` (as the Advanced Search would) and wait for it."""
    from topup_tui.core.filters import build_filter

    pilot.app.main.filter = build_filter(**fields)
    pilot.app.main.reload(1)
    await settle(pilot)


def table_serials(app) -> list[str]:
    table = app.main.query_one(DataTable)
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


def info_text(app) -> str:
    return str(app.main.query_one("#info", Static).render())


@pytest.mark.parametrize("size", SIZES)
async def test_main_table_pages_and_sorts(demo_store, size):
    app = TopupApp(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        total = Card.select().count()
        assert app.main.page.total == total
        assert f"Rows 1 – 20 of {total:,} · Page 1 of {-(-total // 20)}" in info_text(app)
        first = table_serials(app)
        assert len(first) == 20
        await pilot.press("n")
        await settle(pilot)
        assert app.main.page_number == 2 and set(table_serials(app)).isdisjoint(first)
        await pilot.press("p")
        await settle(pilot)
        assert table_serials(app) == first
        await pilot.press("greater_than_sign")
        await settle(pilot)
        assert app.main.page_number == app.main.page.pages
        await pilot.press("less_than_sign")
        await settle(pilot)
        assert app.main.page_number == 1
        # sort by the Serial Number column (cursor moved onto it), then again to reverse
        table = app.main.query_one(DataTable)
        table.move_cursor(column=2)
        await pilot.press("s")
        await settle(pilot)
        assert app.main.sort == ("serial", False)
        expected = sorted((c.series, c.number) for c in Card.select())[:20]
        assert table_serials(app) == [f"{s}-{n:09d}" for s, n in expected]
        await pilot.press("s")
        await settle(pilot)
        assert app.main.sort == ("serial", True)
        expected = sorted(((c.series, c.number) for c in Card.select()), reverse=True)[:20]
        assert table_serials(app) == [f"{s}-{n:09d}" for s, n in expected]
        await pilot.press("z")
        await settle(pilot)
        assert app.main.page_size == 50 and len(table_serials(app)) == 50


async def test_empty_database_says_how_to_start(empty_store):
    app = TopupApp(empty_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        empty = app.main.query_one("#empty", Static)
        assert empty.display
        assert "Press g to generate" in str(empty.render())


@pytest.mark.parametrize("size", SIZES)
async def test_advanced_search_each_field_and_bad_values(demo_store, size):
    app = TopupApp(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        card = Card.select().where(Card.series == "101").order_by(Card.number).first()
        pin = demo_store.key.decrypt(card.pin_ct)
        acme = Reseller.get(Reseller.name == "Acme Telecom")
        cases = {
            "serial_from": (f"101-{card.number}", lambda c: c.id == card.id),
            "series": ("3", lambda c: c.series == "3"),
            "pin": (group_pin(pin), lambda c: c.id == card.id),
            "amount_min": ("26", lambda c: c.amount >= 2600),
            "batch": (str(card.batch_id), lambda c: c.batch_id == card.batch_id),
            "client": ("Rose Orig", lambda c: c.activated_by is not None and c.activated_by.name == "Rose Orig"),
        }
        for field, (value, predicate) in cases.items():
            await pilot.press("f")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SearchScreen)
            screen.action_reset()
            screen.query_one(f"#{field}", Input).value = value
            screen.query_one(f"#{field}", Input).focus()
            await pilot.press("enter")
            await settle(pilot)
            assert not isinstance(app.screen, SearchScreen), field
            expected = sum(1 for c in Card.select() if predicate(c))
            assert app.main.page.total == expected, field
            assert "Search: " in str(app.main.query_one("#summary", Static).render())
        # status and company are selects
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen
        screen.action_reset()
        screen.query_one("#status", Select).value = "activated"
        screen.query_one("#reseller", Select).value = "Acme Telecom"
        screen.action_search()
        await settle(pilot)
        expected = Card.select().where(Card.activated_at.is_null(False) & (Card.reseller == acme.id)).count()
        assert app.main.page.total == expected
        # bad values: marked at the field, nothing queried, panel stays open
        await pilot.press("f")
        await settle(pilot)
        for field, value, words in [
            ("amount_min", "abc", "plain decimal"), ("expires_to", "2027-13-01", "not a valid date"),
            ("serial_from", "hello", "serial number"), ("pin", "12ab5", "digits"), ("client", "Nobody", "no client"),
            ("batch", "x", "batch"),
        ]:
            screen = app.screen
            assert isinstance(screen, SearchScreen)
            screen.action_reset()
            screen.query_one(f"#{field}", Input).value = value
            before = app.main.page.total
            screen.action_search()
            await settle(pilot)
            assert isinstance(app.screen, SearchScreen), field
            errors = [str(w.render()) for w in screen.query(".error") if w.display]
            assert errors and words in " ".join(errors), (field, errors)
            assert app.main.page.total == before
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert app.main.filter.is_empty and app.main.page.total == Card.select().count()


async def test_lookup_by_serial_and_pin_and_reveal(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        card = Card.select().where(Card.series == "VIP").first()
        pin = demo_store.key.decrypt(card.pin_ct)
        for text in (f"VIP-{card.number}", group_pin(pin)):
            await pilot.press("slash")
            await settle(pilot)
            assert isinstance(app.screen, LookupScreen)
            app.screen.query_one(Input).value = text
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, CardScreen)
            body = app.screen.body_text
            assert card.serial in body and pin not in body and pin[-4:] in body
            await pilot.press("v")
            await settle(pilot)
            assert group_pin(pin) in app.screen.body_text
            await pilot.press("escape")
            await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        app.screen.query_one(Input).value = "ZZZ-1"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LookupScreen)  # "No such card" is a notification
        assert any("No such card" in n.message for n in app._notifications)


async def test_marks_page_all_and_clear(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space", "space")
        assert len(app.main.marks) == 2
        await pilot.press("a")
        assert len(app.main.marks) == 20
        await pilot.press("x")
        assert not app.main.marks
        await pilot.press("A")
        assert app.main.all_marked
        assert "all matching marked" in info_text(app)


@pytest.mark.parametrize("size", SIZES)
async def test_generate_to_completion_then_export(demo_store, tmp_path, size):
    app = TopupApp(demo_store)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        before = Card.select().count()
        await pilot.press("g")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GenerateScreen)
        # bad input in every field: each error is shown at its field and nothing starts
        values = {"amount": "0", "currency": "US", "quantity": "0", "series": "a-b", "pin_length": "4",
                  "expires": "2020-01-01"}
        fill(screen, values)
        screen.action_ok()
        await settle(pilot)
        assert isinstance(app.screen, GenerateScreen)
        shown = " ".join(str(w.render()) for w in screen.query(".error") if w.display)
        for words in ("ISO 4217", "1..1,000,000", "letters A-Z", "5..32", "past"):
            assert words in shown, (words, shown)
        good = {"amount": "12.50", "currency": "usd", "quantity": "300", "series": "T1", "pin_length": "16",
                "expires": "2030-06-30"}
        fill(screen, good)
        screen.query_one("#reseller", Select).value = "Acme Telecom"
        await settle(pilot)
        assert "1 in" in str(screen.query_one("#risk", Static).render())
        screen.action_ok()
        await settle(pilot, rounds=6)
        assert isinstance(app.screen, GeneratedScreen)
        batch = Batch.select().order_by(Batch.id.desc()).first()
        assert Card.select().count() == before + 300 and batch.series == "T1"
        path = tmp_path / "out.csv"
        app.screen.query_one("#path", Input).value = str(path)
        app.screen.action_export()
        await settle(pilot)
        assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
        assert len(path.read_text().splitlines()) == 301
        app.screen._show()
        await settle(pilot)
        assert app.main.filter.batch == batch.id and app.main.page.total == 300


async def test_generate_cancel_half_way_leaves_nothing(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = Card.select().count()
        batches = Batch.select().count()
        await pilot.press("g")
        await settle(pilot)
        screen = app.screen
        fill(screen, {"amount": "5", "quantity": "400000", "series": "BIG", "expires": "2030-01-01"})
        screen.action_ok()
        for _ in range(400):
            await asyncio.sleep(0.02)
            bars = app.main.query("#gen-bar")
            if bars and (bars.first(ProgressBar).progress or 0) > 0:
                break
        bar = app.main.query_one("#gen-bar", ProgressBar)
        assert 0 < (bar.progress or 0) < 400000, "generation should be running"
        # the table stays usable meanwhile
        await pilot.press("n")
        await pilot.press("C")
        await settle(pilot, rounds=6)
        assert not app.main.generating
        assert Card.select().count() == before and Batch.select().count() == batches
        assert any("cancelled" in n.message for n in app._notifications)


async def test_mass_edit_on_marks_and_on_search(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        target = Reseller.get(Reseller.name == "Northwind VoIP")
        await pilot.press("space", "space", "space")
        marked = set(app.main.marks)
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MassEditScreen)
        assert "3 marked" in str(screen.query_one("#scope", Static).render())
        assert "this will change" in str(screen.query_one("#preview", Static).render())
        screen.query_one("#reseller_mode", Select).value = "set"
        await pilot.pause()
        screen.query_one("#reseller", Select).value = "Northwind VoIP"
        screen.action_process()
        await settle(pilot)
        assert not isinstance(app.screen, MassEditScreen)
        for card in Card.select().where(Card.id.in_(marked)):
            assert card.activated_at is not None or card.reseller_id == target.id
        assert not app.main.marks
        # on a search: every card of series 3 gets a new expiration (activated ones kept)
        app.main.filter_fields = {"series": "3"}
        await show_search(pilot, series="3")
        await pilot.press("e")
        await settle(pilot)
        screen = app.screen
        assert "series=3" in str(screen.query_one("#scope", Static).render())
        screen.query_one("#expires_mode", Select).value = "set"
        await pilot.pause()
        screen.query_one("#expires", Input).value = "not a date"
        screen.action_process()
        await settle(pilot)
        assert isinstance(app.screen, MassEditScreen)
        assert "not a date" in " ".join(str(w.render()) for w in screen.query(".error") if w.display)
        screen.query_one("#expires", Input).value = "2031-01-31"
        screen.action_process()
        await settle(pilot)
        cards = list(Card.select().where(Card.series == "3"))
        assert all(c.activated_at is not None or c.expires_at.year == 2031 for c in cards)
        assert any(c.activated_at is not None and c.expires_at.year != 2031 for c in cards)


async def test_delete_needs_the_typed_count(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await show_search(pilot, series="2")
        deletable = Card.select().where((Card.series == "2") & Card.activated_at.is_null()).count()
        kept = Card.select().where((Card.series == "2") & Card.activated_at.is_null(False)).count()
        await pilot.press("e")
        await settle(pilot)
        app.screen.action_delete()
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, DeleteConfirmScreen)
        confirm.query_one(Input).value = str(deletable + 1)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DeleteConfirmScreen)
        assert Card.select().where(Card.series == "2").count() == deletable + kept
        confirm.query_one(Input).value = str(deletable)
        await pilot.press("enter")
        await settle(pilot)
        assert Card.select().where(Card.series == "2").count() == kept
        assert app.main.page.total == kept


async def test_markup_like_names_are_shown_literally(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await show_search(pilot, reseller="[bold]Markup & Co[/]")
        table = app.main.query_one(DataTable)
        cell = table.get_row_at(0)[5]
        assert cell.plain.startswith("[bold]")
        assert "[bold]Markup" in str(app.main.query_one("#summary", Static).render())
        # an escape sequence in a name is shown, not obeyed
        Reseller.update(name="Evil\x1b[31mRed").where(Reseller.name == "[bold]Markup & Co[/]").execute()
        await show_search(pilot, reseller="Evil\x1b[31mRed")
        texts = [table.get_row_at(i)[5].plain for i in range(table.row_count)]
        assert any("\\x1b[31m" in t for t in texts) and not any("\x1b" in t for t in texts)


async def test_quit_asks_while_generating(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        screen = app.screen
        fill(screen, {"amount": "5", "quantity": "1000000", "series": "Q", "expires": "2030-01-01"})
        screen.action_ok()
        await pilot.pause()
        assert app.main.generating
        await pilot.press("q")
        await pilot.pause()
        from topup_tui.tui.app import ConfirmScreen

        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running
        app.main.action_cancel_generation()
        await settle(pilot, rounds=6)


async def test_a_lost_connection_is_a_message_and_the_next_query_reconnects(demo_store, monkeypatch):
    import peewee

    import topup_tui.tui.main_screen as main_screen

    real = main_screen.search_cards
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise peewee.OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(main_screen, "search_cards", flaky)
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert any("connection" in n.message and n.severity == "error" for n in app._notifications)
        assert app.main.page_number == 1 and app.is_running
        await pilot.press("n")
        await settle(pilot)
        assert app.main.page_number == 2
