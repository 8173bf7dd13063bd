"""Redeeming a PIN onto a client's balance: once, all of it or none of it, with a guessing lockout.

Every test runs on SQLite and, when TOPUP_TEST_PG_URL is set, on PostgreSQL. Redemptions that
depend on time pass a fixed clock (`now=`). The concurrency tests start real processes, each
opening its own store and calling the core `redeem`; they are held at a gate (a line on stdin)
until every one of them has imported everything and opened its store, then released together.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee as pw
import pytest

from tests.conftest import LATER, NOW
from topup_tui.core.clients import add_client
from topup_tui.core.database import open_store
from topup_tui.core.errors import DatabaseError, InputError
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import AuditEvent, Card, Client, LedgerEntry, RedeemFailure
from topup_tui.core.search import card_history
from topup_tui.core.pins import group_pin
from topup_tui.core.redeem import (
    DEFAULT_MAX_FAILURES,
    DEFAULT_WINDOW_S,
    RedeemRefused,
    lockout_settings,
    redeem,
    set_lockout,
)
from topup_tui.core.resellers import add_reseller
from topup_tui.core.times import format_time

WINDOW = timedelta(seconds=DEFAULT_WINDOW_S)
FAR = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)  # for redemptions on the real clock
WRONG_PIN = "0000111122223333"  # well-formed, 16 digits; 10**16 PINs make a hit by chance negligible


def make_cards(store, quantity: int = 1, *, amount: str = "10", currency: str = "USD", reseller: str | None = None,
               series: str = "101", expires: datetime = LATER) -> list[tuple[str, Card]]:
    """`quantity` new cards through the core, generated at NOW; (PIN, card) pairs in serial order."""
    request = build_request(amount=amount, currency=currency, quantity=quantity, series=series, pin_length=16,
                            reseller=reseller, expires=format_time(expires), now=NOW)
    batch = generate_cards(store, request, now=NOW)
    cards = Card.select().where(Card.batch == batch.batch_id).order_by(Card.number)
    return [(store.key.decrypt(card.pin_ct), card) for card in cards]


def refused(store, client: str, pin: str, now: datetime | None = None) -> RedeemRefused:
    with pytest.raises(RedeemRefused) as info:
        redeem(store, client, pin, now=now)
    return info.value


def failures(client: str) -> int:
    return RedeemFailure.select().join(Client).where(Client.name == client).count()


def balance(client: str) -> int:
    return Client.get(Client.name == client).balance


def assert_books_balance() -> None:
    """Balances = ledger = activated cards, per client and in total; one ledger entry and one
    linked "redeem" audit event per activated card."""
    balances = {c.id: c.balance for c in Client.select()}
    ledger: dict[int, int] = defaultdict(int)
    for entry in LedgerEntry.select():
        ledger[entry.client_id] += entry.amount
    activated_cards = list(Card.select().where(Card.activated_at.is_null(False)))
    activated: dict[int, int] = defaultdict(int)
    for card in activated_cards:
        activated[card.activated_by_id] += card.amount
    assert {k: v for k, v in balances.items() if v} == dict(ledger) == dict(activated)
    assert sum(balances.values()) == sum(ledger.values()) == sum(c.amount for c in activated_cards)
    assert sorted((e.card_id, e.client_id, e.amount, e.currency) for e in LedgerEntry.select()) == sorted(
        (c.id, c.activated_by_id, c.amount, c.currency) for c in activated_cards
    )
    redeemed = AuditEvent.select(AuditEvent.target).where(AuditEvent.action == "redeem").tuples()
    assert sorted(target for target, in redeemed) == sorted(f"card {c.id}" for c in activated_cards)
    assert AuditEvent.select().where(AuditEvent.action == "redeem").count() == len(activated_cards)


# --- a successful redemption ---------------------------------------------------------------------


def test_redeeming_a_new_card_credits_its_amount_once(store):
    zed = add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store, amount="15.50")
    at = NOW + timedelta(hours=1)
    result = redeem(store, "Zed Shop", pin, now=at)

    assert (result.client, result.serial, result.amount, result.currency, result.balance, result.at) == (
        "Zed Shop", card.serial, 1550, "USD", 1550, at)
    assert result.as_dict() == {
        "ok": True, "code": "redeemed", "client": "Zed Shop", "serial": card.serial, "amount": "15.50",
        "currency": "USD", "balance": "15.50", "at": format_time(at),
    }
    assert result.sentence() == f"redeemed {card.serial}: 15.50 USD credited to Zed Shop; balance 15.50 USD"
    assert balance("Zed Shop") == 1550
    card = Card.get_by_id(card.id)
    assert (card.activated_at, card.activated_by_id) == (at, zed.id)
    entry, = LedgerEntry.select()
    assert (entry.client_id, entry.card_id, entry.amount, entry.currency, entry.at) == (zed.id, card.id, 1550, "USD", at)
    event, = AuditEvent.select().where(AuditEvent.action == "redeem")
    assert event.target == f"card {card.id}"
    assert event.actor == "tester"
    assert json.loads(event.details) == {"amount": 1550, "client": "Zed Shop", "currency": "USD", "serial": card.serial}
    history = card_history(card.id, card.batch_id)
    assert [(h.action, h.target) for h in history][-1] == ("redeem", f"card {card.id}")
    assert pin not in event.details
    assert failures("Zed Shop") == 0
    assert_books_balance()


def test_balance_adds_up_over_several_cards(store):
    add_client(store, "Zed Shop", "USD")
    cards = make_cards(store, 2, amount="10") + make_cards(store, 1, amount="0.01", series="202")
    results = [redeem(store, "Zed Shop", pin, now=NOW) for pin, _ in cards]
    assert [r.balance for r in results] == [1000, 2000, 2001]
    assert balance("Zed Shop") == 2001
    assert LedgerEntry.select().count() == 3
    assert_books_balance()


@pytest.mark.parametrize("shape", [group_pin, lambda p: "-".join(p[i:i + 4] for i in range(0, 16, 4)),
                                   lambda p: f"  {p}\t"], ids=["spaces", "dashes", "padded"])
def test_a_pin_may_be_typed_grouped(store, shape):
    add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store)
    assert redeem(store, "Zed Shop", shape(pin), now=NOW).serial == card.serial


def test_card_without_reseller_goes_to_a_client_with_one(store):
    add_reseller(store, "Alpha")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    (pin, _), = make_cards(store, reseller=None)
    assert redeem(store, "Zed Shop", pin, now=NOW).balance == 1000


def test_client_without_reseller_takes_a_resellers_card(store):
    add_reseller(store, "Alpha")
    add_client(store, "Zed Shop", "USD")
    (pin, _), = make_cards(store, reseller="Alpha")
    assert redeem(store, "Zed Shop", pin, now=NOW).balance == 1000


def test_card_and_client_of_the_same_reseller(store):
    add_reseller(store, "Alpha")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    (pin, _), = make_cards(store, reseller="Alpha")
    assert redeem(store, "Zed Shop", pin, now=NOW).balance == 1000


def test_zero_decimal_currency(store):
    add_client(store, "Tokyo", "JPY")
    (pin, _), = make_cards(store, amount="1000", currency="JPY")
    result = redeem(store, "Tokyo", pin, now=NOW)
    assert (result.amount, result.balance, result.as_dict()["balance"]) == (1000, 1000, "1,000")  # grouped, like every amount


@pytest.fixture
def sqlite_store(tmp_path, key_path):
    opened = open_store(str(tmp_path / "sqlite-only.db"), key_path=key_path, actor="tester")
    yield opened
    opened.close()


def test_redemption_without_returning_clause(sqlite_store, monkeypatch):
    """SQLite before 3.35 has no RETURNING (PostgreSQL always has): the same redemption, read
    back with SELECTs."""
    import topup_tui.core.redeem as redeem_module

    store = sqlite_store

    monkeypatch.setattr(redeem_module.sqlite3, "sqlite_version_info", (3, 34, 1))
    assert redeem_module._sql(store).returning is False
    add_client(store, "Zed Shop", "USD")
    (pin, card), (other, _) = make_cards(store, 2, amount="10")
    assert redeem(store, "Zed Shop", pin, now=NOW).balance == 1000
    assert redeem(store, "Zed Shop", other, now=NOW).balance == 2000
    assert refused(store, "Zed Shop", pin, NOW).code == "already-activated"
    assert refused(store, "Zed Shop", WRONG_PIN, NOW).code == "no-such-pin"
    assert_books_balance()


def test_a_failing_statement_rolls_the_whole_redemption_back(store):
    """A database error half-way (here the audit table is gone, the last write) rolls back the
    card, ledger and balance writes before it. (SQLite calls it an OperationalError, which the store turns
    into one clear DatabaseError; PostgreSQL a ProgrammingError, which peewee raises as such.)"""
    add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store)
    store.database.execute_sql('ALTER TABLE "audit_event" RENAME TO "audit_event_gone"')
    with pytest.raises(DatabaseError if store.is_sqlite else pw.ProgrammingError) as info:
        redeem(store, "Zed Shop", pin, now=NOW)
    assert "audit_event" in str(info.value)
    assert Card.get_by_id(card.id).activated_at is None
    assert LedgerEntry.select().count() == 0
    assert balance("Zed Shop") == 0
    store.database.execute_sql('ALTER TABLE "audit_event_gone" RENAME TO "audit_event"')
    assert AuditEvent.select().where(AuditEvent.action == "redeem").count() == 0
    assert redeem(store, "Zed Shop", pin, now=NOW).balance == 1000


# --- refusals ------------------------------------------------------------------------------------


def assert_refusal_wrote_only_a_failure(client: str, code: str, card: Card | None, balance_before: int) -> None:
    assert balance(client) == balance_before
    if card is not None:
        now_card = Card.get_by_id(card.id)
        assert (now_card.activated_at, now_card.activated_by_id) == (card.activated_at, card.activated_by_id)
    last = RedeemFailure.select().order_by(RedeemFailure.id.desc()).first()
    assert last is not None and last.reason == code
    event = AuditEvent.select().order_by(AuditEvent.id.desc()).first()
    assert event.action == "redeem-refused"
    assert json.loads(event.details) == {"client": client, "reason": code}


def test_unknown_pin_is_refused(store):
    add_client(store, "Zed Shop", "USD")
    make_cards(store, 2)
    refusal = refused(store, "Zed Shop", WRONG_PIN, NOW)
    assert refusal.code == "no-such-pin"
    assert str(refusal) == "no card has this PIN"
    assert failures("Zed Shop") == 1
    assert_refusal_wrote_only_a_failure("Zed Shop", "no-such-pin", None, 0)
    assert LedgerEntry.select().count() == 0


def test_second_redemption_is_refused_naming_who_and_when(store):
    add_client(store, "Zed Shop", "USD")
    add_client(store, "Yan Market", "USD")
    (pin, card), = make_cards(store)
    first = NOW + timedelta(minutes=5)
    redeem(store, "Zed Shop", pin, now=first)
    card = Card.get_by_id(card.id)
    for who in ("Yan Market", "Zed Shop"):
        refusal = refused(store, who, pin, first + timedelta(days=1))
        assert refusal.code == "already-activated"
        assert str(refusal) == f"{card.serial} was already activated by Zed Shop at {format_time(first)}"
        assert_refusal_wrote_only_a_failure(who, "already-activated", card, 1000 if who == "Zed Shop" else 0)
    assert LedgerEntry.select().count() == 1
    assert_books_balance()


def test_expired_card_is_refused(store):
    add_client(store, "Zed Shop", "USD")
    expires = NOW + timedelta(days=30)
    (pin, card), = make_cards(store, expires=expires)
    refusal = refused(store, "Zed Shop", pin, expires + timedelta(days=1))
    assert refusal.code == "expired"
    assert str(refusal) == f"{card.serial} expired at {format_time(expires)}"
    assert_refusal_wrote_only_a_failure("Zed Shop", "expired", card, 0)


def test_expiration_boundary_with_a_fixed_clock(store):
    add_client(store, "Zed Shop", "USD")
    expires = NOW + timedelta(days=30)
    (early, _), (late, late_card) = make_cards(store, 2, expires=expires)
    assert redeem(store, "Zed Shop", early, now=expires - timedelta(seconds=1)).balance == 1000
    refusal = refused(store, "Zed Shop", late, expires)  # at the expiration instant: expired
    assert refusal.code == "expired"
    assert Card.get_by_id(late_card.id).activated_at is None
    assert balance("Zed Shop") == 1000


def test_card_in_another_currency_is_refused(store):
    add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store, currency="EUR")
    refusal = refused(store, "Zed Shop", pin, NOW)
    assert refusal.code == "other-currency"
    assert str(refusal) == f"{card.serial} is in EUR; Zed Shop's balance is in USD"
    assert_refusal_wrote_only_a_failure("Zed Shop", "other-currency", card, 0)


def test_card_of_another_reseller_is_refused(store):
    add_reseller(store, "Alpha")
    add_reseller(store, "Bravo")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    (pin, card), = make_cards(store, reseller="Bravo")
    refusal = refused(store, "Zed Shop", pin, NOW)
    assert refusal.code == "other-reseller"
    assert card.serial in str(refusal) and "Zed Shop" in str(refusal)
    assert_refusal_wrote_only_a_failure("Zed Shop", "other-reseller", card, 0)


def test_unknown_client_is_bad_input_and_counts_nothing(store):
    (pin, card), = make_cards(store)
    for name in ("Nobody", "", "   "):
        with pytest.raises(InputError) as info:
            redeem(store, name, pin, now=NOW)
        assert info.value.field == "client"
    assert RedeemFailure.select().count() == 0
    assert Card.get_by_id(card.id).activated_at is None


MALFORMED = ["12a45", "٤٥٢٤٥", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦", "１２３４５", "1234", "1" * 33, "", "   ", "12.345", "+12345",
             "12345\x00"]


@pytest.mark.parametrize("pin", MALFORMED)
def test_malformed_pin_is_bad_input_and_not_counted(store, pin):
    add_client(store, "Zed Shop", "USD")
    with pytest.raises(InputError) as info:
        redeem(store, "Zed Shop", pin, now=NOW)
    assert info.value.field == "pin"
    assert RedeemFailure.select().count() == 0
    assert AuditEvent.select().where(AuditEvent.action.startswith("redeem")).count() == 0


def test_malformed_pins_never_lock_a_client_but_wrong_ones_count(store):
    add_client(store, "Zed Shop", "USD")
    (pin, _), = make_cards(store)
    for bad in MALFORMED * 2:
        with pytest.raises(InputError):
            redeem(store, "Zed Shop", bad, now=NOW)
    assert failures("Zed Shop") == 0
    for n in range(1, DEFAULT_MAX_FAILURES):
        assert refused(store, "Zed Shop", f"{n:05d}", NOW).code == "no-such-pin"  # 5 digits: well-formed
        assert failures("Zed Shop") == n
    assert Client.get(Client.name == "Zed Shop").locked_until is None
    assert redeem(store, "Zed Shop", pin, now=NOW).balance == 1000


# --- the guessing lockout ------------------------------------------------------------------------


def lock_out(store, client: str, at: datetime, count: int = DEFAULT_MAX_FAILURES) -> None:
    for _ in range(count):
        assert refused(store, client, WRONG_PIN, at).code == "no-such-pin"


def test_five_wrong_pins_lock_the_client_then_the_window_ends(store):
    add_client(store, "Zed Shop", "USD")
    add_client(store, "Yan Market", "USD")
    (pin, card), (other, _) = make_cards(store, 2)
    assert lockout_settings() == (5, 15)
    lock_out(store, "Zed Shop", NOW, DEFAULT_MAX_FAILURES - 1)
    assert Client.get(Client.name == "Zed Shop").locked_until is None
    lock_out(store, "Zed Shop", NOW, 1)  # the fifth
    until = NOW + WINDOW
    assert Client.get(Client.name == "Zed Shop").locked_until == until
    lock = AuditEvent.select().where(AuditEvent.action == "lock-client").get()
    assert json.loads(lock.details) == {"client": "Zed Shop", "until": format_time(until)}

    refusal = refused(store, "Zed Shop", pin, NOW + timedelta(seconds=1))  # the right PIN
    assert refusal.code == "client-locked"
    assert format_time(until) in str(refusal)
    assert str(refusal) == f"client 'Zed Shop' is locked until {format_time(until)} after too many wrong PINs"
    assert refused(store, "Zed Shop", pin, until - timedelta(seconds=1)).code == "client-locked"
    assert Card.get_by_id(card.id).activated_at is None
    assert balance("Zed Shop") == 0
    assert failures("Zed Shop") == DEFAULT_MAX_FAILURES  # refusals while locked are not attempts

    # another client is not affected
    assert redeem(store, "Yan Market", other, now=NOW + timedelta(seconds=2)).balance == 1000
    # once the window is over, the right PIN goes through
    assert redeem(store, "Zed Shop", pin, now=NOW + WINDOW + timedelta(seconds=1)).balance == 1000
    assert_books_balance()


def test_failures_outside_the_window_do_not_add_up(store):
    add_client(store, "Zed Shop", "USD")
    (pin, _), = make_cards(store)
    lock_out(store, "Zed Shop", NOW, DEFAULT_MAX_FAILURES - 1)
    later = NOW + WINDOW + timedelta(seconds=1)
    lock_out(store, "Zed Shop", later, 1)
    assert Client.get(Client.name == "Zed Shop").locked_until is None
    assert redeem(store, "Zed Shop", pin, now=later).balance == 1000


def test_a_success_does_not_lift_a_lock(store):
    add_client(store, "Zed Shop", "USD")
    (first, _), (second, _) = make_cards(store, 2)
    lock_out(store, "Zed Shop", NOW)
    until = Client.get(Client.name == "Zed Shop").locked_until
    assert refused(store, "Zed Shop", first, NOW + timedelta(minutes=1)).code == "client-locked"
    assert Client.get(Client.name == "Zed Shop").locked_until == until
    after = until + timedelta(seconds=1)
    assert redeem(store, "Zed Shop", first, now=after).balance == 1000
    # the success neither cleared the recorded failures nor the lock's history
    assert failures("Zed Shop") == DEFAULT_MAX_FAILURES
    assert redeem(store, "Zed Shop", second, now=after + timedelta(seconds=1)).balance == 2000


def test_a_success_does_not_reset_the_failure_count(store):
    add_client(store, "Zed Shop", "USD")
    (first, _), (second, _) = make_cards(store, 2)
    lock_out(store, "Zed Shop", NOW, DEFAULT_MAX_FAILURES - 1)
    assert redeem(store, "Zed Shop", first, now=NOW + timedelta(seconds=1)).balance == 1000
    lock_out(store, "Zed Shop", NOW + timedelta(seconds=2), 1)  # the fifth within the window
    assert refused(store, "Zed Shop", second, NOW + timedelta(seconds=3)).code == "client-locked"


def test_failure_counts_survive_reopening_the_store(db_url, key_path):
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        add_client(store, "Zed Shop", "USD")
        (pin, _), = make_cards(store)
        lock_out(store, "Zed Shop", NOW, 3)
    finally:
        store.close()
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:
        assert failures("Zed Shop") == 3
        lock_out(store, "Zed Shop", NOW + timedelta(minutes=1), 2)
        assert refused(store, "Zed Shop", pin, NOW + timedelta(minutes=2)).code == "client-locked"
    finally:
        store.close()
    store = open_store(db_url, key_path=key_path, actor="tester")
    try:  # and the lock itself survives
        assert refused(store, "Zed Shop", pin, NOW + timedelta(minutes=3)).code == "client-locked"
        assert redeem(store, "Zed Shop", pin, now=NOW + timedelta(minutes=17)).balance == 1000
    finally:
        store.close()


def test_lockout_settings_take_effect(store):
    add_client(store, "Zed Shop", "USD")
    (pin, _), = make_cards(store)
    assert set_lockout(store, failures=3, minutes=1) == (3, 1)
    assert lockout_settings() == (3, 1)
    event = AuditEvent.select().where(AuditEvent.action == "set-lockout").get()
    assert json.loads(event.details) == {"failures": 3, "minutes": 1}
    lock_out(store, "Zed Shop", NOW, 3)
    until = NOW + timedelta(minutes=1)
    assert Client.get(Client.name == "Zed Shop").locked_until == until
    refusal = refused(store, "Zed Shop", pin, NOW + timedelta(seconds=59))
    assert refusal.code == "client-locked" and format_time(until) in str(refusal)
    assert redeem(store, "Zed Shop", pin, now=until + timedelta(seconds=1)).balance == 1000
    # one setting at a time keeps the other
    assert set_lockout(store, minutes=30) == (3, 30)


@pytest.mark.parametrize("kwargs", [{"failures": 0}, {"minutes": 0}, {"failures": 10_001}, {"minutes": -1}])
def test_bad_lockout_settings_are_refused(store, kwargs):
    with pytest.raises(InputError):
        set_lockout(store, **kwargs)
    assert lockout_settings() == (5, 15)


# --- the books balance after any mix of redemptions and refusals ---------------------------------


@dataclass
class Model:
    """What the rules say should happen, kept in Python beside the database."""

    max_failures: int
    window: timedelta
    cards: dict[str, dict] = field(default_factory=dict)  # pin -> card facts
    clients: dict[str, dict] = field(default_factory=dict)

    def expect(self, client_name: str, pin: str, now: datetime) -> str:
        client = self.clients[client_name]
        if client["locked_until"] is not None and client["locked_until"] > now:
            return "client-locked"
        card = self.cards.get(pin)
        if card is None:
            code = "no-such-pin"
        elif card["by"] is not None:
            code = "already-activated"
        elif card["expires"] <= now:
            code = "expired"
        elif card["currency"] != client["currency"]:
            code = "other-currency"
        elif client["reseller"] and card["reseller"] and client["reseller"] != card["reseller"]:
            code = "other-reseller"
        else:
            card["by"] = client_name
            client["balance"] += card["amount"]
            return "redeemed"
        client["failures"].append(now)
        recent = [t for t in client["failures"] if t > now - self.window]
        if len(recent) >= self.max_failures:
            client["locked_until"] = now + self.window
        return code


def test_books_balance_after_a_random_mix(store):
    rng = random.Random(20260601)
    add_reseller(store, "Alpha")
    add_reseller(store, "Bravo")
    set_lockout(store, failures=4, minutes=10)
    model = Model(max_failures=4, window=timedelta(minutes=10))
    for name, currency, reseller in [("Plain USD", "USD", None), ("Alpha USD", "USD", "Alpha"),
                                     ("Bravo USD", "USD", "Bravo"), ("Euro", "EUR", None),
                                     ("Alpha JPY", "JPY", "Alpha"), ("Alpha EUR", "EUR", "Alpha")]:
        add_client(store, name, currency, reseller=reseller)
        model.clients[name] = {"currency": currency, "reseller": reseller, "balance": 0, "failures": [],
                               "locked_until": None}
    soon = NOW + timedelta(hours=2)
    batches = [("10", "USD", None, LATER), ("25.50", "USD", "Alpha", LATER), ("5", "USD", "Bravo", LATER),
               ("20", "EUR", None, LATER), ("7.77", "EUR", "Alpha", LATER), ("1000", "JPY", "Alpha", LATER),
               ("12.34", "USD", None, soon), ("3", "EUR", "Bravo", soon)]
    pins = []
    for n, (amount, currency, reseller, expires) in enumerate(batches):
        for pin, card in make_cards(store, 6, amount=amount, currency=currency, reseller=reseller,
                                    series=f"S{n}", expires=expires):
            model.cards[pin] = {"amount": card.amount, "currency": currency, "reseller": reseller,
                                "expires": card.expires_at, "by": None}
            pins.append(pin)

    now = NOW
    seen = Counter()
    for _ in range(260):
        now += timedelta(seconds=rng.randint(0, 90))
        client = rng.choice(list(model.clients))
        roll = rng.random()
        if roll < 0.05:
            pin = rng.choice(["12a45", "٤٥٢٤٥", "1234", "9" * 33])
            with pytest.raises(InputError):
                redeem(store, client, pin, now=now)
            seen["malformed"] += 1
            continue
        pin = f"{rng.randrange(10**16):016d}" if roll < 0.25 else rng.choice(pins)
        expected = model.expect(client, pin, now)
        try:
            code = redeem(store, client, pin, now=now) and "redeemed"
        except RedeemRefused as refusal:
            code = refusal.code
        assert code == expected, (client, now)
        seen[code] += 1
        if rng.random() < 0.1:
            assert_books_balance()

    # the mix did exercise every outcome
    assert set(seen) == {"malformed", "redeemed", "no-such-pin", "already-activated", "expired",
                         "other-currency", "other-reseller", "client-locked"}, seen
    assert_books_balance()
    assert {c.name: c.balance for c in Client.select()} == {n: c["balance"] for n, c in model.clients.items()}
    assert sum(len(c["failures"]) for c in model.clients.values()) == RedeemFailure.select().count()


# --- processes released together ----------------------------------------------------------------

# A worker: opens its own store, says "ready", waits for its tasks (one JSON line on stdin: the
# gate), runs them with the core `redeem` and prints one JSON list of outcomes.
WORKER = r"""
import json, sys
from pathlib import Path
from topup_tui.core.database import open_store
from topup_tui.core.errors import TopupError
from topup_tui.core.redeem import redeem

store = open_store(sys.argv[1], key_path=Path(sys.argv[2]), actor="worker")
print("ready", flush=True)
tasks = json.loads(sys.stdin.readline())
outcomes = []
for client, pin in tasks:
    try:
        result = redeem(store, client, pin)
        outcomes.append({"code": "redeemed", "client": client, "serial": result.serial})
    except TopupError as exc:
        outcomes.append({"code": getattr(exc, "code", type(exc).__name__), "client": client,
                         "error": type(exc).__name__, "message": str(exc)})
store.close()
print(json.dumps(outcomes), flush=True)
"""


def run_together(db_url: str, key_path: Path, task_lists: list[list[tuple[str, str]]], timeout: float = 180) -> list[dict]:
    """One process per task list, all released at once; the outcomes of every task."""
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, db_url, str(key_path)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in task_lists
    ]
    outcomes: list[dict] = []
    try:
        for proc in procs:
            line = proc.stdout.readline()
            assert line.strip() == "ready", f"worker failed to start: {line!r} {proc.stderr.read()}"
        for proc, tasks in zip(procs, task_lists):  # the gate
            proc.stdin.write(json.dumps(tasks) + "\n")
            proc.stdin.flush()
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            assert err == "", err
            outcomes.extend(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for outcome in outcomes:  # every refusal is a rule's, never the database's
        assert outcome.get("error") in (None, "RedeemRefused"), outcome
        assert "locked" not in outcome.get("message", "") or outcome["code"] == "client-locked", outcome
    return outcomes


def test_32_processes_redeem_one_pin_exactly_once(store, db_url, key_path):
    set_lockout(store, failures=1000)
    names = [f"Client {n}" for n in range(4)]
    for name in names:
        add_client(store, name, "USD")
    (pin, card), = make_cards(store, amount="10", expires=FAR)
    outcomes = run_together(db_url, key_path, [[(names[n % 4], pin)] for n in range(32)])
    codes = Counter(o["code"] for o in outcomes)
    assert codes == {"redeemed": 1, "already-activated": 31}, codes
    winner, = [o["client"] for o in outcomes if o["code"] == "redeemed"]
    assert {n: balance(n) for n in names} == {n: (1000 if n == winner else 0) for n in names}
    entry, = LedgerEntry.select()
    assert (entry.card_id, entry.amount) == (card.id, 1000)
    assert Card.get_by_id(card.id).activated_by.name == winner
    for o in outcomes:
        if o["code"] == "already-activated":
            assert f"already activated by {winner} at" in o["message"]
    assert RedeemFailure.select().count() == 31
    assert_books_balance()


def test_32_processes_redeem_32_pins_for_one_client(store, db_url, key_path):
    add_client(store, "Zed Shop", "USD")
    cards = []
    for n, amount in enumerate(["1", "2.50", "10", "25"]):
        cards += make_cards(store, 8, amount=amount, series=f"S{n}", expires=FAR)
    outcomes = run_together(db_url, key_path, [[("Zed Shop", pin)] for pin, _ in cards])
    assert Counter(o["code"] for o in outcomes) == {"redeemed": 32}
    assert sorted(o["serial"] for o in outcomes) == sorted(card.serial for _, card in cards)
    assert balance("Zed Shop") == sum(card.amount for _, card in cards) == 8 * (100 + 250 + 1000 + 2500)
    assert LedgerEntry.select().count() == 32
    assert RedeemFailure.select().count() == 0
    assert_books_balance()


def test_50_parallel_wrong_pins_are_all_counted(store, db_url, key_path):
    set_lockout(store, failures=1000)
    add_client(store, "Zed Shop", "USD")
    make_cards(store, 3, expires=FAR)
    outcomes = run_together(db_url, key_path, [[("Zed Shop", f"{n:016d}")] for n in range(50)])
    assert Counter(o["code"] for o in outcomes) == {"no-such-pin": 50}
    assert failures("Zed Shop") == 50
    assert Client.get(Client.name == "Zed Shop").locked_until is None


def test_parallel_guesses_cannot_outrun_the_lockout(store, db_url, key_path):
    """50 wrong PINs at once with the default lockout: only the first 5 are tried, the rest are
    refused as client-locked, so running guesses in parallel gains nothing."""
    add_client(store, "Zed Shop", "USD")
    make_cards(store, 3, expires=FAR)
    outcomes = run_together(db_url, key_path, [[("Zed Shop", f"{n:016d}")] for n in range(50)])
    codes = Counter(o["code"] for o in outcomes)
    assert codes == {"no-such-pin": DEFAULT_MAX_FAILURES, "client-locked": 50 - DEFAULT_MAX_FAILURES}, codes
    assert failures("Zed Shop") == DEFAULT_MAX_FAILURES
    assert Client.get(Client.name == "Zed Shop").locked_until is not None


# --- a redemption killed half-way ----------------------------------------------------------------

# Redeems the PINs it reads (one JSON line on stdin), one transaction each, printing each serial
# once committed. With a HANG number, the HANG-th redemption stops at its commit, with every one
# of its writes done and none committed, and says "inside".
KILLED = r"""
import json, sys, time
from pathlib import Path
from topup_tui.core.database import open_store
from topup_tui.core.redeem import redeem

store = open_store(sys.argv[1], key_path=Path(sys.argv[2]), actor="killed")
hang = int(sys.argv[3])
tasks = json.loads(sys.stdin.readline())
done = 0
commit = store.database.commit

def commit_or_hang(*args, **kwargs):
    if done == hang:
        print("inside", flush=True)
        time.sleep(600)
    return commit(*args, **kwargs)

store.database.commit = commit_or_hang
for client, pin in tasks:
    result = redeem(store, client, pin)
    done += 1
    print(result.serial, flush=True)
"""


def start_redeeming(db_url: str, key_path: Path, tasks: list[tuple[str, str]], hang: int = -1) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", KILLED, db_url, str(key_path), str(hang)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps(tasks) + "\n")
    proc.stdin.flush()
    return proc


def kill(proc: subprocess.Popen) -> list[str]:
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    return out.split()


def check_sound(store, db_url: str) -> None:
    if store.is_sqlite:
        conn = sqlite3.connect(db_url)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()
    assert_books_balance()


def test_a_redemption_killed_inside_its_transaction_leaves_none_of_it(store, db_url, key_path):
    add_client(store, "Zed Shop", "USD")
    cards = make_cards(store, 6, amount="10", expires=FAR)
    proc = start_redeeming(db_url, key_path, [("Zed Shop", pin) for pin, _ in cards], hang=3)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip() == "inside":
                break
        assert lines[-1:] == ["inside"], proc.stderr.read() if proc.poll() is not None else lines
    finally:
        committed = kill(proc) if proc.poll() is None else []
    assert lines[:-1] + committed == [card.serial for _, card in cards[:3]]

    check_sound(store, db_url)
    assert balance("Zed Shop") == 3000
    caught = Card.get_by_id(cards[3][1].id)
    assert caught.activated_at is None  # the card update was in the killed transaction: gone
    assert LedgerEntry.select().where(LedgerEntry.card == caught.id).count() == 0
    # and the card can still be redeemed
    assert redeem(store, "Zed Shop", cards[3][0]).balance == 4000
    check_sound(store, db_url)


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_redemptions_killed_at_a_random_point_leave_the_books_balanced(store, db_url, key_path, delay):
    set_lockout(store, failures=1000)
    add_client(store, "Zed Shop", "USD")
    add_client(store, "Yan Market", "USD")
    cards = make_cards(store, 2000, amount="1.25", expires=FAR)  # far more than it gets through before the kill
    rng = random.Random(delay)
    proc = start_redeeming(db_url, key_path, [(rng.choice(["Zed Shop", "Yan Market"]), pin) for pin, _ in cards])
    try:
        first = proc.stdout.readline()  # one redemption committed: the loop is running
        assert first.strip(), proc.stderr.read()
        time.sleep(delay + rng.random() * 0.05)
        assert proc.poll() is None, "all redemptions finished before the kill"
    finally:
        serials = [first.strip(), *kill(proc)] if proc.poll() is None else []
    activated = Card.select().where(Card.activated_at.is_null(False)).count()
    # every redemption it reported is there; at most one more had committed without being reported
    assert len(serials) <= activated <= len(serials) + 1
    check_sound(store, db_url)
    assert balance("Zed Shop") + balance("Yan Market") == activated * 125
