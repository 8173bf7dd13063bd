"""Benchmark: generating cards through the core vs. the best a plain design can do.

    .venv/bin/python bench/bench_generate.py [--cards 1000000] [--repeat 3]

Each run has two sides, each in its own fresh subprocess so that its peak RSS is its own:

  core  `open_store` + `add_reseller` (untimed), then `generate_cards` for N cards of 16-digit
        PINs (timed): AES-SIV PIN ciphertexts, one transaction, ON CONFLICT + redraw.
  raw   a plain sqlite3 database with our SQLITE_PRAGMAS and our schema, except that the card's
        PIN is a plaintext TEXT column (same unique index, same other indexes and foreign keys);
        N PINs drawn with `secrets.randbelow(10**16)` and zero-padded, inserted with one
        `executemany` in one transaction (timed: drawing, inserting and committing).

The sides alternate (core, raw, raw, core, ...) `--repeat` times to even out a noisy machine;
the summary uses each side's best time. Targets: core/raw <= 1.3, core peak RSS <= 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.3
TARGET_RSS_MB = 200.0
PIN_LENGTH = 16
SERIES = "101"
EXPIRES = "2030-12-31"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- children ---------------------------------------------------------------------------------


def child_core(workdir: Path, cards: int) -> dict:
    from topup_tui.core.database import open_store
    from topup_tui.core.generate import build_request, generate_cards
    from topup_tui.core.resellers import add_reseller

    store = open_store(str(workdir / "core.db"), key_path=workdir / "core.key", actor="bench")
    try:
        add_reseller(store, "Bench Reseller")
        request = build_request(
            amount="15", currency="USD", quantity=cards, series=SERIES, pin_length=PIN_LENGTH,
            reseller="Bench Reseller", expires=EXPIRES,
        )
        rss_before = _peak_rss_mb()
        cpu = time.process_time()
        start = time.perf_counter()
        result = generate_cards(store, request)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        assert result.count == cards, result
        count = store.database.execute_sql("SELECT count(*) FROM card").fetchone()[0]
        assert count == cards, count
    finally:
        store.close()
    return {"seconds": elapsed, "cpu_seconds": cpu, "rss_mb": _peak_rss_mb(), "rss_before_mb": rss_before}


def child_schema(workdir: Path) -> dict:
    """Our pragmas, and our schema (read from a real store) with the card's PIN turned plaintext TEXT."""
    from topup_tui.core.database import SQLITE_PRAGMAS, open_store

    store = open_store(str(workdir / "schema.db"), key_path=workdir / "schema.key", actor="bench")
    try:
        rows = store.database.execute_sql(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type DESC, name"
        ).fetchall()  # tables before indexes
    finally:
        store.close()
    statements = []
    for (sql,) in rows:
        if '"pin_ct"' in sql:
            before = sql
            sql = sql.replace('"pin_ct" BLOB', '"pin" TEXT').replace('"card_pin_ct"', '"card_pin"')
            sql = sql.replace('("pin_ct")', '("pin")')
            assert sql != before and '"pin_ct"' not in sql, before
        statements.append(sql)
    return {"pragmas": SQLITE_PRAGMAS, "schema": statements}


def child_raw(workdir: Path, cards: int, pragmas: dict, schema: list[str]) -> dict:
    """Imports nothing of topup_tui: the parent hands over our pragmas and schema."""
    import secrets

    path = workdir / "raw.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    for name, value in pragmas.items():
        conn.execute(f"PRAGMA {name} = {value}")
    for sql in schema:
        conn.execute(sql)
    now = int(time.time())
    expires = int(time.mktime(time.strptime(EXPIRES + " 23:59:59", "%Y-%m-%d %H:%M:%S")))
    conn.execute("INSERT INTO reseller (id, name, created_at) VALUES (1, 'Bench Reseller', ?)", (now,))
    conn.execute(
        "INSERT INTO batch (id, created_at, created_by, series, first_number, quantity, amount, currency,"
        " pin_length, reseller_id, expires_at, allow_weak_pins) VALUES (1, ?, 'bench', ?, 1, ?, 1500, 'USD', ?, 1, ?, 0)",
        (now, SERIES, cards, PIN_LENGTH, expires),
    )
    sql = (
        "INSERT INTO card (batch_id, series, number, pin, pin_length, amount, currency, reseller_id,"
        " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    space = 10**PIN_LENGTH
    randbelow = secrets.randbelow

    rss_before = _peak_rss_mb()
    cpu = time.process_time()
    start = time.perf_counter()
    rows = (
        (1, SERIES, n, str(randbelow(space)).zfill(PIN_LENGTH), PIN_LENGTH, 1500, "USD", 1, expires, now)
        for n in range(1, cards + 1)
    )
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(sql, rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu

    count = conn.execute("SELECT count(*) FROM card").fetchone()[0]
    assert count == cards, count
    conn.close()
    return {"seconds": elapsed, "cpu_seconds": cpu, "rss_mb": _peak_rss_mb(), "rss_before_mb": rss_before}


# --- parent -----------------------------------------------------------------------------------


def run_side(side: str, cards: int, base: Path, schema_file: Path) -> dict:
    """Run one side in a fresh interpreter; its JSON answer is the last line of its output.

    Linux carries the parent's peak RSS over into a spawned child's ru_maxrss (the exec'd
    process inherits the old image's high-water mark), so the parent stays lean: it never
    imports topup_tui, and even the schema is read in a child.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=base))
    try:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", side, "--cards", str(cards),
               "--workdir", str(workdir), "--schema-file", str(schema_file)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"{side} child failed with exit code {proc.returncode}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=1_000_000, help="cards per run (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side, alternated (default 3)")
    parser.add_argument("--tmpdir", default=None, help="where the databases go (default: the system temp dir)")
    parser.add_argument("--child", choices=["core", "raw", "schema"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--schema-file", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        workdir = Path(args.workdir)
        if args.child == "core":
            out = child_core(workdir, args.cards)
        elif args.child == "schema":
            out = child_schema(workdir)
        else:
            setup = json.loads(Path(args.schema_file).read_text())
            out = child_raw(workdir, args.cards, setup["pragmas"], setup["schema"])
        print(json.dumps(out))
        return 0

    base = Path(tempfile.mkdtemp(prefix="bench-generate-", dir=args.tmpdir))
    try:
        schema_file = base / "schema.json"
        schema_file.write_text(json.dumps(run_side("schema", args.cards, base, schema_file)))
        print(f"{args.cards:,} cards, {PIN_LENGTH}-digit PINs, {args.repeat} run(s) per side, in {base}")
        results: dict[str, list[dict]] = {"core": [], "raw": []}
        for i in range(args.repeat):
            order = ("core", "raw") if i % 2 == 0 else ("raw", "core")
            for side in order:
                r = run_side(side, args.cards, base, schema_file)
                results[side].append(r)
                print(
                    f"  run {i + 1} {side:4}: {r['seconds']:7.2f} s (CPU {r['cpu_seconds']:6.2f} s)"
                    f"  peak RSS {r['rss_mb']:6.1f} MB",
                    flush=True,
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)

    core_t = [r["seconds"] for r in results["core"]]
    raw_t = [r["seconds"] for r in results["raw"]]
    core_best, raw_best = min(core_t), min(raw_t)
    ratio = core_best / raw_best
    median_ratio = statistics.median(core_t) / statistics.median(raw_t)
    core_rss = max(r["rss_mb"] for r in results["core"])
    raw_rss = max(r["rss_mb"] for r in results["raw"])
    ratio_ok = ratio <= TARGET_RATIO
    rss_ok = core_rss <= TARGET_RSS_MB

    print()
    print(f"  {'':22}{'value':>12}  {'target':>10}")
    print(f"  {'core time (best)':22}{core_best:10.2f} s")
    print(f"  {'raw time (best)':22}{raw_best:10.2f} s")
    print(f"  {'ratio core/raw':22}{ratio:12.2f}  {'<= ' + str(TARGET_RATIO):>10}  {'PASS' if ratio_ok else 'FAIL'}")
    print(f"  {'  (ratio of medians)':22}{median_ratio:12.2f}")
    print(f"  {'core peak RSS':22}{core_rss:9.1f} MB  {'<= ' + str(int(TARGET_RSS_MB)) + ' MB':>10}  "
          f"{'PASS' if rss_ok else 'FAIL'}")
    print(f"  {'raw peak RSS':22}{raw_rss:9.1f} MB")
    print()
    print("PASS" if ratio_ok and rss_ok else "FAIL")
    return 0 if ratio_ok and rss_ok else 1


if __name__ == "__main__":
    sys.exit(main())
