"""The search and edit commands: cards, show, mass-edit, delete.

Output formats, the confirmation rules (no --yes and no terminal: refused, nothing written),
"0 cards" for an empty match, and one `error:` line with exit code 2 for bad input. Most runs
are in this process through `main()`; a few go through a real child process. The CLI reads the
real clock, so expectations that depend on status come from the core at the same moment.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from tests.card_data import build, module_store, records, serials
from topup_tui.cli import main
from topup_tui.core.filters import build_filter
from topup_tui.core.models import AuditEvent, Card, CardEvent, db
from topup_tui.core.pins import group_pin
from topup_tui.core.search import iter_cards, search_cards
from topup_tui.core.times import format_time, parse_time

FOOTER = re.compile(
    r"Rows (\d{1,3}(?:,\d{3})*) – (\d{1,3}(?:,\d{3})*) of (\d{1,3}(?:,\d{3})*) · "
    r"Page (\d{1,3}(?:,\d{3})*) of (\d{1,3}(?:,\d{3})*) · \d+\.\d{3}s"
)
COLUMNS = ("Status", "Serial Number", "Amount", "PIN Code", "Reseller", "Activated", "Created on")
CSV_HEADER = ["status", "serial", "amount", "currency", "pin", "reseller", "activated_by", "activated_at",
              "created_at", "expires_at", "batch"]
MASKED = re.compile(r"(?:•{4} )+\d{4}")


class Env:
    def __init__(self, store, url, data):
        self.store = store
        self.url = url
        self.data = data
        self.recs = records(store)
        self.by_serial = {r.serial: r for r in self.recs}

    def rebind(self):
        """Point the models at this test's connection again (the CLI bound and closed its own)."""
        db.initialize(self.store.database)
        self.store.database.connect(reuse_if_open=True)
        return self

    def snapshot(self):
        self.rebind()
        cards = {c.id: (c.serial, c.expires_at, c.reseller_id, c.activated_at) for c in Card.select()}
        return cards, AuditEvent.select().count(), CardEvent.select().count()


@pytest.fixture
def env(store, db_url):
    """A fresh database with the dataset: for the tests that change cards."""
    return Env(store, db_url, build(store))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_env(request, tmp_path_factory):
    with module_store(request.param, tmp_path_factory.mktemp("cli")) as (url, key, store, data):
        yield Env(store, url, data), key


@pytest.fixture
def ro(shared_env, monkeypatch):
    """One database per backend for this module's tests that write no card (checked by each)."""
    env, key = shared_env
    monkeypatch.setenv("TOPUP_KEY_FILE", str(key))
    return env.rebind()


def invoke(capsys, env, *args):
    """`topup-tui --db URL ARGS` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(["--db", env.url, *args])
    out, err = capsys.readouterr()
    env.rebind()
    code = info.value.code
    return (0 if code is None else code), out, err


def run(env, *args, cwd):
    """`python -m topup_tui --db URL ARGS` in a child process with no terminal on stdin."""
    return subprocess.run(
        [sys.executable, "-m", "topup_tui", "--db", env.url, *args], cwd=cwd, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def table(out: str):
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("Status"))
    return lines[:header], lines[header], lines[header + 1 : -1], lines[-1]


def check_header(line: str) -> None:
    positions = [line.index(name) for name in COLUMNS]
    assert positions == sorted(positions) and positions[0] == 0


def no_full_pin(env, out: str) -> None:
    for r in env.recs:
        assert r.pin not in out and group_pin(r.pin) not in out


# --- cards ---------------------------------------------------------------------------------------

def test_cards_table(capsys, ro):
    code, out, err = invoke(capsys, ro, "cards")
    assert (code, err) == (0, "")
    before, header, rows, footer = table(out)
    assert before == []  # no filter line without a filter
    check_header(header)
    assert len(rows) == 20
    match = FOOTER.fullmatch(footer)
    assert match and match.groups() == ("1", "20", "71", "1", "4"), footer
    expected = search_cards(ro.store)  # created:desc, the default
    for line, row in zip(rows, expected.rows):
        assert row.serial in line and row.pin in line and row.status in line
        assert format_time(row.created_at) in line and row.amount_text in line
        assert MASKED.search(line)
    assert rows[0].split()[1] == "JP1-000000004"  # newest first
    no_full_pin(ro, out)


def test_cards_table_with_filters_and_paging(capsys, ro):
    code, out, err = invoke(capsys, ro, "cards", "--reseller", "Alpha", "--amount-max", "10",
                            "--sort", "serial:desc", "--page-size", "10", "--page", "2")
    assert (code, err) == (0, "")
    before, header, rows, footer = table(out)
    assert before == ["Filter: reseller=Alpha · amount max=10.00"]
    check_header(header)
    assert [line.split()[1] for line in rows] == [f"101-{n:09d}" for n in range(20, 10, -1)]
    assert FOOTER.fullmatch(footer).groups() == ("11", "20", "30", "2", "3")
    activated = [line for line in rows if "Zed Shop" in line or "Yan Market" in line]
    assert activated == []  # 101-1..3 are on page 3
    code, out, _ = invoke(capsys, ro, "cards", "--reseller", "Alpha", "--amount-max", "10",
                          "--sort", "serial:desc", "--page-size", "10", "--page", "99")
    _, _, rows, footer = table(out)
    assert FOOTER.fullmatch(footer).groups() == ("21", "30", "30", "3", "3")  # clamped to the last page
    assert "Zed Shop 2026-05-24 12:00:00+0000" in rows[-1] and rows[-1].split()[1] == "101-000000001"


def test_cards_status_matches_the_core(capsys, ro):
    for status in ("new", "activated", "expired"):
        code, out, _ = invoke(capsys, ro, "cards", "--status", status, "--format", "json", "--page-size", "500")
        assert code == 0
        got = {json.loads(line)["serial"] for line in out.splitlines()}
        assert got == serials(iter_cards(ro.store, build_filter(status=status)))
    code, out, _ = invoke(capsys, ro, "cards", "--status", "activated", "--format", "json", "--page-size", "500")
    assert {json.loads(line)["serial"] for line in out.splitlines()} == {
        r.serial for r in ro.recs if r.activated_at is not None}


def test_cards_json(capsys, ro):
    code, out, err = invoke(capsys, ro, "cards", "--format", "json", "--page-size", "500")
    assert (code, err) == (0, "")
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 71 and {o["serial"] for o in objects} == set(ro.by_serial)
    for o in objects:
        rec = ro.by_serial[o["serial"]]
        assert o["expires_at"] == format_time(rec.expires_at)
        assert o["created_at"] == format_time(rec.created_at)
        assert o["pin"] == group_pin("•" * (len(rec.pin) - 4) + rec.pin[-4:])
        assert (o["reseller"], o["activated_by"], o["batch"], o["currency"]) == (
            rec.reseller, rec.client, rec.batch, rec.currency)
        assert o["activated_at"] == (format_time(rec.activated_at) if rec.activated_at else None)
    no_full_pin(ro, out)
    code, out, _ = invoke(capsys, ro, "cards", "--format", "json", "--series", "JP1")
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["amount"] for o in objects] == ["1,000"] * 4 and objects[0]["currency"] == "JPY"
    assert objects[0]["expires_at"] == "2027-12-31 23:59:59+0000"


def test_cards_csv(capsys, ro):
    code, out, err = invoke(capsys, ro, "cards", "--format", "csv", "--series", "202", "--sort", "serial")
    assert (code, err) == (0, "")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == CSV_HEADER
    assert [r[1] for r in rows[1:]] == [f"202-{n:09d}" for n in range(1, 17)]
    first = ro.by_serial["202-000000001"]
    assert rows[1][3:] == ["USD", group_pin("•" * 8 + first.pin[-4:]), "", "Yan Market",
                           format_time(first.activated_at), format_time(first.created_at),
                           format_time(first.expires_at), str(first.batch)]
    assert rows[1][2] == "5.00"


def test_cards_all_streams_every_match(capsys, ro):
    code, out, _ = invoke(capsys, ro, "cards", "--all", "--format", "json")
    assert code == 0 and len(out.splitlines()) == 71
    code, out, _ = invoke(capsys, ro, "cards", "--all", "--format", "csv", "--status", "activated")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == CSV_HEADER and len(rows) == 10
    code, out, _ = invoke(capsys, ro, "cards", "--all", "--sort", "serial")
    lines = out.splitlines()
    check_header(lines[0])
    assert len(lines) == 72 and lines[1].split()[1] == "101-000000001"  # every row, no footer
    assert not FOOTER.search(out)


def test_cards_reveal_is_audited(capsys, ro):
    rec = ro.by_serial["101-000000005"]
    reveals = AuditEvent.select().where(AuditEvent.action == "reveal-pins").order_by(AuditEvent.id)
    before = reveals.count()
    code, out, _ = invoke(capsys, ro, "cards", "--serial", "101-5", "--reveal", "--format", "json")
    assert code == 0 and json.loads(out)["pin"] == group_pin(rec.pin)
    events = list(reveals)[before:]
    assert len(events) == 1 and json.loads(events[0].details)["serials"] == [rec.serial]
    code, out, _ = invoke(capsys, ro, "show", "101-5")
    assert "reveal-pins" in out and group_pin(rec.pin) not in out


def test_cards_that_match_nothing(capsys, ro):
    code, out, err = invoke(capsys, ro, "cards", "--series", "999")
    assert (code, err) == (0, "")
    _, header, rows, footer = table(out)
    assert rows == [] and footer.startswith("Rows 0 – 0 of 0 · Page 1 of 1 · ")
    code, out, _ = invoke(capsys, ro, "cards", "--series", "999", "--format", "json")
    assert (code, out) == (0, "")


# --- show -----------------------------------------------------------------------------------------

def test_show_by_serial_and_pin(capsys, ro):
    rec = ro.by_serial["101-000000042"]
    for text, how in (("101-42", "serial"), ("101-000000042", "serial"), (group_pin(rec.pin), "pin"),
                      (group_pin(rec.pin).replace(" ", "-"), "pin"), (rec.pin, "pin")):
        code, out, err = invoke(capsys, ro, "show", text)
        assert (code, err) == (0, ""), text
        assert f"Serial Number  101-000000042   (matched by {how})" in out
        assert "Status         activated" in out
        assert "Amount         25.50 USD" in out
        assert "Reseller       Bravo" in out
        assert f"Activated      Yan Market {format_time(rec.activated_at)}" in out
        assert f"Batch          {rec.batch}: 15 cards 101-000000031 .. 101-000000045, by tester" in out
        assert "History" in out and "generate" in out
        assert MASKED.search(out) and rec.pin not in out and group_pin(rec.pin) not in out


def test_show_json(capsys, ro):
    rec = ro.by_serial["202-000000003"]
    code, out, err = invoke(capsys, ro, "show", "--json", "202-3")
    assert (code, err) == (0, "")
    obj = json.loads(out)
    assert obj["serial"] == rec.serial and obj["matched_by"] == "serial"
    assert obj["expires_at"] == "2027-06-30 23:59:59+0000"
    assert obj["batch"]["id"] == rec.batch and obj["batch"]["first_serial"] == "202-000000001"
    assert [h["action"] for h in obj["history"]] == ["generate"]
    assert obj["pin"] == group_pin("•" * 8 + rec.pin[-4:])


def test_show_no_such_card(capsys, ro):
    for text in ("101-999", "9" * 16):
        code, out, err = invoke(capsys, ro, "show", text)
        assert (code, out) == (1, "")
        assert one_error_line(err) == "error: no such card"


# --- mass-edit and delete -------------------------------------------------------------------------

def test_mass_edit_with_yes(capsys, env):
    code, out, err = invoke(capsys, env, "mass-edit", "--series", "202", "--set-expires", "2030-01-31", "--yes")
    assert (code, err) == (0, "")
    assert out == "changed 12 cards; 4 activated cards kept as they are\n"
    new_expiry = parse_time("2030-01-31", "t")
    for card in Card.select().where(Card.series == "202"):
        rec = env.by_serial[card.serial]
        assert card.expires_at == (rec.expires_at if rec.activated_at else new_expiry)
    event = AuditEvent.select().where(AuditEvent.action == "mass-edit").get()
    assert event.count == 12 and event.target == "series=202"

    code, out, err = invoke(capsys, env, "mass-edit", "--reseller", "Alpha", "--set-reseller", "Charlie", "--yes")
    assert (code, out) == (0, "changed 32 cards; 4 activated cards kept as they are\n")
    assert {c.serial for c in Card.select().where(Card.reseller == env.data.resellers["Alpha"])} == {
        r.serial for r in env.recs if r.reseller == "Alpha" and r.activated_at is not None}


def test_mass_edit_by_ids(capsys, env):
    ids = [env.by_serial[s].id for s in ("101-000000001", "101-000000010", "JP1-000000002")]
    code, out, _ = invoke(capsys, env, "mass-edit", "--ids", f"{ids[0]}, {ids[1]},{ids[2]}",
                          "--set-expires", "2029-05-05 10:00", "--set-reseller", "Charlie", "--yes")
    assert (code, out) == (0, "changed 2 cards; 1 activated cards kept as they are\n")
    changed = {c.serial for c in Card.select().where(Card.reseller == env.data.resellers["Charlie"])}
    assert {"101-000000010", "JP1-000000002"} <= changed and "101-000000001" not in changed


def test_delete_with_yes(capsys, env):
    code, out, err = invoke(capsys, env, "delete", "--serial-from", "101-40", "--serial-to", "101-45", "--yes")
    assert (code, err) == (0, "")
    assert out == "deleted 5 cards; 1 activated cards kept as they are\n"
    left = {c.serial for c in Card.select().where(Card.series == "101")}
    assert left == {r.serial for r in env.recs if r.series == "101" and (r.number < 40 or r.number == 42)}
    code, out, err = invoke(capsys, env, "delete", "--all", "--yes")
    assert (code, out) == (0, "deleted 57 cards; 9 activated cards kept as they are\n")
    assert {c.serial for c in Card.select()} == {r.serial for r in env.recs if r.activated_at is not None}


@pytest.mark.parametrize("args", [
    ["mass-edit", "--series", "101", "--set-expires", "2030-01-31"],
    ["mass-edit", "--ids", "10,11,12", "--set-reseller", "Bravo"],
    ["delete", "--series", "202"],
    ["delete", "--all"],
], ids=["mass-edit", "mass-edit-ids", "delete", "delete-all"])
def test_no_yes_and_no_terminal_is_refused(capsys, monkeypatch, ro, args):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n71\n"))  # not a terminal, however willing
    before = ro.snapshot()
    code, out, err = invoke(capsys, ro, *args)
    assert code == 1
    assert "--yes" in one_error_line(err) and "nothing written" in err
    assert ro.snapshot() == before


def test_no_yes_in_a_child_process_without_terminal(tmp_path, ro):
    before = ro.snapshot()
    done = run(ro, "mass-edit", "--reseller", "Bravo", "--set-expires", "2030-01-31", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "refusing without --yes" in one_error_line(done.stderr)
    done = run(ro, "delete", "--all", cwd=tmp_path)
    assert done.returncode == 1 and "--yes" in one_error_line(done.stderr)
    assert ro.snapshot() == before


@pytest.mark.parametrize("args, out", [
    (["mass-edit", "--series", "999", "--set-expires", "2030-01-31", "--yes"], "0 cards\n"),
    (["mass-edit", "--series", "999", "--set-expires", "2030-01-31"], "0 cards\n"),  # nothing to confirm
    (["delete", "--series", "999", "--yes"], "0 cards\n"),
    (["delete", "--series", "999"], "0 cards\n"),
    (["mass-edit", "--ids", "99999", "--set-reseller", "Bravo"], "0 cards\n"),
    (["mass-edit", "--status", "activated", "--set-reseller", "Bravo", "--yes"], "0 cards to change (9 activated kept)\n"),
    (["delete", "--status", "activated", "--yes"], "0 cards to delete (9 activated kept)\n"),
])
def test_match_nothing_is_zero_cards(capsys, ro, args, out):
    before = ro.snapshot()
    code, got, err = invoke(capsys, ro, *args)
    assert (code, got, err) == (0, out, "")
    assert ro.snapshot() == before


# --- bad input --------------------------------------------------------------------------------------

BAD_INPUT = {
    "unknown status": (["cards", "--status", "bogus"], "status"),
    "malformed date": (["cards", "--expires-to", "2026-13-45"], "expires_to"),
    "date in words": (["cards", "--created-from", "yesterday"], "created_from"),
    "amount min over max": (["cards", "--amount-min", "20", "--amount-max", "10"], "amount_max"),
    "negative amount": (["cards", "--amount-min", "-5"], "amount_min"),
    "unknown reseller": (["cards", "--reseller", "Nobody"], "reseller"),
    "unknown client": (["cards", "--client", "Nobody"], "client"),
    "bad serial": (["cards", "--serial", "101"], "serial"),
    "bad pin": (["cards", "--pin", "12ab34"], "pin"),
    "bad sort column": (["cards", "--sort", "bogus"], "sort"),
    "bad sort direction": (["cards", "--sort", "amount:sideways"], "sort"),
    "page size 5": (["cards", "--page-size", "5"], "page_size"),
    "page size 501": (["cards", "--page-size", "501"], "page_size"),
    "page 0": (["cards", "--page", "0"], "page"),
    "page words": (["cards", "--page", "two"], "page"),
    "bad format": (["cards", "--format", "xml"], "xml"),
    "unknown option": (["cards", "--colour", "red"], "colour"),
    "show garbage": (["show", "hello"], "lookup"),
    "mass-edit unknown reseller": (["mass-edit", "--series", "101", "--set-reseller", "Nobody", "--yes"], "Nobody"),
    "mass-edit blank reseller": (["mass-edit", "--series", "101", "--set-reseller", " ", "--yes"], "set_reseller"),
    "mass-edit nothing to change": (["mass-edit", "--series", "101", "--yes"], "nothing to change"),
    "mass-edit bad date": (["mass-edit", "--series", "101", "--set-expires", "2026-02-30", "--yes"], "set_expires"),
    "mass-edit filter unknown reseller": (
        ["mass-edit", "--reseller", "Nobody", "--set-expires", "2030-01-01", "--yes"], "reseller"),
    "mass-edit bad ids": (["mass-edit", "--ids", "1,x", "--set-expires", "2030-01-01", "--yes"], "ids"),
    "mass-edit ids and filter": (
        ["mass-edit", "--ids", "1", "--series", "101", "--set-expires", "2030-01-01", "--yes"], "ids"),
    "delete without scope": (["delete", "--yes"], "--all"),
    "delete all with filter": (["delete", "--all", "--series", "101", "--yes"], "--all"),
    "delete unknown status": (["delete", "--status", "gone", "--yes"], "status"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_exit_2_with_one_error_line(capsys, ro, case):
    args, mention = BAD_INPUT[case]
    before = ro.snapshot()
    code, out, err = invoke(capsys, ro, *args)
    assert code == 2, (out, err)
    assert mention in one_error_line(err)
    assert out == ""
    assert ro.snapshot() == before


def test_bad_input_in_a_child_process(tmp_path, ro):
    for args, mention in (BAD_INPUT["page size 5"], BAD_INPUT["unknown reseller"], BAD_INPUT["malformed date"]):
        done = run(ro, *args, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert mention in one_error_line(done.stderr) and done.stdout == ""


def test_cards_in_a_child_process(tmp_path, ro):
    done = run(ro, "cards", "--page-size", "10", "--page", "8", "--sort", "amount", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    _, header, rows, footer = table(done.stdout)
    check_header(header)
    assert FOOTER.fullmatch(footer).groups() == ("71", "71", "71", "8", "8")
    assert len(rows) == 1 and "1,000.00 USD" not in rows[0] and "100.00 USD" in rows[0]  # the largest amount
    done = run(ro, "show", "--json", "JP1-1", cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["serial"] == "JP1-000000001"


@pytest.mark.parametrize("command, text", [
    ("cards", "List cards matching the filters"), ("show", "Look a card up"),
    ("mass-edit", "Change the expiration"), ("delete", "Delete the matching"),
])
def test_help(capsys, command, text):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert info.value.code in (0, None)
    assert text in " ".join(out.split())
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    line = next(line for line in listing.splitlines() if line.split()[:1] == [command])
    assert text.split()[0] in line  # the command list shows a summary for every command
