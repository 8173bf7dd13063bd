"""Two operators generating in the same series at the same moment get disjoint serial ranges."""

from __future__ import annotations

import json

from tests.conftest import release, start_gated_cli
from topup_tui.core.database import open_store
from topup_tui.core.models import Batch, Card, Series
from topup_tui.core.resellers import add_reseller

QUANTITIES = (12_000, 9_000)


def serial_number(serial: str) -> int:
    series, number = serial.split("-")
    assert series == "101"
    return int(number)


def test_concurrent_batches_get_disjoint_contiguous_ranges(db_url, key_path):
    store = open_store(db_url, key_path=key_path, actor="tester")
    add_reseller(store, "Acme")
    store.close()

    procs = [
        start_gated_cli(
            "--db", db_url, "generate", "--amount", "10", "--currency", "USD", "--quantity", str(quantity),
            "--series", "101", "--reseller", "Acme", "--expires", "2099-12-31", "--json",
        )
        for quantity in QUANTITIES
    ]
    try:
        for proc in procs:
            release(proc)
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    summaries = [json.loads(out) for out, _ in outputs]
    ranges = sorted(
        (serial_number(s["first_serial"]), serial_number(s["last_serial"]), s["count"]) for s in summaries
    )
    assert sorted(r[2] for r in ranges) == sorted(QUANTITIES)
    for first, last, count in ranges:
        assert last - first + 1 == count
    (a_first, a_last, _), (b_first, b_last, _) = ranges
    assert a_first == 1
    assert b_first == a_last + 1  # disjoint, and together contiguous
    assert b_last == sum(QUANTITIES)

    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        assert Card.select().count() == sum(QUANTITIES)
        numbers = {n for (n,) in Card.select(Card.number).where(Card.series == "101").tuples()}
        assert numbers == set(range(1, sum(QUANTITIES) + 1))
        assert Batch.select().count() == 2
        assert Series.get_by_id("101").next_number == sum(QUANTITIES) + 1
        for summary in summaries:
            batch = Batch.get_by_id(summary["batch_id"])
            assert Card.select().where(Card.batch == batch).count() == summary["count"]
            assert batch.first_number == serial_number(summary["first_serial"])
    finally:
        store.close()
