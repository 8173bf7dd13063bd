"""The console entry point: a bare `topup-tui [--db X]` opens the TUI without the CLI machinery."""

from __future__ import annotations

import subprocess
import sys

import pytest

from topup_tui.launch import tui_target


@pytest.mark.parametrize(
    "args, expected",
    [([], None), (["--db", "x.db"], "x.db"), (["--db=x.db"], "x.db"), (["cards"], False),
     (["--db", "x.db", "cards"], False), (["--help"], False), (["--db"], False)],
)
def test_which_invocations_open_the_tui(args, expected):
    assert tui_target(args) == expected


@pytest.mark.parametrize("target, driver_loaded", [("x.db", False), ("postgresql://u@h:5432/d", True)])
def test_sqlite_only_processes_do_not_load_a_postgresql_driver(target, driver_loaded):
    code = (
        "from topup_tui.launch import prepare_drivers; import sys; "
        f"prepare_drivers({target!r}); import peewee; print(peewee.psycopg2 is not None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        driver_loaded = False  # not installed at all: never loaded
    assert out.strip() == str(driver_loaded)


def test_a_bad_database_is_one_error_line(tmp_path, key_path):
    result = subprocess.run(
        [sys.executable, "-m", "topup_tui", "--db", str(tmp_path / "missing" / "x.db")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: db: directory") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_help_still_goes_to_the_cli():
    result = subprocess.run([sys.executable, "-m", "topup_tui", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "generate" in result.stdout and "redeem" in result.stdout
