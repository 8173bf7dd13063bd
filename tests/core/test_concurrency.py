"""Concurrent generations in one process (as the TUI's worker threads would run them).

Each thread has its own connection (peewee keeps connections per thread). A batch that is
generating holds off any other generation until it commits, so two batches can never both pass
the weak-PIN check on counts that ignore each other.
"""

from __future__ import annotations

import threading

import pytest

from tests.conftest import NOW
from topup_tui.core.errors import DatabaseError, Refused
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import Batch, Card


def five_digit_request(series: str, quantity: int = 60):
    return build_request(
        amount="1", currency="USD", quantity=quantity, series=series, pin_length=5,
        reseller=None, expires="2099-12-31", now=NOW,
    )


def in_thread(store, work, *, short_wait: bool = False):
    """Run `work()` on a new thread with its own connection; returns (result, exception)."""
    outcome: dict = {}

    def target():
        try:
            store.database.connect(reuse_if_open=True)
            if short_wait:  # give up waiting for another writer's lock almost at once
                if store.is_sqlite:
                    store.database.execute_sql("PRAGMA busy_timeout = 50")
                else:
                    store.database.execute_sql("SET lock_timeout = '50ms'")
            outcome["result"] = work()
        except BaseException as exc:  # noqa: BLE001
            outcome["error"] = exc
        finally:
            store.database.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_a_generation_in_progress_holds_off_another_until_it_commits(store):
    paused, resume = threading.Event(), threading.Event()

    def progress(done, total):
        if done == 30:
            paused.set()
            assert resume.wait(30)

    first, first_out = in_thread(
        store, lambda: generate_cards(store, five_digit_request("A"), now=NOW, progress=progress, chunk_size=10)
    )
    try:
        assert paused.wait(30), first_out
        # half of batch A is written, uncommitted: batch B (another series) cannot get in
        second, second_out = in_thread(
            store, lambda: generate_cards(store, five_digit_request("B"), now=NOW), short_wait=True
        )
        second.join(30)
        assert "result" not in second_out, "a second batch committed while the first was generating"
        assert isinstance(second_out["error"], DatabaseError), second_out
    finally:
        resume.set()
        first.join(30)
    assert first_out.get("result") is not None, first_out
    assert first_out["result"].count == 60
    # now B sees A's 60 live cards: 120 would cross the guessing limit
    with pytest.raises(Refused) as info:
        generate_cards(store, five_digit_request("B"), now=NOW)
    assert info.value.code == "weak-pins"
    assert "120 live 5-digit cards" in str(info.value)
    assert Card.select().count() == 60
    assert Batch.select().count() == 1


def test_threads_generating_in_one_series_get_disjoint_ranges(store):
    request = build_request(
        amount="1", currency="USD", quantity=700, series="101", pin_length=16, reseller=None,
        expires="2099-12-31", now=NOW,
    )
    runs = [in_thread(store, lambda: generate_cards(store, request, now=NOW, chunk_size=100)) for _ in range(3)]
    for thread, _ in runs:
        thread.join(60)
    results = [out.get("result") for _, out in runs]
    assert all(r is not None for r in results), [out.get("error") for _, out in runs]
    ranges = sorted((r.first_number, r.last_number) for r in results)
    assert ranges == [(1, 700), (701, 1400), (1401, 2100)]
    assert Card.select().count() == 2100
