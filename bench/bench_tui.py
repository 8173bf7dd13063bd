"""How fast the TUI paints its first page, turns pages and applies a search on 1,000,000 cards.

    python bench/bench_tui.py [--cards 1000000] [--repeat 5] [--dir /tmp/topup-bench]

Start-up: from process start to the first painted page of `topup-tui`, against a minimal
Textual app that shows a 20-row DataTable read with plain sqlite3 from the same database, in
the same run, alternating, each in a fresh process (target ratio <= 1.3). Then, inside one app:
the median time from a key press (next page) or a new search to the page on screen (target
<= 100 ms each). The database is built once through the core and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def build(db: Path, key: Path, cards: int) -> None:
    from topup_tui.core.database import open_store
    from topup_tui.core.generate import build_request, generate_cards
    from topup_tui.core.models import Card
    from topup_tui.core.resellers import add_reseller

    from bench_search import current_schema, schema_of  # the same directory

    if db.exists() and schema_of(db) != current_schema():
        # A database built before the models' indexes changed would measure the old schema.
        print(f"the models' schema changed: rebuilding {db}", flush=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        key.unlink(missing_ok=True)
    store = open_store(str(db), key_path=key, actor="bench")
    have = Card.select().count()
    if have >= cards:
        store.close()
        return
    print(f"building {cards:,} cards in {db} (once) ...", flush=True)
    names = [f"Reseller {i}" for i in range(1, 6)]
    for name in names:
        add_reseller(store, name)
    per = cards // 5
    for i, name in enumerate(names):
        request = build_request(amount=str(5 * (i + 1)), currency="USD", quantity=per, series=str(100 + i),
                                pin_length=16, reseller=name, expires="2035-12-31")
        generate_cards(store, request)
    store.database.execute_sql("ANALYZE")
    store.close()


# ----- children ------------------------------------------------------------------------------
def child_ours(db: str, key: str) -> None:
    """The path `topup-tui --db DB` takes (topup_tui.launch.main), with a hook that reports the
    first paint and exits."""
    from topup_tui import launch

    os.environ["TOPUP_KEY_FILE"] = key
    launch.prepare_drivers(db)  # as launch.main does, before anything imports peewee
    from textual.app import App

    from topup_tui.tui.app import TopupApp
    from topup_tui.tui.main_screen import MainScreen

    original = MainScreen._render_page

    def render(screen) -> None:
        original(screen)
        if screen.page is not None and not getattr(screen.app, "_reported", False):
            screen.app._reported = True
            screen.app.call_after_refresh(
                lambda: (print(json.dumps({"painted": time.time()}), flush=True), screen.app.exit())
            )

    MainScreen._render_page = render
    TopupApp.run = lambda self: App.run(self, headless=True, size=(120, 40))
    launch.main(["--db", db])


def child_minimal(db: str) -> None:
    import sqlite3

    from textual.app import App
    from textual.widgets import DataTable

    class Minimal(App):
        def compose(self):
            yield DataTable()

        def on_mount(self) -> None:
            conn = sqlite3.connect(db)
            rows = conn.execute(
                "SELECT series, number, amount, currency, reseller_id, activated_at, created_at FROM card "
                "ORDER BY created_at DESC, id DESC LIMIT 20"
            ).fetchall()
            conn.execute("SELECT COUNT(*) FROM card").fetchone()
            table = self.query_one(DataTable)
            table.add_columns("Serial", "Amount", "Currency", "Reseller", "Activated", "Created")
            for series, number, amount, currency, reseller, activated, created in rows:
                table.add_row(f"{series}-{number:09d}", str(amount), currency, str(reseller), str(activated), str(created))
            self.call_after_refresh(lambda: (print(json.dumps({"painted": time.time()}), flush=True), self.exit()))

    Minimal().run(headless=True, size=(120, 40))


def child_interactive(db: str, key: str, repeat: int) -> None:
    import asyncio

    from topup_tui.core.database import open_store
    from topup_tui.core.filters import build_filter
    from topup_tui.tui.app import TopupApp
    from topup_tui.tui.main_screen import MainScreen

    rendered = asyncio.Event()
    original = MainScreen._render_page

    def render(self) -> None:
        original(self)
        if self.page is not None:
            self.app.call_after_refresh(rendered.set)  # set once the page is on screen

    MainScreen._render_page = render
    store = open_store(db, key_path=Path(key), actor="bench")

    async def run() -> dict:
        app = TopupApp(store)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(100):
                await pilot.pause(0.05)
                if app.main.page is not None:
                    break

            async def timed(action) -> float:
                rendered.clear()
                started = time.perf_counter()
                await action()
                await rendered.wait()
                return time.perf_counter() - started

            async def next_page() -> None:
                app.main.action_next_page()  # what the n / PageDown key runs

            nexts = [await timed(next_page) for _ in range(repeat * 4)]
            searches = []
            filters = [dict(status="new"), dict(reseller="Reseller 3"), dict(series="102"),
                       dict(amount_min="10", amount_max="15"), dict(serial="101-500000")]
            for i in range(repeat * 4):
                fields = filters[i % len(filters)]

                async def search(fields=fields) -> None:
                    app.main.filter = build_filter(**fields)
                    app.main.reload(1)

                searches.append(await timed(search))
        return {"next": nexts, "search": searches}

    print(json.dumps(asyncio.run(run())), flush=True)


# ----- parent --------------------------------------------------------------------------------
def spawn(*args: str) -> dict:
    started = time.time()
    out = subprocess.run([sys.executable, str(HERE), *args], capture_output=True, text=True, check=True)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")][-1]
    result = json.loads(line)
    if "painted" in result:
        result["elapsed"] = result["painted"] - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default="/tmp/topup-bench")
    parser.add_argument("--child", choices=["ours", "minimal", "interactive"])
    parser.add_argument("--db")
    parser.add_argument("--key")
    args = parser.parse_args()
    if args.child == "ours":
        child_ours(args.db, args.key)
        return 0
    if args.child == "minimal":
        child_minimal(args.db)
        return 0
    if args.child == "interactive":
        child_interactive(args.db, args.key, args.repeat)
        return 0

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    db, key = folder / f"tui-{args.cards}.db", folder / f"tui-{args.cards}.key"
    build(db, key, args.cards)
    ours, minimal = [], []
    for _ in range(args.repeat):
        minimal.append(spawn("--child", "minimal", "--db", str(db))["elapsed"])
        ours.append(spawn("--child", "ours", "--db", str(db), "--key", str(key))["elapsed"])
    inter = spawn("--child", "interactive", "--db", str(db), "--key", str(key), "--repeat", str(args.repeat))
    m_ours, m_min = statistics.median(ours), statistics.median(minimal)
    ratio = m_ours / m_min
    next_ms = statistics.median(inter["next"]) * 1000
    search_ms = statistics.median(inter["search"]) * 1000
    print(f"cards: {args.cards:,}   runs: {args.repeat} each, alternating")
    print(f"first page painted, topup-tui        median {m_ours:.3f}s  (runs {', '.join(f'{t:.2f}' for t in ours)})")
    print(f"first page painted, minimal Textual  median {m_min:.3f}s  (runs {', '.join(f'{t:.2f}' for t in minimal)})")
    print(f"ratio {ratio:.2f}  (target <= 1.3)  {'PASS' if ratio <= 1.3 else 'FAIL'}")
    print(f"next page   median {next_ms:.1f} ms  p90 {statistics.quantiles(inter['next'], n=10)[-1]*1000:.1f} ms"
          f"  (target <= 100 ms)  {'PASS' if next_ms <= 100 else 'FAIL'}")
    print(f"new search  median {search_ms:.1f} ms  p90 {statistics.quantiles(inter['search'], n=10)[-1]*1000:.1f} ms"
          f"  (target <= 100 ms)  {'PASS' if search_ms <= 100 else 'FAIL'}")
    return 0 if ratio <= 1.3 and next_ms <= 100 and search_ms <= 100 else 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent.parent))
    os.environ.pop("TOPUP_DB", None)
    sys.exit(main())
