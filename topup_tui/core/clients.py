"""Clients (customer accounts) and renaming resellers: the people and companies around cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from topup_tui.core.database import Store
from topup_tui.core.errors import InputError
from topup_tui.core.models import Card, Client, LedgerEntry, Reseller, format_serial
from topup_tui.core.money import format_amount, parse_currency
from topup_tui.core.resellers import check_name, find_reseller
from topup_tui.core.times import utcnow


def find_client(name: str | None, field: str = "client") -> Client:
    text = " ".join((name or "").split())
    if not text:
        raise InputError(field, "is required")
    client = Client.get_or_none(Client.name == text)
    if client is None:
        raise InputError(field, f"no client named {text!r} (add it with: topup-tui clients add NAME --currency USD)")
    return client


def add_client(store: Store, name: str, currency: str, reseller: str | None = None) -> Client:
    name = check_name(name)
    currency = parse_currency(currency)
    with store.write():
        owner = find_reseller(reseller)
        if Client.get_or_none(Client.name == name) is not None:
            raise InputError("name", f"a client named {name!r} already exists")
        try:
            client = Client.create(name=name, currency=currency, reseller=owner, balance=0, created_at=utcnow())
        except pw.IntegrityError:
            raise InputError("name", f"a client named {name!r} already exists") from None
        store.audit("add-client", f"client {client.id}", 1, name=name, currency=currency,
                    reseller=owner.name if owner else None)
    return client


def rename_client(store: Store, old: str, new: str) -> Client:
    return _rename(store, "client", lambda: find_client(old), new)


def rename_reseller(store: Store, old: str, new: str) -> Reseller:
    return _rename(store, "reseller", lambda: find_reseller(old), new)


def _rename(store: Store, kind: str, find, new: str):
    """Rename the client or reseller `find()` returns; names stay unique; audited."""
    new = check_name(new, "new_name")
    with store.write():
        row = find()
        if row.name == new:
            return row
        if type(row).get_or_none(type(row).name == new) is not None:
            raise InputError("new_name", f"a {kind} named {new!r} already exists")
        before, row.name = row.name, new
        row.save()
        store.audit(f"rename-{kind}", f"{kind} {row.id}", 1, old=before, new=new)
    return row


@dataclass(frozen=True)
class ClientSummary:
    id: int
    name: str
    currency: str
    reseller: str | None
    balance: int
    locked_until: datetime | None

    @property
    def balance_text(self) -> str:
        return format_amount(self.balance, self.currency)


@dataclass(frozen=True)
class LedgerLine:
    at: datetime
    serial: str
    amount: int
    currency: str

    @property
    def amount_text(self) -> str:
        return format_amount(self.amount, self.currency)


def list_clients(store: Store) -> list[ClientSummary]:
    query = (
        Client.select(Client, Reseller.name.alias("reseller_name"))
        .join(Reseller, pw.JOIN.LEFT_OUTER)
        .order_by(Client.name)
    )
    return [
        ClientSummary(c.id, c.name, c.currency, getattr(c, "reseller_name", None) if c.reseller_id else None,
                      c.balance, c.locked_until)
        for c in query.objects()
    ]


def client_ledger(store: Store, name: str) -> tuple[ClientSummary, list[LedgerLine]]:
    client = find_client(name)
    reseller = Reseller.get_by_id(client.reseller_id).name if client.reseller_id else None
    summary = ClientSummary(client.id, client.name, client.currency, reseller, client.balance, client.locked_until)
    query = (
        LedgerEntry.select(LedgerEntry.at, Card.series, Card.number, LedgerEntry.amount, LedgerEntry.currency)
        .join(Card)
        .where(LedgerEntry.client == client.id)
        .order_by(LedgerEntry.at, LedgerEntry.id)
        .tuples()
    )
    lines = [LedgerLine(at, format_serial(series, number), amount, currency) for at, series, number, amount, currency in query]
    return summary, lines
