"""A generation killed mid-write leaves no card, no batch, no used serial, and a sound database."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import CLI, NOW
from topup_tui.core.database import open_store
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import AuditEvent, Batch, Card, Series
from topup_tui.core.resellers import add_reseller

QUANTITY = 500_000  # far more than can be written before the kill; only the first part is
WAL_BYTES = 1 << 20  # the batch's pages are spilling into the WAL: it is writing
DEADLINE_S = 60


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
def test_killed_generation_leaves_nothing(tmp_path, key_path, sig):
    db = tmp_path / "topup.db"
    wal = Path(f"{db}-wal")
    store = open_store(str(db), key_path=key_path, actor="tester")
    add_reseller(store, "Acme")
    audit_before = AuditEvent.select().count()
    store.close()

    proc = subprocess.Popen(
        [*CLI, "--db", str(db), "generate", "--amount", "5", "--currency", "USD", "--quantity", str(QUANTITY),
         "--series", "101", "--reseller", "Acme", "--expires", "2099-12-31"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ},
    )
    try:
        deadline = time.monotonic() + DEADLINE_S
        size = 0
        while time.monotonic() < deadline and proc.poll() is None:
            size = wal.stat().st_size if wal.exists() else 0
            if size > WAL_BYTES:
                break
            time.sleep(0.002)  # polling a file's size; nothing to wait on instead
        assert proc.poll() is None, f"the generation ended (rc {proc.returncode}) before it could be killed"
        assert size > WAL_BYTES, "the generation never started writing"
        proc.send_signal(sig)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -sig

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM card").fetchone() == (0,)
    finally:
        conn.close()

    store = open_store(str(db), key_path=key_path, actor="tester")
    try:
        assert Card.select().count() == 0
        assert Batch.select().count() == 0
        assert Series.select().count() == 0
        assert AuditEvent.select().count() == audit_before
        # the serials it had reserved were never committed: the next batch starts at 1
        request = build_request(
            amount="5", currency="USD", quantity=3, series="101", pin_length=16, reseller="Acme",
            expires="2099-12-31", now=NOW,
        )
        assert generate_cards(store, request, now=NOW).first_number == 1
        assert store.database.execute_sql("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        store.close()
