"""The card filter of the Advanced Search: every field optional, all of them ANDed.

`parse_filter(fields)` validates what an operator typed (each field's message keyed by field,
for the TUI to show beside it; the CLI prints the first). `CardFilter.where(store, now)` turns a
filter into one SQL condition on the card table alone (names are resolved to ids first), so the
same condition drives a page, a count, a preview, a mass edit and a delete.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields as dc_fields
from datetime import datetime

import peewee as pw

from topup_tui.core.errors import InputError, raise_first
from topup_tui.core.models import Card, Client, Reseller, format_serial
from topup_tui.core.money import format_amount, parse_amount, parse_currency
from topup_tui.core.pins import normalize_pin
from topup_tui.core.times import format_time, parse_time

STATUSES = ("new", "activated", "expired")
ALL_RESELLERS = "all resellers"
_SERIAL_RE = re.compile(r"([A-Za-z0-9]{1,12})-(\d{1,9})")


def parse_serial(text: str | None, field: str = "serial") -> tuple[str, int]:
    """`101-000000042` or `101-42` -> ("101", 42)."""
    raw = (text or "").strip()
    match = _SERIAL_RE.fullmatch(raw) if raw.isascii() else None
    if not match:
        raise InputError(field, f"{raw!r} is not a serial number like 101-000000042 (or 101-42)")
    return match.group(1).upper(), int(match.group(2))


@dataclass(frozen=True)
class CardFilter:
    """A validated filter. Amount bounds are minor units; times are aware UTC."""

    serial: tuple[str, int] | None = None
    serial_from: tuple[str, int] | None = None
    serial_to: tuple[str, int] | None = None
    series: str | None = None
    pin: str | None = None
    status: str | None = None
    reseller: str | None = None
    currency: str | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    expires_from: datetime | None = None
    expires_to: datetime | None = None
    client: str | None = None
    activated_from: datetime | None = None
    activated_to: datetime | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    batch: int | None = None

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in dc_fields(self))

    def where(self, store, now: datetime) -> pw.Expression:
        """The SQL condition on `Card` alone. Raises InputError for an unknown reseller/client."""
        conds: list[pw.Expression] = []
        if self.serial:
            conds += [Card.series == self.serial[0], Card.number == self.serial[1]]
        if self.serial_from or self.serial_to:
            series = (self.serial_from or self.serial_to)[0]
            conds.append(Card.series == series)
            if self.serial_from:
                conds.append(Card.number >= self.serial_from[1])
            if self.serial_to:
                conds.append(Card.number <= self.serial_to[1])
        if self.series:
            conds.append(Card.series == self.series)
        if self.pin:
            conds.append(Card.pin_ct == store.key.encrypt(self.pin))
        if self.status:
            conds.append(status_condition(self.status, now))
        if self.reseller:
            reseller = Reseller.get_or_none(Reseller.name == self.reseller)
            if reseller is None:
                raise InputError("reseller", f"no reseller named {self.reseller!r}")
            conds.append(Card.reseller == reseller.id)
        if self.currency:
            conds.append(Card.currency == self.currency)
        if self.amount_min is not None:
            conds.append(Card.amount >= self.amount_min)
        if self.amount_max is not None:
            conds.append(Card.amount <= self.amount_max)
        if self.expires_from:
            conds.append(Card.expires_at >= self.expires_from)
        if self.expires_to:
            conds.append(Card.expires_at <= self.expires_to)
        if self.client:
            client = Client.get_or_none(Client.name == self.client)
            if client is None:
                raise InputError("client", f"no client named {self.client!r}")
            conds.append(Card.activated_by == client.id)
        if self.activated_from:
            conds.append(Card.activated_at >= self.activated_from)
        if self.activated_to:
            conds.append(Card.activated_at <= self.activated_to)
        if self.created_from:
            conds.append(Card.created_at >= self.created_from)
        if self.created_to:
            conds.append(Card.created_at <= self.created_to)
        if self.batch is not None:
            conds.append(Card.batch == self.batch)
        if not conds:
            return pw.SQL("1 = 1")
        return _and(conds)

    def describe(self) -> str:
        """One line for the operator (and the audit): `status=new · reseller=Reseller 1`."""
        parts = []
        for key, value in self.as_dict().items():
            parts.append(f"{key.replace('_', ' ')}={value}")
        return " · ".join(parts) if parts else "all cards"

    def as_dict(self) -> dict[str, object]:
        """The non-empty fields in display form (never a PIN in clear: it is masked)."""
        out: dict[str, object] = {}
        for key, value in asdict(self).items():
            if value is None:
                continue
            if key in ("serial", "serial_from", "serial_to"):
                value = format_serial(*value)
            elif key == "pin":
                value = "•" * (len(value) - 4) + value[-4:]
            elif key in ("amount_min", "amount_max"):  # minor units, shown as typed: 10.00, not 1000
                value = format_amount(value, self.currency or "USD", with_code=False)
            elif isinstance(value, datetime):
                value = format_time(value)
            out[key] = value
        return out


def _and(conds: list[pw.Expression]) -> pw.Expression:
    out = conds[0]
    for cond in conds[1:]:
        out = out & cond
    return out


def status_condition(status: str, now: datetime) -> pw.Expression:
    if status == "activated":
        return Card.activated_at.is_null(False)
    if status == "expired":
        return Card.activated_at.is_null() & (Card.expires_at <= now)
    if status == "new":
        return Card.activated_at.is_null() & (Card.expires_at > now)
    raise InputError("status", f"{status!r}: use one of {', '.join(STATUSES)}")


FILTER_FIELDS = (
    "serial", "serial_from", "serial_to", "series", "pin", "status", "reseller", "currency",
    "amount_min", "amount_max", "expires_from", "expires_to", "client", "activated_from",
    "activated_to", "created_from", "created_to", "batch",
)


def parse_filter(fields: Mapping[str, object]) -> tuple[CardFilter | None, dict[str, str]]:
    """Validate the Advanced Search fields (strings; blank means "no filter").

    Returns (filter, {}) or (None, {field: message}). Range ends: a bare date is 00:00:00 as a
    `from` and 23:59:59 as a `to`, so `--expires-to 2027-12-31` includes the whole day.
    """
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    unknown = set(fields) - set(FILTER_FIELDS)
    if unknown:
        raise ValueError(f"unknown filter fields: {sorted(unknown)}")

    def text(name: str) -> str | None:
        value = fields.get(name)
        if value is None:
            return None
        value = " ".join(str(value).split())
        return value or None

    def take(name: str, parse: Callable[[str], object]) -> None:
        raw = text(name)
        if raw is None:
            return
        try:
            values[name] = parse(raw)
        except InputError as exc:
            errors[name] = exc.message

    for name in ("serial", "serial_from", "serial_to"):
        take(name, lambda raw, name=name: parse_serial(raw, name))
    take("series", _parse_series)
    take("pin", normalize_pin)
    take("status", _parse_status)
    take("reseller", lambda raw: None if raw.lower() == ALL_RESELLERS else raw)
    take("currency", parse_currency)
    currency = values.get("currency") or "USD"  # bounds in 2-decimal units unless a currency says otherwise
    take("amount_min", lambda raw: _parse_bound(raw, currency, "amount_min"))
    take("amount_max", lambda raw: _parse_bound(raw, currency, "amount_max"))
    for name in ("expires", "activated", "created"):
        take(f"{name}_from", lambda raw, n=name: parse_time(raw, f"{n}_from", end_of_day=False))
        take(f"{name}_to", lambda raw, n=name: parse_time(raw, f"{n}_to", end_of_day=True))
    take("client", lambda raw: raw)
    take("batch", _parse_batch)

    sf, st = values.get("serial_from"), values.get("serial_to")
    if sf and st and "serial_from" not in errors:
        if sf[0] != st[0]:
            errors["serial_to"] = f"a range stays within one series: {sf[0]} vs {st[0]}"
        elif sf[1] > st[1]:
            errors["serial_to"] = f"{format_serial(*st)} comes before {format_serial(*sf)}"
    for low, high in (("amount_min", "amount_max"), ("expires_from", "expires_to"),
                      ("activated_from", "activated_to"), ("created_from", "created_to")):
        if values.get(low) is not None and values.get(high) is not None and values[low] > values[high]:
            errors.setdefault(high, f"is before {low.replace('_', ' ')}")
    if errors:
        return None, errors
    values = {k: v for k, v in values.items() if v is not None}
    return CardFilter(**values), {}


def build_filter(**fields: object) -> CardFilter:
    """Like `parse_filter`, raising the first error instead."""
    flt, errors = parse_filter(fields)
    raise_first(errors)
    assert flt is not None
    return flt


def _parse_series(raw: str) -> str:
    from topup_tui.core.generate import check_series

    return check_series(raw)


def _parse_status(raw: str) -> str:
    status = raw.lower()
    if status not in STATUSES:
        raise InputError("status", f"{raw!r}: use one of {', '.join(STATUSES)}")
    return status


def _parse_bound(raw: str, currency: str, field: str) -> int:
    if raw.strip() == "0":
        return 0
    return parse_amount(raw, currency, field)


def _parse_batch(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) == 0:
        raise InputError("batch", f"{raw!r} is not a batch number")
    return int(raw)


