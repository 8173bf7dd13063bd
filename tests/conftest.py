"""Shared fixtures: every test gets its own database and key, never the user's.

`backend` runs a test on SQLite and, when TOPUP_TEST_PG_URL is set, on PostgreSQL in a schema
made for that test and dropped afterwards. When the variable is set and the server cannot be
reached, the PostgreSQL tests fail (they are not skipped).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from topup_tui.core.database import open_store

PG_URL = os.environ.get("TOPUP_TEST_PG_URL")

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
LATER = datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test touches the operator's data directory, key or TOPUP_DB."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("TOPUP_KEY_FILE", str(home / "topup.key"))
    monkeypatch.delenv("TOPUP_DB", raising=False)
    monkeypatch.delenv("TOPUP_DEBUG", raising=False)
    return home


def _pg_admin():
    import psycopg2

    from topup_tui.core.database import parse_target

    target = parse_target(PG_URL)
    conn = psycopg2.connect(**target.dsn, connect_timeout=5)
    conn.autocommit = True
    return conn


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("TOPUP_TEST_PG_URL is not set")
    return request.param


@pytest.fixture
def db_url(backend, tmp_path):
    """A database location (not yet opened) for this test on `backend`."""
    if backend == "sqlite":
        yield str(tmp_path / "topup.db")
        return
    schema = f"topup_test_{uuid.uuid4().hex[:12]}"
    conn = _pg_admin()  # a server that cannot be reached fails the test here
    with conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}schema={schema}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


@pytest.fixture
def key_path(isolated_env) -> Path:
    return Path(os.environ["TOPUP_KEY_FILE"])


@pytest.fixture
def store(db_url, key_path):
    opened = open_store(db_url, key_path=key_path, actor="tester")
    yield opened
    opened.close()


# --- running the real command line in a child process ------------------------------------------

CLI = [sys.executable, "-m", "topup_tui"]

# A child that imports everything, then waits for a line on stdin before running the CLI exactly
# as `python -m topup_tui ARGS` would: several children released together start their work
# together, without the parent guessing how long imports take.
GATED_CLI = (
    "import runpy, sys\n"
    "import topup_tui.cli\n"
    "sys.stdin.readline()\n"
    "sys.argv = ['topup_tui', *sys.argv[1:]]\n"
    "runpy.run_module('topup_tui', run_name='__main__', alter_sys=True)\n"
)


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m topup_tui ARGS` in a child process (environment: this test's, plus `env`)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def start_gated_cli(*args: str) -> subprocess.Popen:
    """Start `python -m topup_tui ARGS` held at a gate; release it with `release(proc)`."""
    return subprocess.Popen(
        [sys.executable, "-c", GATED_CLI, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def release(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()  # left open: communicate() closes it
