"""Searching cards: every filter alone and combined, status at the boundary, paging and
sorting, masked and revealed PINs with their audit, and the paste-anything lookup.

The dataset (tests/card_data.py) is built once per backend for this module: these tests only
read cards (reveals add audit events, which the tests count as differences).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.card_data import B4_CREATED, BOUNDARY, expected_sorted, module_store, records, serials
from tests.conftest import NOW
from topup_tui.core.errors import InputError
from topup_tui.core.filters import CardFilter, build_filter, parse_filter, parse_serial
from topup_tui.core.models import AuditEvent, CardEvent, db
from topup_tui.core.pins import group_pin, mask_pin
from topup_tui.core.search import (
    DEFAULT_SORT, SORT_COLUMNS, Page, check_page_size, iter_cards, lookup, parse_sort, search_cards,
)
from topup_tui.core.times import parse_time


class World:
    def __init__(self, backend, store, data):
        self.backend = backend
        self.store = store
        self.data = data
        self.recs = records(store)
        self.by_serial = {r.serial: r for r in self.recs}

    def batch(self, name):
        return self.data.batches[name]

    def serial(self, batch, offset=0):
        result = self.batch(batch)
        return f"{result.series}-{result.first_number + offset:09d}"

    def expect(self, pred, now=NOW):
        return {r.serial for r in self.recs if pred(r, now)}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world_store(request, tmp_path_factory):
    with module_store(request.param, tmp_path_factory.mktemp("search")) as (_url, _key, store, data):
        yield World(request.param, store, data)


@pytest.fixture
def w(world_store):
    """The module's dataset, bound to the model proxy again (other modules rebind it)."""
    db.initialize(world_store.store.database)
    world_store.store.database.connect(reuse_if_open=True)
    return world_store


def find(w, flt=None, now=NOW, **kwargs):
    """Every match on one page (the dataset is smaller than the largest page)."""
    page = search_cards(w.store, flt, page_size=500, now=now, **kwargs)
    assert page.total == len(page.rows)
    return page


def check(w, fields, pred, now=NOW):
    flt = build_filter(**fields)
    expected = w.expect(pred, now)
    page = find(w, flt, now=now)
    assert serials(page.rows) == expected
    assert page.total == len(expected)
    assert serials(iter_cards(w.store, flt, now=now, chunk=7)) == expected
    return expected


# --- every filter alone --------------------------------------------------------------------

def at(text, end_of_day=True):
    return parse_time(text, "t", end_of_day=end_of_day)


FILTER_CASES = {
    "serial padded": ({"serial": "101-000000042"}, lambda r, n: r.serial == "101-000000042"),
    "serial unpadded": ({"serial": "101-42"}, lambda r, n: r.serial == "101-000000042"),
    "serial lower-case series": ({"serial": "ab7-3"}, lambda r, n: r.serial == "AB7-000000003"),
    "serial range": ({"serial_from": "101-10", "serial_to": "101-000000033"},
                     lambda r, n: r.series == "101" and 10 <= r.number <= 33),
    "serial from only": ({"serial_from": "202-8"}, lambda r, n: r.series == "202" and r.number >= 8),
    "serial to only": ({"serial_to": "AB7-2"}, lambda r, n: r.series == "AB7" and r.number <= 2),
    "series": ({"series": "202"}, lambda r, n: r.series == "202"),
    "series lower-case": ({"series": "jp1"}, lambda r, n: r.series == "JP1"),
    "status new": ({"status": "new"}, lambda r, n: r.status(n) == "new"),
    "status activated": ({"status": "activated"}, lambda r, n: r.activated_at is not None),
    "status expired": ({"status": "Expired"}, lambda r, n: r.status(n) == "expired"),
    "reseller": ({"reseller": "Alpha"}, lambda r, n: r.reseller == "Alpha"),
    "reseller with spaces": ({"reseller": "  Charlie "}, lambda r, n: r.reseller == "Charlie"),
    "all resellers": ({"reseller": "all resellers"}, lambda r, n: True),
    "all resellers capitalised": ({"reseller": "All Resellers"}, lambda r, n: True),
    "currency": ({"currency": "jpy"}, lambda r, n: r.currency == "JPY"),
    "amount min": ({"amount_min": "10"}, lambda r, n: r.amount >= 1000),
    "amount min cents": ({"amount_min": "10.50"}, lambda r, n: r.amount >= 1050),
    "amount max": ({"amount_max": "10.50"}, lambda r, n: r.amount <= 1050),
    "amount max zero": ({"amount_max": "0"}, lambda r, n: False),
    "amount min with currency": ({"currency": "JPY", "amount_min": "1000"},
                                 lambda r, n: r.currency == "JPY" and r.amount >= 1000),
    "expires from": ({"expires_from": "2027-06-30"}, lambda r, n: r.expires_at >= at("2027-06-30", False)),
    "expires to bare date is the whole day": (
        {"expires_to": "2026-12-31"}, lambda r, n: r.expires_at <= at("2026-12-31 23:59:59")),
    "expires range": ({"expires_from": "2026-09-01", "expires_to": "2026-12-31"},
                      lambda r, n: at("2026-09-01", False) <= r.expires_at <= at("2026-12-31")),
    "client": ({"client": "Zed Shop"}, lambda r, n: r.client == "Zed Shop"),
    "activated from": ({"activated_from": "2026-05-26"},
                       lambda r, n: r.activated_at is not None and r.activated_at >= at("2026-05-26", False)),
    "activated to": ({"activated_to": "2026-05-25"},
                     lambda r, n: r.activated_at is not None and r.activated_at <= at("2026-05-25")),
    "activated range with times": (
        {"activated_from": "2026-05-24 12:00:00", "activated_to": "2026-05-29T12:00:00Z"},
        lambda r, n: r.activated_at is not None
        and at("2026-05-24 12:00:00") <= r.activated_at <= at("2026-05-29 12:00:00")),
    "created from": ({"created_from": "2026-05-27"}, lambda r, n: r.created_at >= at("2026-05-27", False)),
    "created to bare date is the whole day": (
        {"created_to": "2026-01-15"}, lambda r, n: r.created_at <= at("2026-01-15 23:59:59")),
    "created range": ({"created_from": "2026-05-22", "created_to": "2026-05-30"},
                      lambda r, n: at("2026-05-22", False) <= r.created_at <= at("2026-05-30")),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_each_filter_alone(w, case):
    fields, pred = FILTER_CASES[case]
    expected = check(w, fields, pred)
    if case not in ("amount max zero",):
        assert expected, "every case should select something in the dataset"
    if case not in ("all resellers", "all resellers capitalised"):
        assert len(expected) < len(w.recs), "every case should leave something out"


def test_created_to_bare_date_includes_cards_made_during_that_day(w):
    assert B4_CREATED.hour == 8  # not midnight: a bare `to` must reach past it
    expected = check(w, {"created_to": "2026-01-15"}, lambda r, n: r.batch == w.batch("b4").batch_id)
    assert len(expected) == 6


def test_range_ends_are_inclusive(w):
    """A bound equal to a card's own instant (or amount) includes that card, at either end."""
    b1 = w.by_serial[w.serial("b1", 0)]  # created NOW - 10 days, activated NOW - 8 days
    b5 = w.by_serial[w.serial("b5", 0)]
    for name, value in (("created", b1.created_at), ("activated", b1.activated_at), ("expires", b5.expires_at)):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        attr = f"{name}_at"
        for fields, pred in (
            ({f"{name}_from": text}, lambda r, n, a=attr, v=value: getattr(r, a) is not None and getattr(r, a) >= v),
            ({f"{name}_to": text}, lambda r, n, a=attr, v=value: getattr(r, a) is not None and getattr(r, a) <= v),
            ({f"{name}_from": text, f"{name}_to": text},
             lambda r, n, a=attr, v=value: getattr(r, a) == v),
        ):
            expected = check(w, fields, pred)
            assert b1.serial in expected or b5.serial in expected, fields
    assert check(w, {"amount_min": "25.50", "amount_max": "25.5"}, lambda r, n: r.amount == 2550)
    assert check(w, {"serial_from": "101-42", "serial_to": "101-42"}, lambda r, n: r.serial == "101-000000042")


def test_batch_filter(w):
    for name, result in w.data.batches.items():
        expected = check(w, {"batch": str(result.batch_id)}, lambda r, n, b=result.batch_id: r.batch == b)
        assert len(expected) == result.count


@pytest.mark.parametrize("style", ["bare", "grouped", "dashed", "padded with spaces"])
def test_pin_filter(w, style):
    for rec in (w.by_serial[w.serial("b1", 4)], w.by_serial[w.serial("b3", 2)]):  # 16 and 12 digits
        text = {
            "bare": rec.pin,
            "grouped": group_pin(rec.pin),
            "dashed": group_pin(rec.pin).replace(" ", "-"),
            "padded with spaces": f"  {group_pin(rec.pin)}  ",
        }[style]
        assert check(w, {"pin": text}, lambda r, n, pin=rec.pin: r.pin == pin) == {rec.serial}


def test_pin_filter_no_such_pin(w):
    pin = "1" * 16
    assert all(r.pin != pin for r in w.recs)
    assert check(w, {"pin": pin}, lambda r, n: False) == set()


def test_no_filter_is_everything(w):
    assert CardFilter().is_empty
    assert build_filter().is_empty
    assert build_filter(reseller="all resellers", status="", series="  ").is_empty
    assert check(w, {}, lambda r, n: True) == set(w.by_serial)
    assert search_cards(w.store, None, now=NOW).total == len(w.recs)


COMBINATIONS = {
    "new and reseller": ({"status": "new", "reseller": "Alpha"},
                         lambda r, n: r.status(n) == "new" and r.reseller == "Alpha"),
    "series and amount": ({"series": "101", "amount_min": "20"},
                          lambda r, n: r.series == "101" and r.amount >= 2000),
    "reseller and currency": ({"reseller": "Bravo", "currency": "USD"},
                              lambda r, n: r.reseller == "Bravo" and r.currency == "USD"),
    "activated, client, range": (
        {"status": "activated", "client": "Zed Shop", "activated_from": "2026-05-01"},
        lambda r, n: r.client == "Zed Shop" and r.activated_at >= at("2026-05-01", False)),
    "serial range and status": ({"serial_from": "101-1", "serial_to": "101-35", "status": "new"},
                                lambda r, n: r.series == "101" and r.number <= 35 and r.status(n) == "new"),
    "expired in a series": ({"series": "202", "status": "expired"},
                            lambda r, n: r.series == "202" and r.status(n) == "expired"),
    "expires and amount max": ({"expires_to": "2027-12-31", "amount_max": "10", "reseller": "all resellers"},
                               lambda r, n: r.amount <= 1000),
    "batch and status": (None, None),  # built in the test: needs the batch id
    "contradiction": ({"series": "101", "reseller": "Charlie"}, lambda r, n: False),
}


@pytest.mark.parametrize("case", list(COMBINATIONS))
def test_filters_combined(w, case):
    fields, pred = COMBINATIONS[case]
    if fields is None:
        b1 = w.batch("b1").batch_id
        fields = {"batch": str(b1), "status": "activated", "amount_max": "10"}
        pred = lambda r, n: r.batch == b1 and r.activated_at is not None  # noqa: E731
    expected = check(w, fields, pred)
    if case != "contradiction":
        assert 0 < len(expected) < len(w.recs)


def test_unknown_reseller_or_client_is_bad_input(w):
    with pytest.raises(InputError) as exc:
        search_cards(w.store, build_filter(reseller="Nobody"), now=NOW)
    assert exc.value.field == "reseller"
    with pytest.raises(InputError) as exc:
        list(iter_cards(w.store, build_filter(client="Nobody"), now=NOW))
    assert exc.value.field == "client"


@pytest.mark.parametrize("fields, field", [
    ({"status": "bogus"}, "status"),
    ({"serial": "101"}, "serial"),
    ({"serial": "101-1234567890"}, "serial"),
    ({"serial_from": "101-5", "serial_to": "202-9"}, "serial_to"),
    ({"serial_from": "101-9", "serial_to": "101-5"}, "serial_to"),
    ({"series": "10-1"}, "series"),
    ({"pin": "12ab5"}, "pin"),
    ({"pin": "1234"}, "pin"),
    ({"amount_min": "-1"}, "amount_min"),
    ({"amount_min": "1,5"}, "amount_min"),
    ({"amount_min": "10.555"}, "amount_min"),
    ({"amount_min": "20", "amount_max": "10"}, "amount_max"),
    ({"currency": "dollars"}, "currency"),
    ({"expires_to": "2026-13-45"}, "expires_to"),
    ({"expires_from": "31/12/2026"}, "expires_from"),
    ({"created_from": "2026-06-02", "created_to": "2026-06-01"}, "created_to"),
    ({"activated_from": "2026-06-02", "activated_to": "2026-06-01 23:00"}, "activated_to"),
    ({"batch": "0"}, "batch"),
    ({"batch": "x"}, "batch"),
])
def test_bad_filter_input(fields, field):
    flt, errors = parse_filter(fields)
    assert flt is None and field in errors
    with pytest.raises(InputError) as exc:
        build_filter(**fields)
    assert exc.value.field in errors


def test_parse_serial():
    assert parse_serial("101-000000042") == ("101", 42)
    assert parse_serial(" 101-42 ") == ("101", 42)
    assert parse_serial("ab7-3") == ("AB7", 3)
    for bad in ("", "101", "-42", "101-", "101-4a", "1０1-42", "101_42"):
        with pytest.raises(InputError):
            parse_serial(bad)


# --- status at the boundary -----------------------------------------------------------------

def test_status_at_the_expiration_instant(w):
    ab7 = {r.serial for r in w.recs if r.series == "AB7"}
    activated = {r.serial for r in w.recs if r.series == "AB7" and r.activated_at is not None}
    assert len(activated) == 1 and all(w.by_serial[s].expires_at == BOUNDARY for s in ab7)
    before, instant = BOUNDARY - timedelta(seconds=1), BOUNDARY

    new_before = serials(find(w, build_filter(status="new"), now=before).rows)
    new_at = serials(find(w, build_filter(status="new"), now=instant).rows)
    expired_before = serials(find(w, build_filter(status="expired"), now=before).rows)
    expired_at = serials(find(w, build_filter(status="expired"), now=instant).rows)
    assert ab7 - activated <= new_before and not (ab7 & expired_before)
    assert ab7 - activated <= expired_at and not (ab7 & new_at)
    assert new_before - new_at == ab7 - activated
    assert expired_at - expired_before == ab7 - activated
    for now in (before, instant):
        check(w, {"status": "new"}, lambda r, n: r.status(n) == "new", now=now)
        check(w, {"status": "expired"}, lambda r, n: r.status(n) == "expired", now=now)
        check(w, {"status": "activated"}, lambda r, n: r.activated_at is not None, now=now)

    rows_before = {r.serial: r.status for r in find(w, build_filter(series="AB7"), now=before).rows}
    rows_at = {r.serial: r.status for r in find(w, build_filter(series="AB7"), now=instant).rows}
    for serial in ab7:
        assert rows_before[serial] == ("activated" if serial in activated else "new")
        assert rows_at[serial] == ("activated" if serial in activated else "expired")
    one = sorted(ab7 - activated)[0]
    assert lookup(w.store, one, now=before)[0].card.status == "new"
    assert lookup(w.store, one, now=instant)[0].card.status == "expired"


# --- paging and sorting --------------------------------------------------------------------

def expected_order(w, recs, column, descending, now=NOW):
    return expected_sorted(recs, column, descending, now)


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("column", SORT_COLUMNS)
def test_every_page_is_the_slice_of_the_sorted_list(w, column, descending):
    size = 10
    full = [r.id for r in expected_order(w, w.recs, column, descending)]
    pages = -(-len(full) // size)
    assert pages == 8
    seen = []
    for number in range(1, pages + 1):
        page = search_cards(w.store, page=number, page_size=size, sort=(column, descending), now=NOW)
        assert (page.total, page.pages, page.page) == (len(full), pages, number)
        ids = [r.id for r in page.rows]
        assert ids == full[(number - 1) * size : number * size], f"page {number}"
        assert page.first_row == (number - 1) * size + 1 and page.last_row == page.first_row + len(ids) - 1
        seen += ids
    assert seen == full
    streamed = [r.id for r in iter_cards(w.store, sort=(column, descending), now=NOW, chunk=9)]
    assert streamed == full


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_status_sort_at_the_expiration_instant(w, descending):
    for now in (BOUNDARY - timedelta(seconds=1), BOUNDARY):
        full = [r.id for r in expected_order(w, w.recs, "status", descending, now=now)]
        got = [r.id for r in iter_cards(w.store, sort=("status", descending), now=now)]
        assert got == full
        for number in (1, 5, 8):
            page = search_cards(w.store, page=number, page_size=10, sort=("status", descending), now=now)
            assert [r.id for r in page.rows] == full[(number - 1) * 10 : number * 10]


@pytest.mark.parametrize("column", ["status", "amount", "expires", "activated"])
def test_paging_a_filtered_result(w, column):
    """Back-half pages of a filtered result (the reversed read) equal a naive slice."""
    flt = build_filter(status="new")
    full = [r.id for r in expected_order(w, [r for r in w.recs if r.status(NOW) == "new"], column, True)]
    size = 10
    pages = -(-len(full) // size)
    assert pages >= 4 and len(full) % size  # a short last page
    for number in (1, pages // 2 + 1, pages - 1, pages):
        page = search_cards(w.store, flt, page=number, page_size=size, sort=(column, True), now=NOW)
        assert [r.id for r in page.rows] == full[(number - 1) * size : number * size]


def test_page_clamping(w):
    total = len(w.recs)
    last = search_cards(w.store, page=8, page_size=10, now=NOW)
    for beyond in (9, 100, 10**6):
        page = search_cards(w.store, page=beyond, page_size=10, now=NOW)
        assert page.page == 8 and page.pages == 8 and page.total == total
        assert [r.id for r in page.rows] == [r.id for r in last.rows]
        assert len(page.rows) == total - 70
    first = search_cards(w.store, page=1, page_size=10, now=NOW)
    for below in (0, -3):
        page = search_cards(w.store, page=below, page_size=10, now=NOW)
        assert page.page == 1 and [r.id for r in page.rows] == [r.id for r in first.rows]
    empty = search_cards(w.store, build_filter(series="999"), page=5, page_size=10, now=NOW)
    assert (empty.total, empty.pages, empty.page, empty.rows) == (0, 1, 1, [])
    assert (empty.first_row, empty.last_row) == (0, 0)


def test_page_size_bounds(w):
    for size in (10, 500, "10", " 250 "):
        page = search_cards(w.store, page_size=size, now=NOW)
        assert page.page_size == int(str(size))
        assert len(page.rows) == min(int(str(size)), len(w.recs))
    for size in (9, 0, 5, 501, -10, "ten", "", "1e2"):
        with pytest.raises(InputError) as exc:
            search_cards(w.store, page_size=size, now=NOW)
        assert exc.value.field == "page_size"
    assert check_page_size(10) == 10 and check_page_size(500) == 500


def test_default_sort_is_newest_first(w):
    assert DEFAULT_SORT == ("created", True)
    page = search_cards(w.store, now=NOW)
    assert len(page.rows) == 20
    assert [r.id for r in page.rows] == [r.id for r in expected_order(w, w.recs, "created", True)][:20]


def test_parse_sort():
    assert parse_sort(None) == DEFAULT_SORT
    assert parse_sort("") == DEFAULT_SORT
    assert parse_sort("amount") == ("amount", False)
    assert parse_sort("amount:asc") == ("amount", False)
    assert parse_sort(" Serial:DESC ") == ("serial", True)
    for column in SORT_COLUMNS:
        assert parse_sort(f"{column}:desc") == (column, True)
    for bad in ("bogus", "amount:up", "pin", "amount:desc:x"):
        with pytest.raises(InputError) as exc:
            parse_sort(bad)
        assert exc.value.field == "sort"


FOOTER = re.compile(
    r"Rows (\d{1,3}(?:,\d{3})*) – (\d{1,3}(?:,\d{3})*) of (\d{1,3}(?:,\d{3})*) · "
    r"Page (\d{1,3}(?:,\d{3})*) of (\d{1,3}(?:,\d{3})*) · \d+\.\d{3}s"
)


def test_footer_format(w):
    assert Page([None] * 20, 1204, 1, 20, 0.004).footer() == "Rows 1 – 20 of 1,204 · Page 1 of 61 · 0.004s"
    assert Page([None] * 4, 1204, 61, 20, 0.0123).footer() == "Rows 1,201 – 1,204 of 1,204 · Page 61 of 61 · 0.012s"
    assert Page([], 0, 1, 20, 0).footer() == "Rows 0 – 0 of 0 · Page 1 of 1 · 0.000s"
    page = search_cards(w.store, page=3, page_size=10, now=NOW)
    match = FOOTER.fullmatch(page.footer())
    assert match, page.footer()
    assert match.groups() == ("21", "30", str(len(w.recs)), "3", "8")
    assert page.elapsed >= 0


# --- masked and revealed PINs --------------------------------------------------------------

MASK = re.compile(r"(?:•{4} )+\d{4}")


def reveal_events():
    return list(AuditEvent.select().where(AuditEvent.action == "reveal-pins").order_by(AuditEvent.id))


def test_pins_are_masked_by_default(w):
    before = AuditEvent.select().count()
    page = find(w)
    for row in page.rows:
        pin = w.by_serial[row.serial].pin
        assert MASK.fullmatch(row.pin), row.pin
        assert row.pin == mask_pin(pin) and row.pin.endswith(pin[-4:])
        assert pin[:-4] not in row.pin.replace(" ", "")
    assert {len(r.pin) for r in page.rows} == {19, 14}  # 16 and 12 digits, grouped by 4
    assert mask_pin("4524282938543854") == "•••• •••• •••• 3854"
    for row in iter_cards(w.store, now=NOW):
        assert MASK.fullmatch(row.pin)
    for detail in lookup(w.store, w.serial("b1"), now=NOW):
        assert MASK.fullmatch(detail.card.pin)
        assert MASK.fullmatch(detail.as_dict()["pin"])
    assert AuditEvent.select().count() == before  # a masked read audits nothing


def test_reveal_is_audited_and_in_the_card_history(w):
    flt = build_filter(series="202")
    before = reveal_events()
    page = search_cards(w.store, flt, page_size=10, sort=("serial", False), reveal=True, now=NOW)
    assert len(page.rows) == 10
    for row in page.rows:
        assert row.pin == group_pin(w.by_serial[row.serial].pin)
    after = reveal_events()
    assert len(after) == len(before) + 1
    event = after[-1]
    details = json.loads(event.details)
    assert details["serials"] == [r.serial for r in page.rows]
    assert event.count == 10 and event.actor == "tester"
    assert event.target == "10 cards"
    assert set(CardEvent.select(CardEvent.card_id).where(CardEvent.event_id == event.id).tuples()) == {
        (r.id,) for r in page.rows
    }
    for row in page.rows[:3]:
        history = lookup(w.store, row.serial, now=NOW)[0].history
        assert "reveal-pins" in [h.action for h in history]
    # A card that was not on the revealed page has no reveal of its own in its history.
    other = w.serial("b6")
    history = lookup(w.store, other, now=NOW)[0].history
    assert "reveal-pins" not in [h.action for h in history]


def test_reveal_nothing_audits_nothing(w):
    before = len(reveal_events())
    page = search_cards(w.store, build_filter(series="999"), reveal=True, now=NOW)
    assert page.rows == []
    assert len(reveal_events()) == before


def test_streamed_reveal_is_audited_per_chunk(w):
    flt = build_filter(series="101")
    before = len(reveal_events())
    rows = list(iter_cards(w.store, flt, sort=("serial", False), reveal=True, now=NOW, chunk=20))
    assert len(rows) == 45
    assert all(r.pin == group_pin(w.by_serial[r.serial].pin) for r in rows)
    events = reveal_events()[before:]
    assert [e.count for e in events] == [20, 20, 5]
    named = [s for e in events for s in json.loads(e.details)["serials"]]
    assert named == [r.serial for r in rows]


def test_lookup_reveal_is_audited(w):
    rec = w.by_serial[w.serial("b5", 4)]
    before = len(reveal_events())
    found = lookup(w.store, rec.serial, reveal=True, now=NOW)
    assert found[0].card.pin == group_pin(rec.pin)
    events = reveal_events()[before:]
    assert len(events) == 1 and json.loads(events[0].details)["serials"] == [rec.serial]
    assert "reveal-pins" in [h.action for h in lookup(w.store, rec.serial, now=NOW)[0].history]


# --- lookup --------------------------------------------------------------------------------

def test_lookup_by_serial_and_pin(w):
    rec = w.by_serial["101-000000042"]
    result = w.batch("b2")
    assert rec.batch == result.batch_id and rec.client == "Yan Market"
    spaced = group_pin(rec.pin)
    for text, how in (
        ("101-000000042", "serial"), ("101-42", "serial"), (" 101-42\n", "serial"),
        (rec.pin, "pin"), (spaced, "pin"), (spaced.replace(" ", "-"), "pin"),
    ):
        found = lookup(w.store, text, now=NOW)
        assert len(found) == 1, text
        detail = found[0]
        assert detail.matched_by == how
        card = detail.card
        assert (card.id, card.serial, card.status, card.amount, card.currency) == (
            rec.id, rec.serial, "activated", 2550, "USD")
        assert (card.reseller, card.activated_by, card.activated_at) == ("Bravo", "Yan Market", rec.activated_at)
        assert detail.batch["id"] == result.batch_id
        assert detail.batch["first_serial"] == "101-000000031"
        assert detail.batch["last_serial"] == "101-000000045"
        assert detail.batch["quantity"] == 15 and detail.batch["series"] == "101"
        assert detail.batch["amount"] == "25.50 USD"
        assert detail.batch["created_by"] == "tester"
        generated = [h for h in detail.history if h.action == "generate"]
        assert len(generated) == 1 and generated[0].target == f"batch {result.batch_id}"
        assert generated[0].count == 15
        out = detail.as_dict()
        assert out["serial"] == rec.serial and out["batch"]["id"] == result.batch_id
        assert "generate" in [h["action"] for h in out["history"]]
        json.dumps(out)


def test_lookup_of_a_new_card_and_an_expired_one(w):
    new = w.by_serial[w.serial("b6", 1)]
    detail = lookup(w.store, new.serial, now=NOW)[0]
    assert (detail.card.status, detail.card.amount_text, detail.card.activated_by) == ("new", "1,000 JPY", None)
    expired = w.by_serial[w.serial("b4", 1)]
    assert lookup(w.store, group_pin(expired.pin), now=NOW)[0].card.status == "expired"


def test_lookup_unknown_is_empty(w):
    assert lookup(w.store, "101-999", now=NOW) == []
    assert lookup(w.store, "ZZZ-000000001", now=NOW) == []
    pin = "9" * 16
    assert all(r.pin != pin for r in w.recs)
    assert lookup(w.store, pin, now=NOW) == []
    assert lookup(w.store, "9999 9999 9999 9999", now=NOW) == []


@pytest.mark.parametrize("text", ["hello", "", "   ", "1234", "١٢٣٤٥٦٧", "101 -42x"])
def test_lookup_garbage_is_bad_input(w, text):
    with pytest.raises(InputError) as exc:
        lookup(w.store, text, now=NOW)
    assert exc.value.field == "lookup"
