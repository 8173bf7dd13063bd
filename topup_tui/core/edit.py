"""Mass edit and delete: the reference's Mass Edit dialog (Process, Delete all) as core calls.

A scope is either explicit card ids (the operator's marks) or every card matching a filter.
Activated cards are part of a client's balance history: an edit leaves them as they are and a
delete keeps them; results and previews say how many. Each call is one transaction with one
audit event naming the operator, the scope, the change and the count. Serial numbers of deleted
cards are never handed out again (the series counter only moves forward).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from topup_tui.core.errors import InputError, Refused
from topup_tui.core.filters import CardFilter
from topup_tui.core.models import Card, CardEvent, card_status
from topup_tui.core.resellers import find_reseller
from topup_tui.core.times import format_time, to_utc, utcnow

_ID_CHUNK = 900  # ids per IN (...) list: under every SQLite's variable limit


@dataclass(frozen=True)
class Scope:
    """The cards an edit or delete applies to: `ids`, or every card matching `filter`."""

    ids: tuple[int, ...] | None = None
    filter: CardFilter | None = None

    @classmethod
    def of_ids(cls, ids: Iterable[int]) -> "Scope":
        ids = tuple(sorted({int(i) for i in ids}))
        if not ids:
            raise InputError("ids", "no cards selected")
        return cls(ids=ids)

    @classmethod
    def matching(cls, flt: CardFilter | None) -> "Scope":
        return cls(filter=flt or CardFilter())

    @property
    def is_everything(self) -> bool:
        return self.ids is None and (self.filter is None or self.filter.is_empty)

    def conditions(self, store, now: datetime) -> list[pw.Expression]:
        """One condition for a filter; one per chunk of ids (an IN list has a size limit)."""
        if self.ids is not None:
            return [Card.id.in_(self.ids[i : i + _ID_CHUNK]) for i in range(0, len(self.ids), _ID_CHUNK)]
        return [(self.filter or CardFilter()).where(store, now)]

    def describe(self) -> dict[str, object]:
        if self.ids is not None:
            return {"ids": list(self.ids)}
        return {"filter": (self.filter or CardFilter()).as_dict()}

    def summary(self) -> str:
        if self.ids is not None:
            return f"{len(self.ids):,} selected cards"
        return (self.filter or CardFilter()).describe()


@dataclass(frozen=True)
class Preview:
    new: int
    activated: int
    expired: int

    @property
    def total(self) -> int:
        return self.new + self.activated + self.expired

    @property
    def changeable(self) -> int:
        return self.new + self.expired

    def sentence(self, verb: str) -> str:
        """`this will change 1,204 cards (3 activated kept)`."""
        kept = f" ({self.activated:,} activated kept)" if self.activated else ""
        return f"this will {verb} {self.changeable:,} cards{kept}"


@dataclass(frozen=True)
class EditResult:
    changed: int
    kept_activated: int
    event_id: int | None

    def sentence(self, verb: str) -> str:
        kept = f"; {self.kept_activated:,} activated cards kept as they are" if self.kept_activated else ""
        return f"{verb} {self.changed:,} cards{kept}"


def preview(store, scope: Scope, *, now: datetime | None = None) -> Preview:
    """Counts by status of the cards in `scope`: what an edit or delete would touch. Writes nothing."""
    now = to_utc(now or utcnow())
    counts = {"new": 0, "activated": 0, "expired": 0}
    status = pw.Case(None, [(Card.activated_at.is_null(False), "activated"), (Card.expires_at <= now, "expired")], "new")
    for cond in scope.conditions(store, now):
        for name, count in Card.select(status, pw.fn.COUNT(Card.id)).where(cond).group_by(status).tuples():
            counts[name] += count
    return Preview(**counts)


def mass_edit(
    store,
    scope: Scope,
    *,
    set_expires: datetime | None = None,
    set_reseller: str | None = None,
    now: datetime | None = None,
) -> EditResult:
    """Set the expiration and/or the reseller of every unredeemed card in `scope`.

    `None` means "preserve". An expiration in the past is allowed: it is how a stolen or
    withdrawn batch is expired at once.
    """
    now = to_utc(now or utcnow())
    if set_expires is None and set_reseller is None:
        raise InputError("mass_edit", "nothing to change: set the expiration date, the company, or both")
    changes: dict = {}
    with store.write():
        if set_reseller is not None:
            reseller = find_reseller(set_reseller)
            if reseller is None:  # a blank name, which find_reseller reads as "no reseller"
                raise InputError("set_reseller", "is blank: give the name of an existing reseller")
            changes[Card.reseller] = reseller.id
        if set_expires is not None:
            changes[Card.expires_at] = to_utc(set_expires)
        conditions = scope.conditions(store, now)
        before = _count(conditions)
        event = store.audit("mass-edit", scope.summary(), 0, scope=scope.describe(), **_describe(set_expires, set_reseller))
        changed = 0
        for cond in conditions:
            unredeemed = cond & Card.activated_at.is_null()
            _link(unredeemed, event.id)
            changed += Card.update(changes).where(unredeemed).execute()
        _set_count(event, changed, kept_activated=before - changed)
    return EditResult(changed, before - changed, event.id)


def delete_cards(
    store, scope: Scope, *, confirm_all: bool = False, expected: int | None = None, now: datetime | None = None
) -> EditResult:
    """Delete every unredeemed card in `scope`; activated cards are kept.

    A scope of every card (the reference's "Delete all") needs `confirm_all=True`. With
    `expected` (the count the operator confirmed), a scope that no longer holds exactly that
    many deletable cards is refused, nothing deleted.
    """
    now = to_utc(now or utcnow())
    if scope.is_everything and not confirm_all:
        raise Refused("deleting every card needs an explicit confirmation", code="confirm-all")
    with store.write():
        conditions = scope.conditions(store, now)
        before = _count(conditions)
        event = store.audit("delete", scope.summary(), 0, scope=scope.describe())
        deleted = 0
        for cond in conditions:
            deleted += Card.delete().where(cond & Card.activated_at.is_null()).execute()
        if expected is not None and deleted != expected:
            raise Refused(
                f"the scope now holds {deleted:,} deletable cards, not the {expected:,} confirmed; nothing deleted",
                code="count-changed",
            )
        _set_count(event, deleted, kept_activated=before - deleted)
    return EditResult(deleted, before - deleted, event.id)


def _count(conditions: list[pw.Expression]) -> int:
    return sum(Card.select(pw.fn.COUNT(Card.id)).where(c).scalar() or 0 for c in conditions)


def _link(cond: pw.Expression, event_id: int) -> None:
    """Record that `event_id` touched every card matching `cond` (before the change moves them)."""
    query = Card.select(Card.id, pw.Value(event_id)).where(cond)
    CardEvent.insert_from(query, [CardEvent.card_id, CardEvent.event_id]).on_conflict_ignore().execute()


def _set_count(event, count: int, **extra) -> None:
    import json

    details = json.loads(event.details)
    details.update(extra)
    event.count = count
    event.details = json.dumps(details, sort_keys=True, default=str)
    event.save()


def _describe(set_expires: datetime | None, set_reseller: str | None) -> dict:
    return {
        "set_expires": format_time(set_expires) if set_expires else "preserve",
        "set_reseller": set_reseller if set_reseller is not None else "preserve",
    }


__all__ = ["Scope", "Preview", "EditResult", "preview", "mass_edit", "delete_cards", "card_status"]
