"""Resellers (companies): the owners of cards."""

from __future__ import annotations

import peewee as pw

from topup_tui.core.database import Store
from topup_tui.core.errors import InputError
from topup_tui.core.models import Reseller
from topup_tui.core.times import utcnow

MAX_NAME = 200


def check_name(text: str | None, field: str = "name") -> str:
    """A display name: trimmed, 1..200 characters, no control characters."""
    name = " ".join((text or "").split())
    if not name:
        raise InputError(field, "is required")
    if len(name) > MAX_NAME:
        raise InputError(field, f"is {len(name)} characters long; at most {MAX_NAME}")
    if any(ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        raise InputError(field, "must not contain control characters")
    return name


def add_reseller(store: Store, name: str) -> Reseller:
    name = check_name(name)
    with store.write():
        if Reseller.get_or_none(Reseller.name == name) is not None:
            raise InputError("name", f"a reseller named {name!r} already exists")
        try:
            reseller = Reseller.create(name=name, created_at=utcnow())
        except pw.IntegrityError:
            raise InputError("name", f"a reseller named {name!r} already exists") from None
        store.audit("add-reseller", f"reseller {reseller.id}", 1, name=name)
    return reseller


def list_resellers(store: Store) -> list[Reseller]:
    return list(Reseller.select().order_by(Reseller.name))


def reseller_names(store: Store) -> list[str]:
    """Every reseller's name, sorted: what a "Company" drop-down offers."""
    return [name for (name,) in Reseller.select(Reseller.name).order_by(Reseller.name).tuples()]


def find_reseller(name: str | None, field: str = "reseller") -> Reseller | None:
    """The reseller named `name` (None for no name); an unknown name is bad input."""
    if name is None or not name.strip():
        return None
    name = " ".join(name.split())
    reseller = Reseller.get_or_none(Reseller.name == name)
    if reseller is None:
        raise InputError(field, f"no reseller named {name!r} (add it with: topup-tui resellers add NAME)")
    return reseller
