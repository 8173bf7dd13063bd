"""The console entry point. `topup-tui` alone (or with only `--db`) opens the TUI straight away,
without loading the command-line machinery; anything else goes to the CLI (`topup_tui.cli`).

Start-up time is what an operator feels on every SSH login, so this path imports only what the
first page needs.
"""

from __future__ import annotations

import os
import sys


def tui_target(args: list[str]) -> str | None | bool:
    """The `--db` of a bare TUI invocation (None: no `--db`), or False for anything else."""
    if not args:
        return None
    if len(args) == 2 and args[0] == "--db":
        return args[1]
    if len(args) == 1 and args[0].startswith("--db="):
        return args[0][len("--db="):]
    return False


def prepare_drivers(target: str | None) -> None:
    """A process that will only ever open SQLite keeps peewee from importing a PostgreSQL driver
    (peewee imports any it finds, ~25 ms). Call it before anything imports peewee."""
    text = (target or os.environ.get("TOPUP_DB") or "").strip()
    if not text.startswith(("postgresql://", "postgres://")):
        for driver in ("psycopg2", "psycopg"):
            sys.modules.setdefault(driver, None)  # an import of it now fails fast, as if absent


def run_tui(store) -> None:
    """Open the Top-up Cards screen. Page 1 is read on the database thread while Textual loads."""
    from concurrent.futures import ThreadPoolExecutor

    from topup_tui.core.search import search_cards

    db_thread = ThreadPoolExecutor(1, thread_name_prefix="topup-db")
    first_page = db_thread.submit(search_cards, store)
    from topup_tui.tui.app import TopupApp

    TopupApp(store, first_page=first_page, db_thread=db_thread).run()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    target = tui_target(args)
    if target is False or any(a in ("-h", "--help", "--version") for a in args):
        from topup_tui.cli import main as cli_main

        cli_main(args)
        return
    prepare_drivers(target)
    from topup_tui.core.database import open_store
    from topup_tui.core.errors import TopupError

    try:
        store = open_store(target, create=True)
    except TopupError as exc:  # the same one line and exit code as every CLI command
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    for note in store.notes:
        print(f"note: {note}", file=sys.stderr)
    try:
        run_tui(store)
    finally:
        store.close()
