"""Redeeming a PIN: the card's amount lands on a client's balance, once.

One transaction does all of it: the conditional UPDATE that marks the card activated only if it
is still redeemable (on PostgreSQL the UPDATE re-checks its condition after waiting for a
concurrent one, so of N concurrent redemptions of one PIN exactly one matches), the ledger
entry (whose unique card column is a second guard), the balance change and the audit event.
A refusal records a failed attempt in its own committed transaction; enough of them lock the
client for a while (the guessing lockout), counted in the database so they survive a restart
and add up across processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee as pw

from topup_tui.core.clients import find_client
from topup_tui.core.database import Store
from topup_tui.core.errors import Refused
from topup_tui.core.models import Card, Client, LedgerEntry, Meta, RedeemFailure, format_serial
from topup_tui.core.money import format_amount
from topup_tui.core.pins import normalize_pin
from topup_tui.core.times import format_time, to_utc, utcnow

DEFAULT_MAX_FAILURES = 5
DEFAULT_WINDOW_S = 15 * 60
SETTINGS = {"lockout_failures": DEFAULT_MAX_FAILURES, "lockout_minutes": DEFAULT_WINDOW_S // 60}


@dataclass(frozen=True)
class Redeemed:
    client: str
    serial: str
    amount: int
    currency: str
    balance: int
    at: datetime

    def as_dict(self) -> dict:
        return {
            "ok": True, "code": "redeemed", "client": self.client, "serial": self.serial,
            "amount": format_amount(self.amount, self.currency, with_code=False), "currency": self.currency,
            "balance": format_amount(self.balance, self.currency, with_code=False), "at": format_time(self.at),
        }

    def sentence(self) -> str:
        return (f"redeemed {self.serial}: {format_amount(self.amount, self.currency)} credited to {self.client}; "
                f"balance {format_amount(self.balance, self.currency)}")


class RedeemRefused(Refused):
    """A refusal with a stable reason code: no-such-pin, already-activated, expired,
    other-currency, other-reseller, client-locked."""


def lockout_settings() -> tuple[int, int]:
    """(failures, minutes): after `failures` wrong PINs within `minutes`, lock for `minutes`."""
    stored = {m.key: m.value for m in Meta.select().where(Meta.key.in_(list(SETTINGS)))}
    failures = int(stored.get("lockout_failures", SETTINGS["lockout_failures"]))
    minutes = int(stored.get("lockout_minutes", SETTINGS["lockout_minutes"]))
    return failures, minutes


def set_lockout(store: Store, *, failures: int | None = None, minutes: int | None = None) -> tuple[int, int]:
    from topup_tui.core.errors import InputError

    with store.write():
        for key, value in (("lockout_failures", failures), ("lockout_minutes", minutes)):
            if value is None:
                continue
            if not 1 <= int(value) <= 10_000:
                raise InputError(key, f"must be 1..10000, got {value}")
            Meta.insert(key=key, value=str(int(value))).on_conflict(
                conflict_target=[Meta.key], update={Meta.value: str(int(value))}
            ).execute()
        store.audit("set-lockout", "settings", 0, failures=failures, minutes=minutes)
    return lockout_settings()


def redeem(store: Store, client_name: str, pin_text: str, *, now: datetime | None = None) -> Redeemed:
    """Credit the card whose PIN is `pin_text` to `client_name`, or raise RedeemRefused (or InputError).

    A malformed PIN is bad input (InputError) and is not counted as a guess.
    """
    pin = normalize_pin(pin_text)
    now = to_utc(now or utcnow())
    pin_ct = store.key.encrypt(pin)
    refusal: RedeemRefused | None = None
    with store.write():
        client = find_client(client_name)
        failures, minutes = lockout_settings()
        if client.locked_until is not None and client.locked_until > now:
            raise RedeemRefused(
                f"client {client.name!r} is locked until {format_time(client.locked_until)} after too many wrong PINs",
                code="client-locked",
            )
        redeemable = (
            (Card.pin_ct == pin_ct)
            & Card.activated_at.is_null()
            & (Card.expires_at > now)
            & (Card.currency == client.currency)
        )
        if client.reseller_id is not None:
            redeemable &= Card.reseller.is_null() | (Card.reseller == client.reseller_id)
        won = Card.update(activated_at=now, activated_by=client.id).where(redeemable).execute()
        if won == 1:
            card = Card.get(Card.pin_ct == pin_ct)
            LedgerEntry.create(client=client.id, card=card.id, amount=card.amount, currency=card.currency, at=now)
            Client.update(balance=Client.balance + card.amount).where(Client.id == client.id).execute()
            balance = Client.select(Client.balance).where(Client.id == client.id).scalar()
            event = store.audit("redeem", f"card {card.id}", 1, serial=card.serial, client=client.name,
                                amount=card.amount, currency=card.currency)
            from topup_tui.core.models import CardEvent

            CardEvent.create(card_id=card.id, event_id=event.id)
            return Redeemed(client.name, card.serial, card.amount, card.currency, balance, now)
        refusal = _why_not(pin_ct, client, now)
        RedeemFailure.create(client=client.id, at=now, reason=refusal.code)
        recent = (
            RedeemFailure.select(pw.fn.COUNT(RedeemFailure.id))
            .where((RedeemFailure.client == client.id) & (RedeemFailure.at > now - timedelta(minutes=minutes)))
            .scalar()
        )
        if recent >= failures:
            until = now + timedelta(minutes=minutes)
            Client.update(locked_until=until).where(Client.id == client.id).execute()
            store.audit("lock-client", f"client {client.id}", recent, client=client.name, until=format_time(until))
        store.audit("redeem-refused", f"client {client.id}", 0, client=client.name, reason=refusal.code)
    raise refusal  # after the commit: the failed attempt is counted


def _why_not(pin_ct: bytes, client: Client, now: datetime) -> RedeemRefused:
    card = Card.get_or_none(Card.pin_ct == pin_ct)
    if card is None:
        return RedeemRefused("no card has this PIN", code="no-such-pin")
    serial = format_serial(card.series, card.number)
    if card.activated_at is not None:
        who = Client.get_or_none(Client.id == card.activated_by_id)
        return RedeemRefused(
            f"{serial} was already activated by {who.name if who else 'someone'} at {format_time(card.activated_at)}",
            code="already-activated",
        )
    if card.expires_at <= now:
        return RedeemRefused(f"{serial} expired at {format_time(card.expires_at)}", code="expired")
    if card.currency != client.currency:
        return RedeemRefused(f"{serial} is in {card.currency}; {client.name}'s balance is in {client.currency}",
                             code="other-currency")
    return RedeemRefused(f"{serial} belongs to another reseller than {client.name}'s", code="other-reseller")
