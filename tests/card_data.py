"""A small card dataset built through the core, shared by the search, edit and CLI tests.

Three resellers (Alpha, Bravo, Charlie), six batches in four series with different amounts,
currencies, PIN lengths and expirations, nine cards activated by two clients (written with a
peewee update: redemption is a later feature), six cards expired at NOW and six that expire at
BOUNDARY. `records()` reads every card back with plain peewee queries, independently of
`topup_tui.core.search`, so expected results are computed in Python from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import LATER, NOW, PG_URL, _pg_admin
from topup_tui.core.database import Store, open_store
from topup_tui.core.generate import BatchResult, build_request, generate_cards
from topup_tui.core.models import Card, Client, Reseller, format_serial
from topup_tui.core.resellers import add_reseller
from topup_tui.core.times import format_time

BOUNDARY = datetime(2026, 9, 1, 0, 0, 0, tzinfo=UTC)  # batch b5 expires exactly then
B4_CREATED = datetime(2026, 1, 15, 8, 30, 0, tzinfo=UTC)  # b4: generated long ago, expired at NOW
RESELLERS = ("Alpha", "Bravo", "Charlie")
CLIENTS = ("Zed Shop", "Yan Market")

# name: (generate fields, generation time)
BATCHES = {
    "b1": (dict(series="101", quantity=30, amount="10", reseller="Alpha", expires=format_time(LATER)),
           NOW - timedelta(days=10)),
    "b2": (dict(series="101", quantity=15, amount="25.50", reseller="Bravo", expires="2026-12-31"),
           NOW - timedelta(days=5)),
    "b3": (dict(series="202", quantity=10, amount="5", reseller=None, expires="2027-06-30", pin_length=12),
           NOW - timedelta(days=2)),
    "b4": (dict(series="202", quantity=6, amount="10.50", reseller="Charlie", expires="2026-03-01"),
           B4_CREATED),
    "b5": (dict(series="AB7", quantity=6, amount="100", reseller="Alpha", expires="2026-09-01 00:00:00"),
           NOW - timedelta(days=1)),
    "b6": (dict(series="JP1", quantity=4, amount="1000", currency="JPY", reseller="Bravo",
                expires=format_time(LATER)),
           NOW),
}

# (batch, offset in batch, client, activated at); two b4 cards share an activation instant.
ACTIVATIONS = (
    ("b1", 0, "Zed Shop", NOW - timedelta(days=8)),
    ("b1", 1, "Zed Shop", NOW - timedelta(days=7)),
    ("b1", 2, "Yan Market", NOW - timedelta(days=6, hours=3)),
    ("b2", 11, "Yan Market", NOW - timedelta(days=3)),  # 101-000000042
    ("b3", 0, "Yan Market", NOW - timedelta(days=1)),
    ("b3", 5, "Zed Shop", NOW - timedelta(hours=5)),
    ("b4", 0, "Zed Shop", datetime(2026, 2, 1, 10, 0, 0, tzinfo=UTC)),
    ("b4", 3, "Zed Shop", datetime(2026, 2, 1, 10, 0, 0, tzinfo=UTC)),
    ("b5", 2, "Yan Market", NOW),
)


@dataclass(frozen=True)
class Dataset:
    batches: dict[str, BatchResult]
    resellers: dict[str, int]
    clients: dict[str, int]


@dataclass(frozen=True)
class Rec:
    """One card as stored, read without the search module."""

    id: int
    series: str
    number: int
    serial: str
    pin: str
    amount: int
    currency: str
    reseller: str | None
    client: str | None
    activated_at: datetime | None
    created_at: datetime
    expires_at: datetime
    batch: int

    def status(self, now: datetime) -> str:
        if self.activated_at is not None:
            return "activated"
        return "expired" if now >= self.expires_at else "new"


def generate(store, *, now: datetime, **fields) -> BatchResult:
    fields = {"currency": "USD", "pin_length": 16, **fields}
    return generate_cards(store, build_request(now=now, **fields), now=now)


def build(store) -> Dataset:
    resellers = {name: add_reseller(store, name).id for name in RESELLERS}
    clients = {name: Client.create(name=name, currency="USD", created_at=NOW).id for name in CLIENTS}
    batches = {name: generate(store, now=when, **fields) for name, (fields, when) in BATCHES.items()}
    for batch, offset, client, at in ACTIVATIONS:
        result = batches[batch]
        Card.update(activated_at=at, activated_by=clients[client]).where(
            (Card.series == result.series) & (Card.number == result.first_number + offset)
        ).execute()
    return Dataset(batches, resellers, clients)


def records(store) -> list[Rec]:
    """Every card, by id, read with plain queries."""
    resellers = {r.id: r.name for r in Reseller.select()}
    clients = {c.id: c.name for c in Client.select()}
    out = []
    for card in Card.select().order_by(Card.id):
        out.append(Rec(
            card.id, card.series, card.number, format_serial(card.series, card.number),
            store.key.decrypt(card.pin_ct), card.amount, card.currency,
            resellers.get(card.reseller_id), clients.get(card.activated_by_id), card.activated_at,
            card.created_at, card.expires_at, card.batch_id,
        ))
    return out


def serials(rows) -> set[str]:
    return {r.serial for r in rows}


@contextmanager
def module_store(backend: str, tmp: Path) -> Iterator[tuple[str, Path, Store, Dataset]]:
    """A database of its own with the dataset, for a module's read-only tests: (url, key, store, data).

    Like conftest's `db_url`/`store`, but made once (a test module's fixture with a wider
    scope than conftest's); a PostgreSQL schema is dropped afterwards.
    """
    if backend == "postgresql" and not PG_URL:
        pytest.skip("TOPUP_TEST_PG_URL is not set")
    schema = conn = None
    if backend == "sqlite":
        url = str(tmp / "topup.db")
    else:
        schema = f"topup_test_{uuid.uuid4().hex[:12]}"
        conn = _pg_admin()
        with conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    key = tmp / "topup.key"
    try:
        store = open_store(url, key_path=key, actor="tester")
        try:
            yield url, key, store, build(store)
        finally:
            store.close()
    finally:
        if conn is not None:
            with conn.cursor() as cur:
                cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.close()


STATUS_RANK = {"new": 0, "activated": 1, "expired": 2}


def expected_sorted(recs, column, descending, now):
    """The full sorted list, computed in Python: by the column, ties by card id, in the
    direction asked; cards without a value (no reseller, not activated) last either way."""
    value = {
        "status": lambda r: (STATUS_RANK[r.status(now)],),
        "serial": lambda r: (r.series, r.number),
        "amount": lambda r: (r.amount,),
        "reseller": lambda r: (r.reseller,),
        "activated": lambda r: (r.activated_at,),
        "created": lambda r: (r.created_at,),
        "expires": lambda r: (r.expires_at,),
    }[column]
    present = [r for r in recs if value(r)[0] is not None]
    absent = [r for r in recs if value(r)[0] is None]
    return (sorted(present, key=lambda r: (*value(r), r.id), reverse=descending)
            + sorted(absent, key=lambda r: r.id, reverse=descending))
