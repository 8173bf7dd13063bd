"""Benchmark: Advanced Search, lookups and mass edit on a database of 1,000,000 cards.

    .venv/bin/python bench/bench_search.py [--dir /tmp/topup-bench] [--rebuild] [--runs 15]
        [--lookups 200] [--edit-repeat 3] [--skip-mass-edit] [--cards 1000000] [--seed 1]

The database is built through the core (`add_reseller`, `generate_cards`) once and cached in
`--dir` (search.db + search.key); it is reused while it holds the expected number of cards,
`--rebuild` forces a new one (about 30 s). Its shape:

  * 20 resellers, 40 batches of 25,000 cards over 5 series and 5 amounts (USD), every batch
    sold by one reseller (2 batches each), created over the last ~20 months (`now=` in the past);
  * 4 batches (~10%) expired ~100 days before the build;
  * ~10% activated (every card with id % 10 = 3) by 500 clients, each at a time between the
    card's creation and min(expiration, build time): one SQL UPDATE, since the core redeems one
    card per call at the current time;
  * then ANALYZE and PRAGMA optimize.

Measured against that database (the real `now`):

  * every Advanced Search filter alone and a few combinations: `search_cards(page=1)` (resolving
    names, the COUNT, the page's queries and decoding the rows: `Page.elapsed`), median and p90
    of `--runs` runs after one warm-up. For diagnosis, the statements search_cards ran (captured
    from peewee's logger) are re-run alone: the COUNT, and the page's queries together.
    Target: median <= 50 ms for every row;
  * `EXPLAIN QUERY PLAN` of each of those statements: no selective filter (< 20% of the cards)
    may scan the card table without an index (a bare `SCAN card` / `SCAN t1`);
  * `lookup()` (parse, find, batch info, history) by serial and by PIN of random cards.
    Target: median <= 2 ms;
  * `mass_edit` of every card (set the expiration) vs a raw sqlite3 `UPDATE card SET
    expires_at=? WHERE activated_at IS NULL` in one transaction with the same pragmas, each run
    on a fresh fsynced copy of the database, the two sides alternating `--edit-repeat` times.
    Target: best mass_edit / best raw <= 1.5. mass_edit also counts the scope, writes an audit
    event and links every changed card to it (a CardEvent row each): that is part of the design
    and part of its time.

Exit status 1 if any target is missed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee as pw

from topup_tui.core.database import SQLITE_PRAGMAS, open_store
from topup_tui.core.edit import Scope, mass_edit
from topup_tui.core.filters import build_filter
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import Card, CardEvent, Client, Reseller, format_serial
from topup_tui.core.resellers import add_reseller
from topup_tui.core.search import lookup, search_cards
from topup_tui.core.times import utcnow

TARGET_PAGE_MS = 50.0
TARGET_LOOKUP_MS = 2.0
TARGET_EDIT_RATIO = 1.5
SELECTIVE = 0.20  # a filter matching less than this share of the cards must not scan the table

RESELLERS = 20
CLIENTS = 500
BATCHES = 40
SERIES = ("101", "102", "205", "310", "777")
AMOUNTS = ("5", "10", "15", "25", "50")
EXPIRED_BATCHES = (0, 1, 2, 3)  # the oldest four
BATCH_SPACING_DAYS = 15
ACTOR = "bench"


def reseller_name(i: int) -> str:
    return f"Reseller {i:02d}"


def client_name(i: int) -> str:
    return f"Client {i:04d}"


# --- building ---------------------------------------------------------------------------------


def schema_of(db_path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return set()
    return {" ".join(sql.split()) for (sql,) in rows}


def current_schema() -> set[str]:
    """The tables and indexes a new database gets from the models as they are now."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "schema.db"), key_path=Path(tmp) / "schema.key", actor=ACTOR)
        store.close()
        return schema_of(Path(tmp) / "schema.db")


def card_count(db_path: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT count(*) FROM card").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return -1


def build(db_path: Path, key_path: Path, cards: int) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    key_path.unlink(missing_ok=True)
    started = time.perf_counter()
    now = utcnow()
    store = open_store(str(db_path), key_path=key_path, actor=ACTOR)
    try:
        for i in range(1, RESELLERS + 1):
            add_reseller(store, reseller_name(i))
        per_batch, extra = divmod(cards, BATCHES)
        for b in range(BATCHES):
            quantity = per_batch + (1 if b < extra else 0)
            created = now - timedelta(days=BATCH_SPACING_DAYS * (BATCHES - b), hours=b)
            if b in EXPIRED_BATCHES:
                expires = (now - timedelta(days=100 - b)).date().isoformat()
            else:
                expires = (now + timedelta(days=365 + 30 * (b % 24))).date().isoformat()
            request = build_request(
                amount=AMOUNTS[(b + b // 5) % len(AMOUNTS)], currency="USD", quantity=quantity,
                series=SERIES[b % len(SERIES)], pin_length=16, reseller=reseller_name(b % RESELLERS + 1),
                expires=expires, now=created,
            )
            t0 = time.perf_counter()
            generate_cards(store, request, now=created)
            print(f"  batch {b + 1:2d}/{BATCHES}: {quantity:,} cards of series {request.series} "
                  f"in {time.perf_counter() - t0:.1f}s", flush=True)
        with store.write():
            reseller_ids = [r.id for r in Reseller.select(Reseller.id).order_by(Reseller.id)]
            Client.insert_many([
                {"name": client_name(i), "currency": "USD", "reseller": reseller_ids[i % RESELLERS],
                 "balance": 0, "created_at": now - timedelta(days=700)}
                for i in range(1, CLIENTS + 1)
            ]).execute()
            first_client = Client.select(pw.fn.MIN(Client.id)).scalar()
            t_now = int(now.timestamp())
            # Activated between creation and min(expiration, now); spread over ids and clients.
            store.database.execute_sql(
                "UPDATE card SET "
                " activated_at = created_at + ((id * 7919) % max(1, min(expires_at, ?) - created_at)),"
                " activated_by_id = ? + (((id / 10) * 31) % ?)"
                " WHERE id % 10 = 3",
                (t_now, first_client, CLIENTS),
            )
            store.audit("bench-activate", "bench", 0)
        store.database.execute_sql("ANALYZE")
        store.database.execute_sql("PRAGMA optimize")
    finally:
        store.close()
    print(f"built {db_path} ({cards:,} cards) in {time.perf_counter() - started:.0f}s", flush=True)


# --- measuring --------------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000.0


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def sample_card(rng: random.Random, max_id: int) -> Card:
    while True:
        card = Card.get_or_none(Card.id == rng.randint(1, max_id))
        if card is not None:
            return card


def filter_cases(store, rng: random.Random, now: datetime) -> list[tuple[str, dict[str, str]]]:
    """(label, fields as an operator types them): every filter alone, then combinations."""
    max_id = Card.select(pw.fn.MAX(Card.id)).scalar()
    card = sample_card(rng, max_id)
    pin_card = sample_card(rng, max_id)
    pin = store.key.decrypt(pin_card.pin_ct)
    activated = (Card.select().where(Card.activated_at.is_null(False)).order_by(Card.id)
                 .offset(rng.randint(0, 1000)).first())
    act_day = activated.activated_at.date()
    mid_batch = Card.select(pw.fn.MAX(Card.batch)).scalar() // 2 + 1
    expired_day = (now - timedelta(days=99)).date()
    created_day = (now - timedelta(days=BATCH_SPACING_DAYS * 12)).date()
    month = timedelta(days=30)
    return [
        ("no filter (all cards)", {}),
        ("serial", {"serial": format_serial(card.series, card.number)}),
        ("serial range (1,000)", {"serial_from": "205-10000", "serial_to": "205-10999"}),
        ("series", {"series": "205"}),
        ("PIN", {"pin": pin}),
        ("status new", {"status": "new"}),
        ("status activated", {"status": "activated"}),
        ("status expired", {"status": "expired"}),
        ("company (reseller)", {"reseller": reseller_name(7)}),
        ("amount range 10-15", {"amount_min": "10", "amount_max": "15"}),
        ("amount exactly 50", {"amount_min": "50", "amount_max": "50"}),
        ("expiration range (1 day)", {"expires_from": str(expired_day), "expires_to": str(expired_day)}),
        ("expiration range (1 year)", {"expires_from": str((now + timedelta(days=500)).date()),
                                       "expires_to": str((now + timedelta(days=865)).date())}),
        ("client", {"client": client_name(42)}),
        ("activation date (1 day)", {"activated_from": str(act_day), "activated_to": str(act_day)}),
        ("activation date (1 month)", {"activated_from": str(act_day), "activated_to": str(act_day + month)}),
        ("created range (1 month)", {"created_from": str(created_day), "created_to": str(created_day + month)}),
        ("batch", {"batch": str(mid_batch)}),
        ("new + company", {"status": "new", "reseller": reseller_name(3)}),
        ("series + amount range", {"series": "101", "amount_min": "10", "amount_max": "25"}),
        ("company + created range", {"reseller": reseller_name(5), "created_from": str(created_day),
                                     "created_to": str(created_day + timedelta(days=90))}),
        ("activated + client", {"status": "activated", "client": client_name(7)}),
        ("expired + company", {"status": "expired", "reseller": reseller_name(2)}),
        ("new + amount + expiration", {"status": "new", "amount_min": "25", "expires_from": str(now.date()),
                                       "expires_to": str((now + timedelta(days=900)).date())}),
        ("company + activation month", {"reseller": reseller_name(9), "activated_from": str(act_day),
                                        "activated_to": str(act_day + month)}),
    ]


class Captured(logging.Handler):
    """Collects the SQL statements peewee runs (its logger gets every one, with the parameters)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, tuple]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            sql, params = record.msg
            self.statements.append((sql, tuple(params or ())))


def search_statements(store, flt, now: datetime) -> list[tuple[str, str, tuple]]:
    """(kind, sql, params) of the card queries one `search_cards(page 1)` runs: count, page ids, rows."""
    logger = logging.getLogger("peewee")
    handler, level = Captured(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        search_cards(store, flt, page=1, now=now)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    out = []
    for sql, params in handler.statements:
        if '"card"' not in sql:
            continue  # resolving a reseller or client name
        kind = "count" if "COUNT(" in sql.upper() else "page"
        out.append((kind, sql, params))
    return out


def plan(store, sql: str, params: tuple) -> list[str]:
    rows = store.database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return [row[-1] for row in rows]


def card_aliases(sql: str) -> set[str]:
    return {"card"} | set(re.findall(r'"card" AS "(\w+)"', sql))


def is_table_scan(line: str, aliases: set[str]) -> bool:
    """`SCAN card` / `SCAN t1` (the card table under an alias) without an index: every row of it."""
    parts = line.split()
    return len(parts) >= 2 and parts[0] == "SCAN" and parts[1] in aliases and "INDEX" not in line


def time_statements(store, statements: list[tuple[str, str, tuple]], runs: int) -> dict[str, float]:
    """Median ms per kind (count, page: the page's statements together), each re-run alone."""
    cursor = store.database.connection().cursor()
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        spent: dict[str, float] = {}
        for kind, sql, params in statements:
            t0 = time.perf_counter()
            cursor.execute(sql, params).fetchall()
            spent[kind] = spent.get(kind, 0.0) + time.perf_counter() - t0
        for kind, value in spent.items():
            samples.setdefault(kind, []).append(value)
    return {kind: ms(statistics.median(values)) for kind, values in samples.items()}


def bench_filters(store, runs: int, rng: random.Random, now: datetime, total_cards: int) -> bool:
    ok = True
    print()
    print(f"Advanced Search, page 1 of 20 rows + total count, default sort (created desc); "
          f"median/p90 of {runs} runs; target median <= {TARGET_PAGE_MS:.0f} ms")
    header = f"{'filter':<28} {'matches':>9} {'median':>8} {'p90':>8} {'count':>7} {'page':>7}  result  plan"
    print(header)
    print("-" * len(header))
    plan_failures: list[tuple[str, str, list[str]]] = []
    for label, fields in filter_cases(store, rng, now):
        flt = build_filter(**fields)
        search_cards(store, flt, page=1, now=now)  # warm-up
        times, total = [], 0
        for _ in range(runs):
            page = search_cards(store, flt, page=1, now=now)
            times.append(page.elapsed)
            total = page.total
        statements = search_statements(store, flt, now)
        parts = time_statements(store, statements, max(3, runs // 3))
        med = ms(statistics.median(times))
        passed = med <= TARGET_PAGE_MS
        ok &= passed
        selective = total < SELECTIVE * total_cards
        plan_note = "-"
        if selective:
            scans = []
            for kind, sql, params in statements:
                lines = plan(store, sql, params)
                if any(is_table_scan(line, card_aliases(sql)) for line in lines):
                    scans.append(kind)
                    plan_failures.append((label, kind, lines))
            plan_note = "ok" if not scans else "SCAN " + "+".join(scans)
            ok &= not scans
        count_ms, page_ms = parts.get("count", 0.0), parts.get("page", 0.0)
        print(f"{label:<28} {total:>9,} {med:>8.2f} {ms(p90(times)):>8.2f} {count_ms:>7.2f} {page_ms:>7.2f}  "
              f"{'PASS' if passed else 'FAIL':<6}  {plan_note}", flush=True)
    print("(ms. count / page: the COUNT / the page's queries search_cards ran, re-run alone; plan: EXPLAIN QUERY "
          f"PLAN of every query of a selective filter (< {SELECTIVE:.0%} of the cards), '-' = not selective)")
    for label, name, lines in plan_failures:
        print(f"\nfull table scan: {label} ({name} query)")
        for line in lines:
            print(f"    {line}")
    return ok


def bench_lookups(store, count: int, rng: random.Random, now: datetime) -> bool:
    max_id = Card.select(pw.fn.MAX(Card.id)).scalar()
    cards = [sample_card(rng, max_id) for _ in range(count)]
    serials = [format_serial(c.series, c.number) for c in cards]
    pins = [" ".join(p[i:i + 4] for i in range(0, len(p), 4)) for p in (store.key.decrypt(c.pin_ct) for c in cards)]
    ok = True
    print()
    print(f"lookup() of {count} random cards (paste, parse, find, batch info, history); target median <= "
          f"{TARGET_LOOKUP_MS:.0f} ms")
    for label, texts in (("by serial", serials), ("by PIN", pins)):
        lookup(store, texts[0], now=now)  # warm-up
        times = []
        for card, text in zip(cards, texts):
            t0 = time.perf_counter()
            found = lookup(store, text, now=now)
            times.append(time.perf_counter() - t0)
            assert any(d.card.id == card.id for d in found), (text, found)
        med = ms(statistics.median(times))
        passed = med <= TARGET_LOOKUP_MS
        ok &= passed
        print(f"  {label:<10} median {med:6.3f} ms   p90 {ms(p90(times)):6.3f} ms   {'PASS' if passed else 'FAIL'}")
    return ok


def fresh_copy(db_path: Path, copy: Path) -> None:
    """A copy of the database on disk (fsynced, so its write-back does not land in a timed run)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db_path, copy)
    fd = os.open(copy, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def drop_copy(copy: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)


def raw_update(copy: Path, expires: int) -> tuple[float, int]:
    conn = sqlite3.connect(str(copy), isolation_level=None)
    try:
        for name, value in SQLITE_PRAGMAS.items():
            conn.execute(f"PRAGMA {name} = {value}")
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute("UPDATE card SET expires_at = ? WHERE activated_at IS NULL", (expires,)).rowcount
        conn.execute("COMMIT")
        return time.perf_counter() - t0, rows
    finally:
        conn.close()


def core_mass_edit(copy: Path, key_path: Path, expires: datetime) -> tuple[float, object, int]:
    store = open_store(str(copy), key_path=key_path, actor=ACTOR)
    try:
        t0 = time.perf_counter()
        result = mass_edit(store, Scope.matching(None), set_expires=expires)
        elapsed = time.perf_counter() - t0
        links = store.database.execute_sql(
            f"SELECT count(*) FROM {CardEvent._meta.table_name} WHERE event_id = ?", (result.event_id,)
        ).fetchone()[0]
    finally:
        store.close()
    return elapsed, result, links


def bench_mass_edit(db_path: Path, key_path: Path, workdir: Path, repeat: int) -> bool:
    new_expiry = datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC)
    copy = workdir / "edit-copy.db"
    print()
    print(f"mass edit of every card (set the expiration), each run on a fresh copy of the database; "
          f"raw and core alternate, {repeat} runs each")
    raw_times, core_times = [], []
    raw_rows, result, links = 0, None, 0
    try:
        for i in range(repeat):
            for side in (("raw", "core") if i % 2 == 0 else ("core", "raw")):
                fresh_copy(db_path, copy)
                if side == "raw":
                    seconds, raw_rows = raw_update(copy, int(new_expiry.timestamp()))
                    raw_times.append(seconds)
                else:
                    seconds, result, links = core_mass_edit(copy, key_path, new_expiry)
                    core_times.append(seconds)
                print(f"  run {i + 1} {side:<4} {seconds:6.2f} s", flush=True)
    finally:
        drop_copy(copy)
    assert result is not None and result.changed == raw_rows, (result, raw_rows)
    best_ratio = min(core_times) / min(raw_times)
    median_ratio = statistics.median(core_times) / statistics.median(raw_times)
    passed = best_ratio <= TARGET_EDIT_RATIO
    print(f"  raw UPDATE : best {min(raw_times):6.2f} s  median {statistics.median(raw_times):6.2f} s   "
          f"{raw_rows:,} rows")
    print(f"  mass_edit  : best {min(core_times):6.2f} s  median {statistics.median(core_times):6.2f} s   "
          f"{result.changed:,} changed, {result.kept_activated:,} activated kept, {links:,} CardEvent links")
    print(f"  ratio      : best/best {best_ratio:.2f}, median/median {median_ratio:.2f}  "
          f"(target <= {TARGET_EDIT_RATIO} on best/best)  {'PASS' if passed else 'FAIL'}")
    return passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/topup-bench"))
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--edit-repeat", type=int, default=3, help="mass edit runs per side")
    parser.add_argument("--skip-mass-edit", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    args.dir.mkdir(parents=True, exist_ok=True)
    stem = "search" if args.cards == 1_000_000 else f"search-{args.cards}"
    db_path, key_path = args.dir / f"{stem}.db", args.dir / f"{stem}.key"
    stale = key_path.exists() and db_path.exists() and schema_of(db_path) != current_schema()
    if args.rebuild or stale or not key_path.exists() or card_count(db_path) != args.cards:
        why = "the models' schema changed; " if stale and not args.rebuild else ""
        print(f"building {db_path} with {args.cards:,} cards ({why}about 30 s for 1,000,000) ...", flush=True)
        build(db_path, key_path, args.cards)
    else:
        print(f"reusing {db_path} ({args.cards:,} cards; --rebuild to make a new one)")

    rng = random.Random(args.seed)
    now = utcnow()
    store = open_store(str(db_path), key_path=key_path, actor=ACTOR)
    try:
        summary = store.database.execute_sql(
            "SELECT count(*), sum(activated_at IS NOT NULL), sum(activated_at IS NULL AND expires_at <= ?),"
            " count(DISTINCT reseller_id), count(DISTINCT series), count(DISTINCT amount),"
            " count(DISTINCT batch_id) FROM card", (int(now.timestamp()),)).fetchone()
        total, activated, expired, resellers, series, amounts, batches = summary
        print(f"{total:,} cards: {activated:,} activated ({activated / total:.0%}), {expired:,} expired "
              f"({expired / total:.0%}); {resellers} resellers, {series} series, {amounts} amounts, {batches} batches")
        ok = bench_filters(store, args.runs, rng, now, total)
        ok &= bench_lookups(store, args.lookups, rng, now)
    finally:
        store.close()
    if not args.skip_mass_edit:
        ok &= bench_mass_edit(db_path, key_path, args.dir, args.edit_repeat)
    print()
    print("all targets met" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
