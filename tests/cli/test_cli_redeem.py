"""The command line for clients, reseller renames and redemption, run as a real child process.

Exit codes: 0 done, 1 refused by a rule, 2 bad input; every failure is one `error:` line on
stderr, and `redeem --json` also prints the refusal and its reason code on stdout. The data is
set up through the core in this process; the CLI runs on the real clock, so its cards expire in
2099 (or are made expired on purpose).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import NOW, release, run_cli, start_gated_cli
from topup_tui.core.clients import add_client
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import Card, Client, LedgerEntry, RedeemFailure, Reseller
from topup_tui.core.pins import group_pin
from topup_tui.core.redeem import DEFAULT_MAX_FAILURES, RedeemRefused, redeem, set_lockout
from topup_tui.core.resellers import add_reseller
from topup_tui.core.times import format_time

FAR = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


def make_cards(store, quantity: int = 1, *, amount: str = "10", currency: str = "USD", reseller: str | None = None,
               series: str = "101", expires: datetime = FAR) -> list[tuple[str, Card]]:
    request = build_request(amount=amount, currency=currency, quantity=quantity, series=series, pin_length=16,
                            reseller=reseller, expires=format_time(expires), now=NOW)
    batch = generate_cards(store, request, now=NOW)
    cards = Card.select().where(Card.batch == batch.batch_id).order_by(Card.number)
    return [(store.key.decrypt(card.pin_ct), card) for card in cards]


def cli(db_url: str, *args: str):
    return run_cli("--db", db_url, *args)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- redeem --------------------------------------------------------------------------------------


def test_redeem_json(store, db_url):
    add_client(store, "Zed Shop", "USD")
    (pin, card), (second, card2) = make_cards(store, 2, amount="1250")
    proc = cli(db_url, "redeem", "--client", "Zed Shop", pin, "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = json.loads(proc.stdout)
    assert {k: out[k] for k in ("ok", "code", "client", "serial", "amount", "currency", "balance")} == {
        "ok": True, "code": "redeemed", "client": "Zed Shop", "serial": card.serial, "amount": "1,250.00",
        "currency": "USD", "balance": "1,250.00"}
    activated = Card.get_by_id(card.id).activated_at
    assert out["at"] == format_time(activated)
    assert abs(datetime.now(UTC) - activated) < timedelta(minutes=5)  # the real clock
    # a PIN typed in groups arrives as several arguments
    proc = cli(db_url, "redeem", "--client", "Zed Shop", "--json", *group_pin(second).split())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["balance"] == "2,500.00"
    assert Client.get(Client.name == "Zed Shop").balance == 250000
    assert LedgerEntry.select().count() == 2


def test_redeem_plain_sentence(store, db_url):
    add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store, amount="15.50")
    dashed = "-".join(pin[i:i + 4] for i in range(0, 16, 4))
    proc = cli(db_url, "redeem", "--client", "Zed Shop", dashed)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"redeemed {card.serial}: 15.50 USD credited to Zed Shop; balance 15.50 USD"
    assert proc.stderr == ""


def test_refusal_json_exit_1(store, db_url):
    add_client(store, "Zed Shop", "USD")
    add_client(store, "Yan Market", "USD")
    (pin, card), = make_cards(store)
    result = redeem(store, "Zed Shop", pin)
    proc = cli(db_url, "redeem", "--client", "Yan Market", pin, "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False
    assert out["code"] == "already-activated"
    assert out["message"] == f"{card.serial} was already activated by Zed Shop at {format_time(result.at)}"
    line = one_error_line(proc.stderr)
    assert line == f"error: refused (already-activated): {out['message']}"
    assert Client.get(Client.name == "Yan Market").balance == 0


def test_refusal_without_json_prints_only_the_error(store, db_url):
    add_client(store, "Zed Shop", "USD")
    proc = cli(db_url, "redeem", "--client", "Zed Shop", "0000111122223333")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert one_error_line(proc.stderr) == "error: refused (no-such-pin): no card has this PIN"
    assert RedeemFailure.select().count() == 1


def test_each_refusal_code(store, db_url):
    add_reseller(store, "Alpha")
    add_reseller(store, "Bravo")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    (expired, _), = make_cards(store, expires=NOW + timedelta(days=1))  # expired on the real clock
    (euro, _), = make_cards(store, currency="EUR", series="202")
    (bravo, _), = make_cards(store, reseller="Bravo", series="303")
    for pin, code in [("0000111122223333", "no-such-pin"), (expired, "expired"), (euro, "other-currency"),
                      (bravo, "other-reseller")]:
        proc = cli(db_url, "redeem", "--client", "Zed Shop", pin, "--json")
        assert proc.returncode == 1, (code, proc.stderr)
        assert json.loads(proc.stdout)["code"] == code
        assert one_error_line(proc.stderr).startswith(f"error: refused ({code}): ")
    assert Client.get(Client.name == "Zed Shop").balance == 0


def test_locked_client_is_refused_saying_until_when(store, db_url):
    add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store)
    for _ in range(DEFAULT_MAX_FAILURES):
        with pytest.raises(RedeemRefused):
            redeem(store, "Zed Shop", "0000111122223333")
    until = Client.get(Client.name == "Zed Shop").locked_until
    assert until is not None
    proc = cli(db_url, "redeem", "--client", "Zed Shop", pin, "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["code"] == "client-locked"
    assert format_time(until) in out["message"]
    assert format_time(until) in one_error_line(proc.stderr)
    assert Card.get_by_id(card.id).activated_at is None
    shown = json.loads(cli(db_url, "clients", "show", "Zed Shop", "--json").stdout)
    assert shown["locked_until"] == format_time(until)


@pytest.mark.parametrize("pin", ["12a45", "٤٥٢٤٥", "1234", "1" * 33, ""])
def test_malformed_pin_exit_2(store, db_url, pin):
    add_client(store, "Zed Shop", "USD")
    proc = cli(db_url, "redeem", "--client", "Zed Shop", pin, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert one_error_line(proc.stderr).startswith("error: pin: ")
    assert RedeemFailure.select().count() == 0


def test_unknown_client_exit_2(store, db_url):
    (pin, card), = make_cards(store)
    proc = cli(db_url, "redeem", "--client", "Nobody", pin, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "no client named 'Nobody'" in one_error_line(proc.stderr)
    assert Card.get_by_id(card.id).activated_at is None


def test_redeem_usage_errors_exit_2(store, db_url):
    for args in (["redeem", "12345678"], ["redeem", "--client", "Zed Shop"]):
        proc = cli(db_url, *args)
        assert proc.returncode == 2, args
        one_error_line(proc.stderr)


# --- clients and resellers -----------------------------------------------------------------------


def test_clients_add_list_rename(store, db_url):
    add_reseller(store, "Alpha")
    proc = cli(db_url, "clients", "list")
    assert proc.returncode == 0 and "no clients yet" in proc.stdout
    proc = cli(db_url, "clients", "add", "Zed Shop", "--currency", "usd", "--reseller", "Alpha")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("added client 'Zed Shop' (USD, id ")
    assert cli(db_url, "clients", "add", "Yan Market", "--currency", "EUR").returncode == 0
    rows = json.loads(cli(db_url, "clients", "list", "--json").stdout)
    assert [(r["name"], r["currency"], r["reseller"], r["balance"], r["locked_until"]) for r in rows] == [
        ("Yan Market", "EUR", None, "0.00", None), ("Zed Shop", "USD", "Alpha", "0.00", None)]
    proc = cli(db_url, "clients", "rename", "Zed Shop", "Zed Store")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "renamed client 'Zed Shop' to 'Zed Store'"
    assert sorted(c.name for c in Client.select()) == ["Yan Market", "Zed Store"]
    plain = cli(db_url, "clients", "list").stdout
    assert "Zed Store" in plain and "Alpha" in plain


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["clients", "add", "Zed Shop", "--currency", "EUR"], "a client named 'Zed Shop' already exists"),
        (["clients", "add", "New", "--currency", "DOLLARS"], "currency"),
        (["clients", "add", "New", "--currency", "USD", "--reseller", "Nobody"], "no reseller named 'Nobody'"),
        (["clients", "add", "New"], "--currency"),
        (["clients", "rename", "Zed Shop", "Yan Market"], "a client named 'Yan Market' already exists"),
        (["clients", "rename", "Nobody", "X"], "no client named 'Nobody'"),
        (["clients", "show", "Nobody"], "no client named 'Nobody'"),
        (["resellers", "rename", "Alpha", "Bravo"], "a reseller named 'Bravo' already exists"),
        (["resellers", "rename", "Nobody", "X"], "no reseller named 'Nobody'"),
    ],
)
def test_clients_and_resellers_bad_input_exit_2(store, db_url, args, says):
    add_reseller(store, "Alpha")
    add_reseller(store, "Bravo")
    add_client(store, "Zed Shop", "USD")
    add_client(store, "Yan Market", "USD")
    proc = cli(db_url, *args)
    assert proc.returncode == 2, proc.stderr
    assert says in one_error_line(proc.stderr)
    assert sorted(c.name for c in Client.select()) == ["Yan Market", "Zed Shop"]
    assert sorted(r.name for r in Reseller.select()) == ["Alpha", "Bravo"]


def test_resellers_rename(store, db_url):
    add_reseller(store, "Alpha")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    proc = cli(db_url, "resellers", "rename", "Alpha", "Alpha Telecom")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "renamed reseller 'Alpha' to 'Alpha Telecom'"
    assert json.loads(cli(db_url, "clients", "show", "Zed Shop", "--json").stdout)["reseller"] == "Alpha Telecom"


def test_clients_show_ledger(store, db_url):
    add_reseller(store, "Alpha")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    (first, c1), (second, c2) = make_cards(store, 2, amount="10")
    r1 = redeem(store, "Zed Shop", first, now=datetime(2026, 7, 1, 9, 0, 0, tzinfo=UTC))
    r2 = redeem(store, "Zed Shop", second, now=datetime(2026, 7, 2, 9, 30, 0, tzinfo=UTC))
    proc = cli(db_url, "clients", "show", "Zed Shop", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "name": "Zed Shop", "currency": "USD", "reseller": "Alpha", "balance": "20.00", "locked_until": None,
        "ledger": [
            {"at": "2026-07-01 09:00:00+0000", "serial": c1.serial, "amount": "10.00"},
            {"at": "2026-07-02 09:30:00+0000", "serial": c2.serial, "amount": "10.00"},
        ],
    }
    assert (r1.serial, r2.serial) == (c1.serial, c2.serial)
    plain = cli(db_url, "clients", "show", "Zed Shop")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0] == "Zed Shop  balance 20.00 USD  reseller Alpha"
    assert "2026-07-01 09:00:00+0000" in lines[1] and c1.serial in lines[1] and "+10.00 USD" in lines[1]
    assert "2026-07-02 09:30:00+0000" in lines[2] and c2.serial in lines[2]


def test_clients_show_empty_ledger(store, db_url):
    add_client(store, "Zed Shop", "USD")
    proc = cli(db_url, "clients", "show", "Zed Shop")
    assert proc.returncode == 0
    assert "no credits yet" in proc.stdout
    assert json.loads(cli(db_url, "clients", "show", "Zed Shop", "--json").stdout)["ledger"] == []


# --- 32 command lines released together ----------------------------------------------------------


def run_gated(db_url: str, arg_lists: list[list[str]]) -> list[tuple[int, str, str]]:
    procs = [start_gated_cli("--db", db_url, *args) for args in arg_lists]
    try:
        for proc in procs:
            release(proc)
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            results.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def test_32_command_lines_redeem_one_pin_once(store, db_url):
    set_lockout(store, failures=1000)
    add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store, amount="10")
    results = run_gated(db_url, [["redeem", "--client", "Zed Shop", pin, "--json"]] * 32)
    codes = Counter()
    for rc, out, err in results:
        assert "locked" not in err and "busy" not in err and "Traceback" not in err, err
        payload = json.loads(out)
        codes[(rc, payload["code"])] += 1
        if rc == 0:
            assert err == ""
        else:
            one_error_line(err)
    assert codes == {(0, "redeemed"): 1, (1, "already-activated"): 31}, codes
    assert Client.get(Client.name == "Zed Shop").balance == 1000
    assert LedgerEntry.select().count() == 1
    assert Card.get_by_id(card.id).activated_at is not None


def test_32_command_lines_redeem_32_pins(store, db_url):
    add_client(store, "Zed Shop", "USD")
    cards = make_cards(store, 16, amount="10") + make_cards(store, 16, amount="2.50", series="202")
    results = run_gated(db_url, [["redeem", "--client", "Zed Shop", pin, "--json"] for pin, _ in cards])
    for rc, out, err in results:
        assert (rc, err) == (0, ""), err
        assert json.loads(out)["code"] == "redeemed"
    assert Client.get(Client.name == "Zed Shop").balance == 16 * 1000 + 16 * 250
    assert LedgerEntry.select().count() == 32


def test_lockout_settings_from_the_cli(tmp_path, key_path, capsys):
    from topup_tui.cli import main
    from topup_tui.core.database import open_store

    path = str(tmp_path / "lock.db")
    open_store(path, key_path=key_path).close()

    def run(*args):
        with pytest.raises(SystemExit) as exit_info:
            main(["--db", path, "lockout", *args])
        out, err = capsys.readouterr()
        return exit_info.value.code, out, err

    assert run() == (0, "a client is locked for 15 minutes after 5 wrong PINs within 15 minutes\n", "")
    assert run("--failures", "3", "--minutes", "2")[1].startswith("a client is locked for 2 minutes after 3 wrong")
    assert run()[1].startswith("a client is locked for 2 minutes after 3 wrong")  # kept in the database
    code, out, err = run("--failures", "0")
    assert (code, err) == (2, "error: failures: must be 1..10000, got 0\n")
    code, out, err = run("--minutes", "soon")
    assert code == 2 and err.startswith("error: minutes:") and err.count("\n") == 1
