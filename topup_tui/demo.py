"""Realistic demo data: resellers, clients, several batches and series, some cards activated,
some expired. For trying the app and for the screenshots. Uses the core only."""

from __future__ import annotations

import random
from datetime import timedelta

from topup_tui.core.database import Store
from topup_tui.core.errors import InputError
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import Card, Client, Reseller
from topup_tui.core.resellers import add_reseller
from topup_tui.core.times import format_time, utcnow

RESELLERS = ["Reseller 1", "Acme Telecom", "Northwind VoIP", "[bold]Markup & Co[/]"]
CLIENTS = ["Rose Orig", "Ivan Petrov", "Maria Garcia", "Chen Wei", "Amina Diallo", "Tom Baker"]
# (series, amount, quantity, reseller index, days ago created, days until expiry from creation)
BATCHES = [
    ("1", "15", 120, 0, 400, 300),   # expired: made long ago, expired 100 days ago
    ("2", "26", 80, 1, 200, 700),
    ("3", "8", 150, 0, 30, 365),
    ("101", "10", 250, 2, 10, 365),
    ("101", "25.50", 100, 3, 2, 365),
    ("VIP", "100", 40, 1, 1, 730),
]


def fill_demo(store: Store, *, seed: int | None = None) -> dict[str, int]:
    """Add the demo data to `store` (refuses if it already has cards). Returns what was made."""
    if Card.select().exists():
        raise InputError("demo", "the database already has cards; use an empty database for the demo")
    rng = random.Random(seed)  # only picks which demo cards look used; PINs come from secrets
    now = utcnow()
    resellers = []
    for name in RESELLERS:
        existing = Reseller.get_or_none(Reseller.name == name)
        resellers.append(existing or add_reseller(store, name))
    clients = []
    with store.write():
        for i, name in enumerate(CLIENTS):
            client = Client.get_or_none(Client.name == name) or Client.create(
                name=name, currency="USD", reseller=resellers[i % 2].id if i < 2 else None,
                balance=0, created_at=now - timedelta(days=500),
            )
            clients.append(client)
    made = 0
    for series, amount, quantity, r, days_ago, lifetime in BATCHES:
        created = now - timedelta(days=days_ago)
        request = build_request(
            amount=amount, currency="USD", quantity=quantity, series=series, pin_length=16,
            reseller=resellers[r].name, expires=format_time(created + timedelta(days=lifetime)), now=created,
        )
        result = generate_cards(store, request, now=created)
        made += result.count
        # Some cards of each batch were redeemed by clients, a while after the batch was made.
        ids = [c.id for c in Card.select(Card.id).where(Card.batch == result.batch_id)]
        used = rng.sample(ids, k=max(1, len(ids) // 8))
        with store.write():
            for card_id in used:
                client = rng.choice(clients)
                when = created + timedelta(days=rng.uniform(0, min(days_ago, lifetime) * 0.9), )
                card = Card.get_by_id(card_id)
                Card.update(activated_at=when.replace(microsecond=0), activated_by=client.id).where(Card.id == card_id).execute()
                Client.update(balance=Client.balance + card.amount).where(Client.id == client.id).execute()
            store.audit("demo-activate", f"batch {result.batch_id}", len(used))
    return {"resellers": len(resellers), "clients": len(clients), "cards": made, "batches": len(BATCHES)}
