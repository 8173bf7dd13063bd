"""The command line: exit codes, one-line errors, JSON output, resellers, export, TOPUP_DB."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import run_cli
from topup_tui.cli import main
from topup_tui.core.database import open_store
from topup_tui.core.keys import create_key
from topup_tui.core.models import AuditEvent, Batch, Card, Reseller, Series
from topup_tui.core.pins import group_pin, normalize_pin

EXPIRES = "2099-12-31"


def invoke(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process exactly as the entry point does: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    captured = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else code), captured.out, captured.err


def assert_one_error_line(err: str) -> None:
    assert err.endswith("\n")
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err


def gen_args(db: Path, **options: str) -> list[str]:
    values = {
        "amount": "15.50", "currency": "USD", "quantity": "25", "series": "101",
        "reseller": "Acme", "expires": EXPIRES,
    }
    values.update(options)
    args = ["--db", str(db), "generate"]
    for name, value in values.items():
        if value is not None:
            args += [f"--{name.replace('_', '-')}", value]
    return args


def counts(db: Path, key_path: Path) -> dict:
    store = open_store(str(db), key_path=key_path, actor="tester")
    try:
        return {
            "cards": Card.select().count(), "batches": Batch.select().count(),
            "series": Series.select().count(), "audit": AuditEvent.select().count(),
        }
    finally:
        store.close()


@pytest.fixture
def db(tmp_path, capsys) -> Path:
    """A database with reseller Acme, made through the CLI."""
    path = tmp_path / "topup.db"
    code, out, err = invoke(capsys, "--db", str(path), "resellers", "add", "Acme")
    assert code == 0, err
    assert "Acme" in out
    return path


# --- help ------------------------------------------------------------------------------------


def test_python_m_help_works():
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert "generate" in result.stdout and "resellers" in result.stdout and "export" in result.stdout
    assert result.stderr == ""


def test_generate_help_says_no_offset_means_utc(capsys):
    code, out, err = invoke(capsys, "generate", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "no offset means UTC" in text
    assert "--allow-weak-pins" in text and "--json" in text and "--export" in text


def test_version(capsys):
    from topup_tui import __version__

    code, out, _ = invoke(capsys, "--version")
    assert code == 0
    assert __version__ in out


# --- success ---------------------------------------------------------------------------------


def test_generate_json_output(db, key_path, capsys):
    code, out, err = invoke(capsys, *gen_args(db), "--json")
    assert code == 0, err
    assert err == ""
    summary = json.loads(out)
    assert summary["batch_id"] == 1
    assert summary["first_serial"] == "101-000000001"
    assert summary["last_serial"] == "101-000000025"
    assert summary["count"] == 25
    assert summary["amount"] == "15.50"
    assert summary["currency"] == "USD"
    assert summary["reseller"] == "Acme"
    assert summary["expires"] == "2099-12-31 23:59:59+0000"
    code, out, err = invoke(capsys, *gen_args(db, quantity="5", currency="jpy", amount="500"), "--json")
    second = json.loads(out)
    assert (second["first_serial"], second["last_serial"], second["amount"], second["currency"]) == (
        "101-000000026", "101-000000030", "500", "JPY",
    )
    assert counts(db, key_path)["cards"] == 30


def test_generate_text_output(db, capsys):
    code, out, err = invoke(capsys, *gen_args(db, quantity="1000"))
    assert code == 0, err
    assert out.startswith("batch 1: 1,000 cards 101-000000001 .. 101-000001000, 15.50 USD each")
    assert "reseller Acme" in out and "2099-12-31 23:59:59+0000" in out
    assert err == ""


def test_allow_weak_pins_warns_and_succeeds(db, key_path, capsys):
    code, out, err = invoke(capsys, *gen_args(db, quantity="101", pin_length="5"), "--allow-weak-pins")
    assert code == 0, err
    assert out.startswith("batch 1: 101 cards")
    assert err.startswith("warning:") and "weak PINs" in err
    assert "Traceback" not in err
    code, out, err = invoke(capsys, *gen_args(db, quantity="1", pin_length="5"), "--allow-weak-pins", "--json")
    assert code == 0, err
    assert json.loads(out)["count"] == 1
    assert counts(db, key_path)["cards"] == 102


# --- refusals and bad input ------------------------------------------------------------------


def test_weak_pins_refused_exit_1(db, key_path, capsys):
    before = counts(db, key_path)
    code, out, err = invoke(capsys, *gen_args(db, quantity="101", pin_length="5"))
    assert code == 1
    assert out == ""
    assert_one_error_line(err)
    assert "--pin-length 6" in err
    assert counts(db, key_path) == before


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"amount": "10,50"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"currency": "DOLLARS"}, "currency"),
        ({"expires": "16/07/2027"}, "expires"),
        ({"expires": "2020-01-01"}, "in the past"),
        ({"reseller": "Nobody"}, "reseller"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "lots"}, "quantity"),
        ({"quantity": "1" * 5_000}, "quantity"),
        ({"amount": "1" * 5_000}, "amount"),
        ({"series": "1 01"}, "series"),
        ({"pin_length": "4"}, "pin_length"),
        ({"amount": None}, "--amount"),  # a missing required option
        ({"expires": None}, "--expires"),
    ],
)
def test_bad_input_exit_2(db, key_path, capsys, options, needle):
    before = counts(db, key_path)
    code, out, err = invoke(capsys, *gen_args(db, **options))
    assert code == 2
    assert out == ""
    assert_one_error_line(err)
    assert needle in err
    assert counts(db, key_path) == before


@pytest.mark.parametrize(
    "args",
    [["frobnicate"], ["generate", "--bogus"], ["resellers", "frob"], ["export", "notanumber", "--to", "x.csv"]],
)
def test_usage_errors_exit_2(capsys, args):
    code, out, err = invoke(capsys, *args)
    assert code == 2
    assert_one_error_line(err)


def test_errors_in_a_real_process_are_one_line(db):
    cases = [
        (gen_args(db, amount="10,50"), 2),
        (["frobnicate"], 2),
        (gen_args(db, quantity="101", pin_length="5"), 1),
    ]
    for args, expected in cases:
        result = run_cli(*args)
        assert result.returncode == expected, (args, result.stderr)
        assert_one_error_line(result.stderr)
        assert result.stdout == ""


def test_wrong_key_is_one_line_exit_1(db, tmp_path, capsys, monkeypatch):
    other = tmp_path / "other.key"
    create_key(other)
    monkeypatch.setenv("TOPUP_KEY_FILE", str(other))
    code, out, err = invoke(capsys, "--db", str(db), "resellers", "list")
    assert code == 1
    assert_one_error_line(err)
    assert str(other) in err


def test_bad_db_url_is_exit_2(capsys):
    code, out, err = invoke(capsys, "--db", "mysql://x@y/z", "resellers", "list")
    assert code == 2
    assert_one_error_line(err)


# --- resellers -------------------------------------------------------------------------------


def test_resellers_add_and_list(db, capsys):
    code, out, err = invoke(capsys, "--db", str(db), "resellers", "add", "  Zeta   Mobile ")
    assert code == 0, err
    assert "'Zeta Mobile'" in out
    code, out, err = invoke(capsys, "--db", str(db), "resellers", "list")
    assert code == 0
    names = [line.split(None, 1)[1] for line in out.splitlines()]
    assert names == ["Acme", "Zeta Mobile"]
    code, out, err = invoke(capsys, "--db", str(db), "resellers", "list", "--json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["Acme", "Zeta Mobile"]
    assert all(isinstance(r["id"], int) and r["created"].endswith("+0000") for r in rows)


def test_resellers_add_duplicate_is_exit_2(db, capsys):
    code, out, err = invoke(capsys, "--db", str(db), "resellers", "add", "Acme")
    assert code == 2
    assert_one_error_line(err)
    assert "already exists" in err


def test_resellers_list_empty(tmp_path, capsys):
    from topup_tui.core.database import open_store

    open_store(str(tmp_path / "new.db")).close()
    code, out, err = invoke(capsys, "--db", str(tmp_path / "new.db"), "resellers", "list")
    assert code == 0, err
    assert "no resellers yet" in out


@pytest.mark.parametrize("command", [["resellers", "list"], ["cards"], ["show", "101-1"], ["clients", "list"]])
def test_reading_a_missing_database_creates_nothing(tmp_path, capsys, key_path, command):
    missing = tmp_path / "typo.db"
    code, out, err = invoke(capsys, "--db", str(missing), *command)
    assert code == 1
    assert err.startswith("error: no database at") and err.count("\n") == 1
    assert not missing.exists() and not key_path.exists()


# --- export ----------------------------------------------------------------------------------


def test_generate_with_export_writes_a_private_csv(db, tmp_path, capsys):
    dest = tmp_path / "print" / "batch.csv"
    dest.parent.mkdir()
    old = os.umask(0)
    try:
        code, out, err = invoke(capsys, *gen_args(db, quantity="40"), "--export", str(dest), "--json")
    finally:
        os.umask(old)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["exported"] == 40
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    with open(dest, newline="", encoding="ascii") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["serial", "pin", "amount", "currency", "expires"]
    assert len(rows) == 41
    assert rows[1][0] == "101-000000001" and rows[-1][0] == "101-000000040"
    for _, pin, amount, currency, expires in rows[1:]:
        bare = normalize_pin(pin)
        assert len(bare) == 16 and group_pin(bare) == pin
        assert (amount, currency, expires) == ("15.50", "USD", "2099-12-31 23:59:59+0000")
    assert len({r[1] for r in rows[1:]}) == 40


def test_export_to_an_existing_file_is_refused_before_generating(db, tmp_path, key_path, capsys):
    dest = tmp_path / "batch.csv"
    dest.write_text("keep me\n")
    before = counts(db, key_path)
    code, out, err = invoke(capsys, *gen_args(db), "--export", str(dest))
    assert code == 2
    assert_one_error_line(err)
    assert "already exists" in err
    assert dest.read_text() == "keep me\n"
    assert counts(db, key_path) == before


def test_export_command(db, tmp_path, capsys):
    code, out, err = invoke(capsys, *gen_args(db, quantity="7"), "--json")
    batch_id = json.loads(out)["batch_id"]
    dest = tmp_path / "later.csv"
    code, out, err = invoke(capsys, "--db", str(db), "export", str(batch_id), "--to", str(dest))
    assert code == 0, err
    assert "exported 7 cards" in out
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    code, out, err = invoke(capsys, "--db", str(db), "export", "999", "--to", str(tmp_path / "none.csv"))
    assert code == 2
    assert_one_error_line(err)


# --- where the database is -------------------------------------------------------------------


def test_topup_db_env_is_respected(tmp_path, key_path, monkeypatch, capsys):
    target = tmp_path / "env.db"
    monkeypatch.setenv("TOPUP_DB", str(target))
    code, out, err = invoke(capsys, "resellers", "add", "Via Env")
    assert code == 0, err
    assert target.exists()
    store = open_store(str(target), key_path=key_path, actor="tester")
    try:
        assert [r.name for r in Reseller.select()] == ["Via Env"]
    finally:
        store.close()
    # --db wins over TOPUP_DB
    other = tmp_path / "flag.db"
    code, out, err = invoke(capsys, "--db", str(other), "resellers", "add", "Via Flag")
    assert code == 0, err
    code, out, err = invoke(capsys, "--db", str(other), "resellers", "list", "--json")
    assert code == 0, err
    assert [r["name"] for r in json.loads(out)] == ["Via Flag"]
    code, out, err = invoke(capsys, "resellers", "list", "--json")
    assert [r["name"] for r in json.loads(out)] == ["Via Env"]


def test_topup_db_env_in_a_real_process(tmp_path):
    target = tmp_path / "child.db"
    result = run_cli("resellers", "add", "Child", env={"TOPUP_DB": str(target)})
    assert result.returncode == 0, result.stderr
    assert target.exists()
    result = run_cli("resellers", "list", "--json", env={"TOPUP_DB": str(target)})
    assert [r["name"] for r in json.loads(result.stdout)] == ["Child"]
