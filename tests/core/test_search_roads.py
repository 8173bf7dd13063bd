"""The two roads to a page's ids give the same page.

`search_cards` finds a page either by probing the top of the sort order (when the COUNT shows
many matches) or through the filter's index and a sort. The dataset of tests/card_data.py is far
below the probe threshold, so here the thresholds are lowered to force each road, and every
page of several filters, in every sort order, is compared with the slice of a list sorted in
Python.
"""

from __future__ import annotations

import pytest

from tests.card_data import expected_sorted, module_store, records
from tests.conftest import NOW
from topup_tui.core import search
from topup_tui.core.filters import build_filter
from topup_tui.core.models import db
from topup_tui.core.search import SORT_COLUMNS, search_cards


FILTERS = {
    "none": ({}, lambda r: True),
    "status new": ({"status": "new"}, lambda r: r.status(NOW) == "new"),
    "status expired": ({"status": "expired"}, lambda r: r.status(NOW) == "expired"),
    "status activated": ({"status": "activated"}, lambda r: r.activated_at is not None),
    "series": ({"series": "101"}, lambda r: r.series == "101"),
    "reseller": ({"reseller": "Alpha"}, lambda r: r.reseller == "Alpha"),
    "amount range": ({"amount_min": "10", "amount_max": "100"}, lambda r: 1000 <= r.amount <= 10000),
    "new and reseller": ({"status": "new", "reseller": "Bravo"},
                         lambda r: r.status(NOW) == "new" and r.reseller == "Bravo"),
    "nothing": ({"series": "999"}, lambda r: False),
    # The anchors: a series with an amount range (groups of series and amount), one amount
    # (the series that have it), a company with a created range and an amount floor.
    "series and amounts": ({"series": "101", "amount_min": "10", "amount_max": "30"},
                           lambda r: r.series == "101" and 1000 <= r.amount <= 3000),
    "one amount": ({"amount_min": "10.50", "amount_max": "10.50"}, lambda r: r.amount == 1050),
    "reseller, created, amount": ({"reseller": "Alpha", "created_from": "2026-01-01", "amount_min": "50"},
                                  lambda r: r.reseller == "Alpha" and r.amount >= 5000
                                  and r.created_at.year >= 2026),
}

ROADS = {
    # Probe whenever possible, from a window of 1 row growing by 2, with no budget limit.
    "probe": dict(PROBE_FIRST=1, PROBE_GROWTH=2, PROBE_BUDGET=10**6),
    # Never probe: the filter's index and a sort.
    "filter index": dict(PROBE_FIRST=10**9),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    with module_store(request.param, tmp_path_factory.mktemp("roads")) as (_url, _key, store, _data):
        yield request.param, store, records(store)


@pytest.fixture
def bound(world):
    backend, store, recs = world
    db.initialize(store.database)
    store.database.connect(reuse_if_open=True)
    return backend, store, recs


def expected_ids(backend, recs, column, descending):
    return [r.id for r in expected_sorted(recs, column, descending, NOW)]


@pytest.mark.parametrize("road", list(ROADS))
@pytest.mark.parametrize("case", list(FILTERS))
def test_every_page_in_every_order(bound, monkeypatch, road, case):
    backend, store, recs = bound
    for name, value in ROADS[road].items():
        monkeypatch.setattr(search, name, value)
    fields, pred = FILTERS[case]
    flt = build_filter(**fields)
    matching = [r for r in recs if pred(r)]
    assert matching or case == "nothing", "a filter that matches nothing proves little"
    size = 10
    for column in SORT_COLUMNS:
        for descending in (False, True):
            full = expected_ids(backend, matching, column, descending)
            pages = max(1, -(-len(full) // size))
            for number in range(1, pages + 1):
                page = search_cards(store, flt, page=number, page_size=size, sort=(column, descending), now=NOW)
                assert page.total == len(full)
                assert [r.id for r in page.rows] == full[(number - 1) * size : number * size], (
                    f"{column} {'desc' if descending else 'asc'} page {number}"
                )
