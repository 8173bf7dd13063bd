"""The command line: a thin face over the core. Every message is one `error:` line on stderr.

Exit codes: 0 done, 1 refused by a rule (nothing written), 2 bad input or usage.
"""

from __future__ import annotations

import os
import sys
import time

import click

from topup_tui import __version__
from topup_tui.core import database
from topup_tui.core.errors import TopupError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class CliFailure(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def open_store(ctx: click.Context, *, create: bool = False) -> database.Store:
    """Open the database named by --db / TOPUP_DB once per command; close it when it ends.

    Only commands that make something (the app, generate, adding a reseller or a client, the
    demo) create a database that does not exist yet; the others say it is not there.
    """
    obj = ctx.find_root().ensure_object(dict)
    if "store" not in obj:
        store = database.open_store(obj.get("db"), create=create)
        for note in store.notes:
            click.echo(f"note: {note}", err=True)
        obj["store"] = store
        ctx.find_root().call_on_close(store.close)
    return obj["store"]


def stderr_progress(label: str):
    """A progress callback that draws a bar on stderr when it is a terminal, else nothing."""
    if not sys.stderr.isatty():
        return None, lambda: None
    state = {"start": time.monotonic(), "last": 0.0}

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - state["last"] < 0.1:
            return
        state["last"] = now
        elapsed = max(now - state["start"], 1e-6)
        rate = done / elapsed
        left = (total - done) / rate if rate else 0
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} "
            f"{rate:,.0f}/s {left:4.0f}s left "
        )
        sys.stderr.flush()

    def finish() -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()

    return progress, finish


@click.group(context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.option(
    "--db", "db", metavar="PATH|URL", default=None,
    help="Database: a file path, sqlite:///path or postgresql://user@host:port/db[?schema=NAME]. "
    "Default: $TOPUP_DB, else topup.db in your data directory.",
)
@click.version_option(__version__, prog_name="topup-tui")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Manage prepaid top-up cards. With no command, opens the Top-up Cards screen.

    The PIN key is read from $TOPUP_KEY_FILE, else topup.key in your data directory.
    """
    ctx.ensure_object(dict)["db"] = db
    if ctx.invoked_subcommand is None:
        from topup_tui.launch import run_tui

        run_tui(open_store(ctx, create=True))


from topup_tui import cli_cards, cli_commands, cli_people  # noqa: E402  (commands live beside, kept small)

cli_commands.register(cli)
cli_cards.register(cli)
cli_people.register(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI and map every failure to one line and an exit code."""
    code = 0
    try:
        cli.main(args=argv, prog_name="topup-tui", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted; nothing was written", err=True)
        code = 1
    except click.UsageError as exc:
        click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        code = 2
    except click.ClickException as exc:
        click.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        code = exc.exit_code
    except CliFailure as exc:
        click.echo(f"error: {exc}", err=True)
        code = exc.code
    except TopupError as exc:
        click.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted; nothing was written", err=True)
        code = 1
    except BrokenPipeError:
        code = 1
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("TOPUP_DEBUG"):
            raise
        click.echo(f"error: internal error ({type(exc).__name__}: {exc}); set TOPUP_DEBUG=1 for details", err=True)
        code = 1
    sys.exit(code)


__all__ = ["cli", "main", "open_store", "stderr_progress"]
