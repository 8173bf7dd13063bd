"""Benchmark: sequential redemptions through the core vs. raw sqlite3 doing the same writes.

    .venv/bin/python bench/bench_redeem.py [--redemptions 10000] [--repeat 3] [--chunk 250] [--tmpdir DIR]

Setup (untimed, once): a SQLite store made through the core (`open_store`, `add_client` of a USD
client without reseller, `generate_cards` of N cards of 1.00 USD with 16-digit PINs expiring in
2099); the PINs are read back by decrypting every card's `pin_ct` with the store's key and
shuffled (fixed seed). The closed database file is the template; each pass gives each side its
own fresh copy of it, so both start from byte-identical databases.

  core  `open_store` on its copy (untimed), then `redeem(store, CLIENT, pin)` per PIN (timed).
        Each is one transaction: client lookup by name and lock check, the conditional UPDATE
        of the card, the ledger entry, the balance update and the audit event.
  raw   `sqlite3.connect` on its copy, autocommit (isolation_level=None), with the core's own
        pragmas (`SQLITE_PRAGMAS`: WAL, synchronous=FULL, foreign_keys, busy_timeout, cache_size,
        temp_store); the client's id and currency are looked up once (untimed). Per PIN (timed):
        strip spaces/dashes, encrypt the PIN with AES-SIV under the same key (a PIN must be
        encrypted to be looked up, so the raw side pays for that too: no precomputed
        ciphertexts), `BEGIN IMMEDIATE`, `UPDATE card SET activated_at, activated_by_id WHERE
        pin_ct = ? AND activated_at IS NULL AND expires_at > ? AND currency = ? RETURNING id,
        amount, currency`, `INSERT` the ledger entry, `UPDATE` the client's balance, `COMMIT`.
        No client lookup, no audit event: that is the core's extra work (a few more pages per
        commit) and part of its time.
  raw+audit  (diagnostic, not part of the verdict) raw sqlite3 doing all the core writes: the
        client lookup by name and lock check, the same UPDATE, ledger and balance, plus the audit
        event. It splits the gap: raw+audit/raw is the cost of the extra
        writes, core/raw+audit the cost of the core's own code.

The sides run in this one process and take turns of `--chunk` redemptions (the order rotating
and reversing from turn to turn), so that all meet the same machine (other load, disk flushes)
at the same time.
A pass is N redemptions per side; the verdict is the median over `--repeat` passes of
core time / raw time. Target: <= 1.5. Each side must credit every card exactly once.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.5
CLIENT = "Bench Client"
SERIES = "101"
EXPIRES = "2099-12-31"
AMOUNT = "1"  # 100 minor units each


def build_template(workdir: Path, count: int) -> tuple[Path, Path, list[str]]:
    from topup_tui.core.clients import add_client
    from topup_tui.core.database import open_store
    from topup_tui.core.generate import build_request, generate_cards
    from topup_tui.core.models import Card

    db_path, key_path = workdir / "template.db", workdir / "bench.key"
    store = open_store(str(db_path), key_path=key_path, actor="bench")
    try:
        add_client(store, CLIENT, "USD")
        request = build_request(amount=AMOUNT, currency="USD", quantity=count, series=SERIES, pin_length=16,
                                reseller=None, expires=EXPIRES)
        generate_cards(store, request)
        decrypt = store.key.decrypt
        pins = [decrypt(ct) for (ct,) in Card.select(Card.pin_ct).order_by(Card.id).tuples()]
    finally:
        store.close()  # the last connection: SQLite checkpoints the WAL into the file
    assert len(pins) == count
    random.Random(20260601).shuffle(pins)
    return db_path, key_path, pins


def copy_db(template: Path, dest: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{template}{suffix}")
        if src.exists():
            shutil.copyfile(src, f"{dest}{suffix}")
    return dest


class CoreSide:
    """The core: `open_store` (untimed), then `redeem(store, CLIENT, pin)` per PIN."""

    name = "core"

    def __init__(self, db_path: Path, key_path: Path) -> None:
        from topup_tui.core.database import open_store
        from topup_tui.core.redeem import redeem

        self.store = open_store(str(db_path), key_path=key_path, actor="bench")
        self._redeem = redeem

    def run(self, pins: list[str]) -> None:
        store, redeem = self.store, self._redeem
        for pin in pins:
            redeem(store, CLIENT, pin)

    def finish(self, count: int) -> None:
        from topup_tui.core.models import AuditEvent, Client, LedgerEntry

        try:
            assert LedgerEntry.select().count() == count
            assert AuditEvent.select().where(AuditEvent.action == "redeem").count() == count
            assert Client.get(Client.name == CLIENT).balance == 100 * count
        finally:
            self.store.close()


class RawSide:
    """Plain sqlite3 with the core's pragmas: encrypt, BEGIN IMMEDIATE, UPDATE, INSERT, UPDATE, COMMIT."""

    name = "raw"

    def __init__(self, db_path: Path, key_path: Path) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESSIV

        from topup_tui.core.database import SQLITE_PRAGMAS

        self.siv = AESSIV(_raw_key_bytes(key_path))
        self.conn = sqlite3.connect(str(db_path), isolation_level=None, timeout=30)
        for name, value in SQLITE_PRAGMAS.items():
            self.conn.execute(f"PRAGMA {name} = {value}")
        self.client_id, self.currency = self.conn.execute(
            "SELECT id, currency FROM client WHERE name = ?", (CLIENT,)
        ).fetchone()

    def run(self, pins: list[str]) -> None:
        execute, encrypt = self.conn.execute, self.siv.encrypt
        client_id, currency = self.client_id, self.currency
        for text in pins:
            pin = "".join(ch for ch in text.strip() if ch not in " -\t")
            ct = encrypt(pin.encode("ascii"), None)
            now = int(time.time())
            execute("BEGIN IMMEDIATE")
            try:
                row = execute(
                    "UPDATE card SET activated_at = ?, activated_by_id = ? WHERE pin_ct = ? AND activated_at IS NULL"
                    " AND expires_at > ? AND currency = ? RETURNING id, amount, currency",
                    (now, client_id, ct, now, currency),
                ).fetchone()
                if row is not None:
                    card_id, amount, card_currency = row
                    execute("INSERT INTO ledger_entry (client_id, card_id, amount, currency, at) VALUES (?, ?, ?, ?, ?)",
                            (client_id, card_id, amount, card_currency, now))
                    execute("UPDATE client SET balance = balance + ? WHERE id = ?", (amount, client_id))
                execute("COMMIT")
            except BaseException:
                execute("ROLLBACK")
                raise

    def finish(self, count: int) -> None:
        try:
            execute = self.conn.execute
            assert execute("SELECT count(*) FROM ledger_entry").fetchone()[0] == count
            assert execute("SELECT balance FROM client WHERE id = ?", (self.client_id,)).fetchone()[0] == 100 * count
        finally:
            self.conn.close()


class RawFullSide(RawSide):
    """Diagnostic only: raw sqlite3 doing everything the core writes (client lookup by name, lock
    check, conditional UPDATE, ledger, balance, audit event); the gap between it
    and the core is the core's own overhead, the gap between it and `raw` is the extra work."""

    name = "raw+audit"

    def run(self, pins: list[str]) -> None:
        import json

        execute, encrypt = self.conn.execute, self.siv.encrypt
        for text in pins:
            pin = "".join(ch for ch in text.strip() if ch not in " -\t")
            ct = encrypt(pin.encode("ascii"), None)
            now = int(time.time())
            execute("BEGIN IMMEDIATE")
            try:
                client_id, name, currency, _reseller, locked_until = execute(
                    "SELECT id, name, currency, reseller_id, locked_until FROM client WHERE name = ?", (CLIENT,)
                ).fetchone()
                assert locked_until is None or locked_until <= now
                row = execute(
                    "UPDATE card SET activated_at = ?, activated_by_id = ? WHERE pin_ct = ? AND activated_at IS NULL"
                    " AND expires_at > ? AND currency = ? RETURNING id, series, number, amount, currency",
                    (now, client_id, ct, now, currency),
                ).fetchone()
                if row is not None:
                    card_id, series, number, amount, card_currency = row
                    execute("INSERT INTO ledger_entry (client_id, card_id, amount, currency, at) VALUES (?, ?, ?, ?, ?)",
                            (client_id, card_id, amount, card_currency, now))
                    execute("UPDATE client SET balance = balance + ? WHERE id = ? RETURNING balance",
                            (amount, client_id)).fetchone()
                    details = json.dumps({"amount": amount, "client": name, "currency": card_currency,
                                          "serial": f"{series}-{number:09d}"})
                    execute(
                        "INSERT INTO audit_event (at, actor, action, target, count, details) VALUES (?, ?, ?, ?, ?, ?)",
                        (now, "bench", "redeem", f"card {card_id}", 1, details),
                    )
                execute("COMMIT")
            except BaseException:
                execute("ROLLBACK")
                raise


def one_pass(template: Path, key_path: Path, pins: list[str], chunk: int, workdir: Path) -> dict[str, dict]:
    """Both sides over all PINs, each on its own copy, interleaved chunk by chunk (core, raw, raw,
    core, ...) so that both meet the same machine (other load, disk flushes) at the same time."""
    sides = [CoreSide(copy_db(template, workdir / "core.db"), key_path),
             RawSide(copy_db(template, workdir / "raw.db"), key_path),
             RawFullSide(copy_db(template, workdir / "rawfull.db"), key_path)]
    spent = {side.name: {"seconds": 0.0, "cpu": 0.0} for side in sides}
    try:
        for i, start in enumerate(range(0, len(pins), chunk)):
            part = pins[start:start + chunk]
            turn = sides[i % 3:] + sides[:i % 3]
            for side in (turn if i % 2 == 0 else turn[::-1]):
                cpu, wall = time.process_time(), time.perf_counter()
                side.run(part)
                spent[side.name]["seconds"] += time.perf_counter() - wall
                spent[side.name]["cpu"] += time.process_time() - cpu
    finally:
        for side in sides:
            side.finish(len(pins))
        for name in ("core.db", "raw.db", "rawfull.db"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{workdir / name}{suffix}").unlink(missing_ok=True)
    return spent


def _raw_key_bytes(key_path: Path) -> bytes:
    """The 64 key bytes of the key file (the core's PinKey keeps only its cipher object)."""
    import base64

    text = key_path.read_text(encoding="ascii")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("topup-tui")]
    return base64.b64decode("".join(lines), validate=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redemptions", type=int, default=10_000, help="redemptions per pass (default 10,000)")
    parser.add_argument("--repeat", type=int, default=3, help="passes, each on fresh copies (default 3)")
    parser.add_argument("--chunk", type=int, default=250, help="redemptions per turn of a side (default 250)")
    parser.add_argument("--tmpdir", default=None, help="where the databases go (default: the system temp dir)")
    args = parser.parse_args()

    n = args.redemptions
    base = Path(tempfile.mkdtemp(prefix="bench-redeem-", dir=args.tmpdir))
    passes = []
    try:
        t0 = time.perf_counter()
        template, key_path, pins = build_template(base, n)
        print(f"{n:,} sequential redemptions per side per pass, {args.repeat} pass(es), turns of {args.chunk}, "
              f"in {base} (setup {time.perf_counter() - t0:.1f} s)", flush=True)
        for i in range(args.repeat):
            spent = one_pass(template, key_path, pins, args.chunk, base)
            passes.append(spent)
            core, raw = spent["core"], spent["raw"]
            print(f"  pass {i + 1}: ratio core/raw {core['seconds'] / raw['seconds']:.2f}", flush=True)
            for name, side in spent.items():
                print(f"    {name:9} {side['seconds']:6.2f} s  {n / side['seconds']:7,.0f} redemptions/s  "
                      f"(CPU {side['cpu']:5.2f} s)", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    ratios = [p["core"]["seconds"] / p["raw"]["seconds"] for p in passes]
    core_best = min(p["core"]["seconds"] for p in passes)
    raw_best = min(p["raw"]["seconds"] for p in passes)
    ratio = statistics.median(ratios)
    ok = ratio <= TARGET_RATIO
    print()
    print(f"  core (best pass)  {core_best:7.2f} s  {n / core_best:8,.0f} redemptions/s")
    print(f"  raw  (best pass)  {raw_best:7.2f} s  {n / raw_best:8,.0f} redemptions/s")
    print(f"  ratio core/raw, median of passes {ratio:5.2f}  (target <= {TARGET_RATIO})  {'PASS' if ok else 'FAIL'}")
    print(f"  ratio of best passes             {core_best / raw_best:5.2f}")
    cpu_ratio = sum(p["core"]["cpu"] for p in passes) / sum(p["raw"]["cpu"] for p in passes)
    print(f"  CPU ratio core/raw (diagnostic)  {cpu_ratio:5.2f}")
    full = statistics.median(p["raw+audit"]["seconds"] / p["raw"]["seconds"] for p in passes)
    own = statistics.median(p["core"]["seconds"] / p["raw+audit"]["seconds"] for p in passes)
    print(f"  diagnostic: raw+audit/raw {full:5.2f} (the extra writes), core/raw+audit {own:5.2f} (the core's own cost)")
    print()
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
