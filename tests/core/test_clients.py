"""Clients and resellers: add, list, rename, unique names, and a client's ledger and balance.

Every test runs on SQLite and, when TOPUP_TEST_PG_URL is set, on PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import LATER, NOW
from topup_tui.core.clients import add_client, client_ledger, find_client, list_clients, rename_client, rename_reseller
from topup_tui.core.errors import InputError
from topup_tui.core.generate import build_request, generate_cards
from topup_tui.core.models import AuditEvent, Card, Client, Reseller, format_serial
from topup_tui.core.redeem import redeem
from topup_tui.core.resellers import add_reseller, list_resellers
from topup_tui.core.times import format_time


def make_cards(store, quantity: int, *, amount: str = "10", currency: str = "USD", reseller: str | None = None,
               series: str = "101") -> list[tuple[str, Card]]:
    """`quantity` new cards through the core; returns (PIN, card) pairs in serial order."""
    request = build_request(amount=amount, currency=currency, quantity=quantity, series=series, pin_length=16,
                            reseller=reseller, expires=format_time(LATER), now=NOW)
    batch = generate_cards(store, request, now=NOW)
    cards = Card.select().where(Card.batch == batch.batch_id).order_by(Card.number)
    return [(store.key.decrypt(card.pin_ct), card) for card in cards]


def audit_actions() -> list[tuple[str, dict]]:
    return [(e.action, json.loads(e.details)) for e in AuditEvent.select().order_by(AuditEvent.id)]


# --- adding and listing --------------------------------------------------------------------------


def test_add_and_list_clients(store):
    add_reseller(store, "Alpha")
    zed = add_client(store, "Zed Shop", "usd")
    yan = add_client(store, "  Yan   Market ", "EUR", reseller="Alpha")
    assert (zed.name, zed.currency, zed.reseller_id, zed.balance) == ("Zed Shop", "USD", None, 0)
    assert (yan.name, yan.currency) == ("Yan Market", "EUR")  # whitespace collapsed, code upper-cased

    rows = list_clients(store)
    assert [(r.name, r.currency, r.reseller, r.balance, r.locked_until) for r in rows] == [
        ("Yan Market", "EUR", "Alpha", 0, None),
        ("Zed Shop", "USD", None, 0, None),
    ]  # by name
    assert rows[1].balance_text == "0.00 USD"
    assert find_client(" Zed  Shop ").id == zed.id
    assert ("add-client", {"currency": "EUR", "name": "Yan Market", "reseller": "Alpha"}) in audit_actions()


def test_no_clients_lists_nothing(store):
    assert list_clients(store) == []


def test_client_names_are_unique(store):
    add_client(store, "Zed Shop", "USD")
    for same in ("Zed Shop", "  Zed   Shop  "):
        with pytest.raises(InputError) as info:
            add_client(store, same, "EUR")
        assert info.value.field == "name"
        assert "a client named 'Zed Shop' already exists" in str(info.value)
    assert Client.select().count() == 1


@pytest.mark.parametrize(
    ("name", "currency", "reseller", "field"),
    [
        ("", "USD", None, "name"),
        ("   ", "USD", None, "name"),
        ("x" * 201, "USD", None, "name"),
        ("Bad\x07Name", "USD", None, "name"),
        ("Zed Shop", "", None, "currency"),
        ("Zed Shop", "US", None, "currency"),
        ("Zed Shop", "U5D", None, "currency"),
        ("Zed Shop", "USD", "Nobody", "reseller"),
    ],
)
def test_bad_client_input_is_refused_with_its_field(store, name, currency, reseller, field):
    with pytest.raises(InputError) as info:
        add_client(store, name, currency, reseller=reseller)
    assert info.value.field == field
    assert Client.select().count() == 0


def test_reseller_names_are_unique(store):
    add_reseller(store, "Alpha")
    with pytest.raises(InputError) as info:
        add_reseller(store, " Alpha ")
    assert info.value.field == "name"
    assert "already exists" in str(info.value)
    assert [r.name for r in list_resellers(store)] == ["Alpha"]


# --- renaming ------------------------------------------------------------------------------------


def test_rename_client(store):
    zed = add_client(store, "Zed Shop", "USD")
    renamed = rename_client(store, "Zed Shop", "  Zed   Store ")
    assert renamed.id == zed.id
    assert renamed.name == "Zed Store"
    assert [c.name for c in list_clients(store)] == ["Zed Store"]
    with pytest.raises(InputError) as info:
        find_client("Zed Shop")
    assert info.value.field == "client"
    assert ("rename-client", {"new": "Zed Store", "old": "Zed Shop"}) in audit_actions()


def test_renaming_a_client_keeps_its_ledger(store):
    add_client(store, "Zed Shop", "USD")
    (pin, card), = make_cards(store, 1)
    redeem(store, "Zed Shop", pin, now=NOW)
    rename_client(store, "Zed Shop", "Zed Store")
    summary, lines = client_ledger(store, "Zed Store")
    assert summary.balance == 1000
    assert [line.serial for line in lines] == [card.serial]


def test_rename_client_to_a_taken_name_is_refused(store):
    add_client(store, "Zed Shop", "USD")
    add_client(store, "Yan Market", "USD")
    with pytest.raises(InputError) as info:
        rename_client(store, "Zed Shop", "Yan  Market")
    assert info.value.field == "new_name"
    assert "a client named 'Yan Market' already exists" in str(info.value)
    assert sorted(c.name for c in Client.select()) == ["Yan Market", "Zed Shop"]


def test_rename_client_to_its_own_name_changes_nothing(store):
    add_client(store, "Zed Shop", "USD")
    before = AuditEvent.select().count()
    assert rename_client(store, "Zed Shop", " Zed Shop ").name == "Zed Shop"
    assert AuditEvent.select().count() == before


@pytest.mark.parametrize(("old", "new", "field"), [("Nobody", "X", "client"), ("Zed Shop", "", "new_name"),
                                                   ("Zed Shop", "y" * 201, "new_name")])
def test_bad_client_rename(store, old, new, field):
    add_client(store, "Zed Shop", "USD")
    with pytest.raises(InputError) as info:
        rename_client(store, old, new)
    assert info.value.field == field
    assert [c.name for c in Client.select()] == ["Zed Shop"]


def test_rename_reseller(store):
    alpha = add_reseller(store, "Alpha")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    (_, card), = make_cards(store, 1, reseller="Alpha")
    renamed = rename_reseller(store, "Alpha", "Alpha Telecom")
    assert renamed.id == alpha.id
    assert [r.name for r in Reseller.select()] == ["Alpha Telecom"]
    assert list_clients(store)[0].reseller == "Alpha Telecom"
    assert Card.get_by_id(card.id).reseller_id == alpha.id
    assert ("rename-reseller", {"new": "Alpha Telecom", "old": "Alpha"}) in audit_actions()


def test_rename_reseller_to_a_taken_name_is_refused(store):
    add_reseller(store, "Alpha")
    add_reseller(store, "Bravo")
    with pytest.raises(InputError) as info:
        rename_reseller(store, "Alpha", " Bravo ")
    assert info.value.field == "new_name"
    assert "a reseller named 'Bravo' already exists" in str(info.value)
    with pytest.raises(InputError) as info:
        rename_reseller(store, "Nobody", "Charlie")
    assert info.value.field == "reseller"
    assert sorted(r.name for r in Reseller.select()) == ["Alpha", "Bravo"]


# --- the ledger ----------------------------------------------------------------------------------


def test_client_ledger_lists_each_credit_with_time_and_serial(store):
    add_reseller(store, "Alpha")
    add_client(store, "Zed Shop", "USD", reseller="Alpha")
    add_client(store, "Yan Market", "USD")
    tens = make_cards(store, 2, amount="10")
    fives = make_cards(store, 1, amount="5.25", reseller="Alpha", series="202")
    times = [NOW + timedelta(hours=3), NOW + timedelta(hours=1), NOW + timedelta(hours=2)]
    redeem(store, "Zed Shop", tens[0][0], now=times[0])
    redeem(store, "Zed Shop", fives[0][0], now=times[1])
    redeem(store, "Yan Market", tens[1][0], now=times[2])

    summary, lines = client_ledger(store, "Zed Shop")
    assert (summary.name, summary.currency, summary.reseller, summary.balance) == ("Zed Shop", "USD", "Alpha", 1525)
    assert summary.balance_text == "15.25 USD"
    # oldest first, each with its time, the card's serial and the amount
    assert [(line.at, line.serial, line.amount, line.currency) for line in lines] == [
        (times[1], format_serial("202", 1), 525, "USD"),
        (times[0], format_serial("101", 1), 1000, "USD"),
    ]
    assert [line.amount_text for line in lines] == ["5.25 USD", "10.00 USD"]
    assert summary.balance == sum(line.amount for line in lines)

    summary, lines = client_ledger(store, "Yan Market")
    assert summary.balance == 1000
    assert [(line.at, line.serial) for line in lines] == [(times[2], format_serial("101", 2))]


def test_a_new_client_has_an_empty_ledger(store):
    add_client(store, "Zed Shop", "JPY")
    summary, lines = client_ledger(store, "Zed Shop")
    assert (summary.balance, summary.balance_text, lines) == (0, "0 JPY", [])


def test_ledger_of_an_unknown_client_is_bad_input(store):
    with pytest.raises(InputError) as info:
        client_ledger(store, "Nobody")
    assert info.value.field == "client"
    assert "no client named 'Nobody'" in str(info.value)
