"""Pilot tests of the resellers and clients screens and the Redeem Voucher screen."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select, Static

from topup_tui.core.models import Card, Client, LedgerEntry, Reseller
from topup_tui.tui.app import TopupApp
from topup_tui.tui.people_screens import ClientsScreen, FormDialog, LedgerScreen, RedeemScreen, ResellersScreen

from tests.tui.test_app import settle, show_search


async def test_redeem_voucher_screen(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        client = Client.get(Client.name == "Tom Baker")  # no reseller, USD
        card = Card.select().where(Card.activated_at.is_null() & (Card.series == "VIP")).first()
        pin = demo_store.key.decrypt(card.pin_ct)
        balance = client.balance
        await pilot.press("v")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RedeemScreen)
        screen.query_one("#client", Select).value = "Tom Baker"
        screen.query_one("#pin", Input).value = f"{pin[:4]} {pin[4:8]}-{pin[8:]}"
        screen.action_redeem()
        await settle(pilot)
        assert "redeemed" in str(screen.query_one("#result", Static).render())
        assert Client.get_by_id(client.id).balance == balance + card.amount
        assert LedgerEntry.select().where(LedgerEntry.card == card.id).count() == 1
        # the same PIN again: refused with its reason, balance unchanged
        screen.query_one("#pin", Input).value = pin
        screen.action_redeem()
        await settle(pilot)
        assert "already-activated" in str(screen.query_one("#result", Static).render())
        assert Client.get_by_id(client.id).balance == balance + card.amount
        # malformed: marked at the field
        screen.query_one("#pin", Input).value = "12ab"
        screen.action_redeem()
        await settle(pilot)
        shown = " ".join(str(w.render()) for w in screen.query(".error") if w.display)
        assert "digits" in shown
        await pilot.press("escape")
        await settle(pilot)
        # the table shows who activated it
        await show_search(pilot, client="Tom Baker")
        assert card.id in {r.id for r in app.main.page.rows}


async def test_clients_and_resellers_screens(demo_store):
    app = TopupApp(demo_store)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ClientsScreen)
        assert app.screen.query_one(DataTable).row_count == Client.select().count()
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormDialog)
        form.query_one("#name", Input).value = "Rose Orig"  # exists
        form._ok()
        await settle(pilot)
        assert isinstance(app.screen, FormDialog)
        assert "already exists" in " ".join(str(w.render()) for w in form.query(".error") if w.display)
        form.query_one("#name", Input).value = "New Client"
        form.query_one("#currency", Input).value = "EUR"
        form._ok()
        await settle(pilot)
        assert Client.get(Client.name == "New Client").currency == "EUR"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LedgerScreen)
        await pilot.press("escape")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, ResellersScreen)
        table = app.screen.query_one(DataTable)
        names = [table.get_row_at(i)[1].plain for i in range(table.row_count)]
        assert "[bold]Markup & Co[/]" in names  # literal
        await pilot.press("r")
        await settle(pilot)
        form = app.screen
        form.query_one("#new", Input).value = "Renamed Co"
        form._ok()
        await settle(pilot)
        assert Reseller.select().where(Reseller.name == "Renamed Co").count() == 1
