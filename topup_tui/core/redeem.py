"""Redeeming a PIN: the card's amount lands on a client's balance, once.

One transaction does all of it: the conditional UPDATE that marks the card activated only if it
is still redeemable (on PostgreSQL the UPDATE re-checks its condition after waiting for a
concurrent one, so of N concurrent redemptions of one PIN exactly one matches), the ledger
entry (whose unique card column is a second guard), the balance change and the audit event.
A refusal records a failed attempt in its own committed transaction; enough of them lock the
client for a while (the guessing lockout), counted in the database so they survive a restart
and add up across processes. The attempts of one client are serialised (SQLite's BEGIN
IMMEDIATE; on PostgreSQL a row lock on the client), so parallel guesses cannot outrun the lockout.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import peewee as pw

from topup_tui.core.clients import find_client
from topup_tui.core.database import Store
from topup_tui.core.errors import Refused
from topup_tui.core.models import AuditEvent, Card, Client, LedgerEntry, Meta, RedeemFailure, format_serial
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
                raise InputError(key.removeprefix("lockout_"), f"must be 1..10000, got {value}")
            Meta.insert(key=key, value=str(int(value))).on_conflict(
                conflict_target=[Meta.key], update={Meta.value: str(int(value))}
            ).execute()
        store.audit("set-lockout", "settings", 0, failures=failures, minutes=minutes)
    return lockout_settings()


def redeem(store: Store, client_name: str, pin_text: str, *, now: datetime | None = None) -> Redeemed:
    """Credit the card whose PIN is `pin_text` to `client_name`, or raise RedeemRefused (or InputError).

    A malformed PIN is bad input (InputError) and is not counted as a guess.

    The success path runs prepared SQL (`_sql`) rather than building peewee queries: a redemption
    is a handful of one-row statements, and composing them cost more than running them.
    """
    pin = normalize_pin(pin_text)
    now = to_utc(now or utcnow())
    at = int(now.timestamp())  # as UTCTimeField stores it
    pin_ct = store.key.encrypt(pin)
    name = " ".join((client_name or "").split())
    sql = _sql(store)
    with store.write():
        execute = _executor(store)
        # On PostgreSQL the client's row stays locked until the commit: the attempts of one
        # client run one after another, so each sees the failures and the lock of the ones
        # before it, and guesses sent in parallel cannot outrun the lockout. (SQLite's BEGIN
        # IMMEDIATE already serialises every writer.)
        row = execute(sql.client, (name,)).fetchone() if name else None
        if row is None:
            find_client(client_name)  # raises the InputError naming the client
            raise AssertionError(client_name)
        client_id, name, currency, reseller_id, locked_until = row
        if locked_until is not None and locked_until > at:
            raise RedeemRefused(
                f"client {name!r} is locked until {format_time(_time(locked_until))} after too many wrong PINs",
                code="client-locked",
            )
        params = (at, client_id, pin_ct, at, currency) + ((reseller_id,) if reseller_id is not None else ())
        cursor = execute(sql.claim_any if reseller_id is None else sql.claim_own, params)
        if sql.returning:
            won = cursor.fetchall()
        else:
            won = execute(sql.card, (pin_ct,)).fetchall() if cursor.rowcount == 1 else []
        if won:
            (card_id, series, number, amount, card_currency), = won
            execute(sql.ledger, (client_id, card_id, amount, card_currency, at))
            cursor = execute(sql.credit, (amount, client_id))
            if not sql.returning:
                cursor = execute(sql.balance, (client_id,))
            (balance,), = cursor.fetchall()
            serial = format_serial(series, number)
            event = store.audit_values("redeem", f"card {card_id}", 1, serial=serial, client=name,
                                       amount=amount, currency=card_currency)
            cursor = execute(sql.audit, (int(event["at"].timestamp()), event["actor"], event["action"],
                                         event["target"], event["count"], event["details"]))
            # The event's target names the card: the card's history finds it without a link row.
            return Redeemed(name, serial, amount, card_currency, balance, now)
        client = Client.get_by_id(client_id)
        failures, minutes = lockout_settings()
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


@dataclass(frozen=True)
class _Statements:
    returning: bool
    client: str
    claim_any: str  # the conditional UPDATE for a client without a reseller
    claim_own: str  # ... for a client with one: the card has no reseller or the client's
    card: str
    ledger: str
    credit: str
    balance: str
    audit: str


_STATEMENTS: dict[tuple[str, bool, bool], _Statements] = {}


def _sql(store: Store) -> _Statements:
    """The success path's statements for this database's dialect, built once from the models."""
    database = store.database
    returning = not store.is_sqlite or sqlite3.sqlite_version_info >= (3, 35, 0)
    cache_key = (database.param, store.is_sqlite, returning)
    cached = _STATEMENTS.get(cache_key)
    if cached is not None:
        return cached
    p = database.param

    def q(name: str) -> str:
        return '"' + name + '"'

    def t(model) -> str:
        return q(model._meta.table_name)

    def c(field) -> str:
        return q(field.column_name)

    card_columns = ", ".join(c(f) for f in (Card.id, Card.series, Card.number, Card.amount, Card.currency))
    claim = (
        f"UPDATE {t(Card)} SET {c(Card.activated_at)} = {p}, {c(Card.activated_by)} = {p} "
        f"WHERE {c(Card.pin_ct)} = {p} AND {c(Card.activated_at)} IS NULL AND {c(Card.expires_at)} > {p} "
        f"AND {c(Card.currency)} = {p}"
    )
    own = f" AND ({c(Card.reseller)} IS NULL OR {c(Card.reseller)} = {p})"
    card_returning = f" RETURNING {card_columns}" if returning else ""
    credit = f"UPDATE {t(Client)} SET {c(Client.balance)} = {c(Client.balance)} + {p} WHERE {c(Client.id)} = {p}"
    ledger_columns = ", ".join(c(f) for f in (LedgerEntry.client, LedgerEntry.card, LedgerEntry.amount,
                                              LedgerEntry.currency, LedgerEntry.at))
    client_columns = ", ".join(c(f) for f in (Client.id, Client.name, Client.currency, Client.reseller,
                                              Client.locked_until))
    audit_columns = ", ".join(c(f) for f in (AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.target,
                                             AuditEvent.count, AuditEvent.details))
    statements = _Statements(
        returning=returning,
        client=f"SELECT {client_columns} FROM {t(Client)} WHERE {c(Client.name)} = {p}"
        + ("" if store.is_sqlite else " FOR NO KEY UPDATE"),
        claim_any=claim + card_returning,
        claim_own=claim + own + card_returning,
        card=f"SELECT {card_columns} FROM {t(Card)} WHERE {c(Card.pin_ct)} = {p}",
        ledger=f"INSERT INTO {t(LedgerEntry)} ({ledger_columns}) VALUES ({p}, {p}, {p}, {p}, {p})",
        credit=credit + (f" RETURNING {c(Client.balance)}" if returning else ""),
        balance=f"SELECT {c(Client.balance)} FROM {t(Client)} WHERE {c(Client.id)} = {p}",
        audit=f"INSERT INTO {t(AuditEvent)} ({audit_columns}) VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
    )
    _STATEMENTS[cache_key] = statements
    return statements


# What `Database.execute_sql` wraps every statement in: the driver's exceptions become peewee's
# (so that `store.write` can translate a busy database into one clear line).
_driver_errors = pw.__exception_wrapper__


def _executor(store: Store):
    """`execute(sql, params) -> cursor` straight on the driver's connection, inside the caller's
    transaction. The success path runs its few statements this way: peewee's per-statement
    bookkeeping (a new cursor, logging, hooks) cost as much as some of the statements themselves."""
    cursor = store.database.connection().cursor()
    run = cursor.execute

    def execute(sql: str, params: tuple):
        try:
            run(sql, params)
        except Exception:  # free when nothing is raised, unlike entering the wrapper every time
            with _driver_errors:
                raise
        return cursor

    return execute


def _time(epoch: int) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


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
