"""PINs never reach the database file in clear; exporting is the one way out, private and audited."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from pathlib import Path

import pytest

from tests.conftest import LATER, NOW
from topup_tui.core.database import open_store
from topup_tui.core.errors import InputError
from topup_tui.core.export import CSV_HEADER, export_batch
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import AuditEvent
from topup_tui.core.pins import group_pin, normalize_pin
from topup_tui.core.times import format_time


def request(quantity: int, **overrides):
    fields = dict(
        amount="15.5", currency="USD", quantity=quantity, series="101", pin_length=16,
        reseller=None, expires=format_time(LATER), now=NOW,
    )
    fields.update(overrides)
    return build_request(**fields)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="ascii") as handle:
        return list(csv.reader(handle))


def test_no_pin_in_the_database_files(tmp_path, key_path):
    db = tmp_path / "topup.db"
    store = open_store(str(db), key_path=key_path, actor="tester")
    result = generate_cards(store, request(2_000), now=NOW, chunk_size=500)
    out = tmp_path / "cards.csv"
    assert export_batch(store, result.batch_id, out) == 2_000
    pins = [normalize_pin(row[1]) for row in read_csv(out)[1:]]
    assert len(set(pins)) == 2_000

    def files_bytes() -> dict[str, bytes]:
        found = {}
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = Path(f"{db}{suffix}")
            if path.exists():
                found[path.name] = path.read_bytes()
        return found

    while_open = files_bytes()
    assert "topup.db-wal" in while_open and len(while_open["topup.db-wal"]) > 0  # the batch is in the WAL
    store.close()
    after_close = files_bytes()
    assert sum(len(b) for b in after_close.values()) > 2_000 * 16  # the cards are in there, somehow
    wanted = set(pins)
    # the scanner finds PINs where they are: the export holds every one, grouped
    assert digit_strings(out.read_bytes(), 16) >= wanted
    for label, snapshot in (("open", while_open), ("closed", after_close)):
        for name, data in snapshot.items():
            assert not digit_strings(data, 16) & wanted, f"a PIN in {name} ({label})"


def digit_strings(data: bytes, length: int) -> set[str]:
    """Every `length`-digit string in `data`: bare (inside any longer run of digits), grouped by
    4 with spaces or dashes, or as UTF-16."""
    found: set[str] = set()
    runs = [m.group() for m in re.finditer(rb"[0-9]{%d,}" % length, data)]
    runs += [re.sub(rb"[ -]", b"", m.group()) for m in re.finditer(rb"[0-9]{4}(?:[ -][0-9]{1,4})+", data)]
    runs += [m.group()[::2] for m in re.finditer(rb"(?:[0-9]\x00){%d,}" % length, data)]
    for run in runs:
        text = run.decode("ascii")
        found.update(text[i : i + length] for i in range(len(text) - length + 1))
    return found


def test_export_file_is_private_complete_and_audited(store, tmp_path):
    result = generate_cards(store, request(25, expires="2027-07-16"), now=NOW, chunk_size=10)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "cards.csv"
    old = os.umask(0)
    try:
        count = export_batch(store, result.batch_id, out)
    finally:
        os.umask(old)
    assert count == 25
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = read_csv(out)
    assert rows[0] == CSV_HEADER == ["serial", "pin", "amount", "currency", "expires"]
    assert len(rows) == 26
    assert [r[0] for r in rows[1:]] == [f"101-{n:09d}" for n in range(1, 26)]
    for serial, pin, amount, currency, expires in rows[1:]:
        assert len(pin) == 19 and pin.count(" ") == 3  # grouped 4 4 4 4
        assert group_pin(normalize_pin(pin)) == pin
        assert (amount, currency, expires) == ("15.50", "USD", "2027-07-16 23:59:59+0000")
    assert [p.name for p in out.parent.iterdir()] == ["cards.csv"]  # no temporary file left
    event = AuditEvent.get(AuditEvent.action == "export")
    assert event.target == f"batch {result.batch_id}"
    assert event.count == 25
    assert json.loads(event.details)["path"] == str(out.resolve())
    assert event.actor == "tester"
    for row in rows[1:]:
        assert normalize_pin(row[1]) not in event.details


def test_export_refuses_an_existing_destination(store, tmp_path):
    result = generate_cards(store, request(3), now=NOW)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "cards.csv"
    out.write_text("precious\n")
    before = AuditEvent.select().count()
    with pytest.raises(InputError) as info:
        export_batch(store, result.batch_id, out)
    assert info.value.field == "export"
    assert "already exists" in info.value.message
    assert out.read_text() == "precious\n"
    assert AuditEvent.select().count() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["cards.csv"]


def test_export_unknown_batch_and_missing_directory(store, tmp_path):
    result = generate_cards(store, request(1), now=NOW)
    with pytest.raises(InputError) as info:
        export_batch(store, result.batch_id + 100, tmp_path / "x.csv")
    assert info.value.field == "batch"
    with pytest.raises(InputError) as info:
        export_batch(store, result.batch_id, tmp_path / "missing" / "x.csv")
    assert info.value.field == "export"
    assert not (tmp_path / "x.csv").exists()
    assert AuditEvent.select().where(AuditEvent.action == "export").count() == 0


def test_jpy_amounts_are_exported_without_decimals(store, tmp_path):
    result = generate_cards(store, request(2, amount="500", currency="JPY"), now=NOW)
    out = tmp_path / "jpy.csv"
    export_batch(store, result.batch_id, out)
    assert {(r[2], r[3]) for r in read_csv(out)[1:]} == {("500", "JPY")}
