"""Generating a batch of cards: one transaction, unique random PINs, sequential serials.

The whole batch is written in one transaction, so a batch killed at any point (SIGKILL, SIGHUP,
a cancel from the TUI) leaves no card behind. Rows go in through the driver's bulk path in
chunks, so memory is bounded by the chunk, not by the batch. PIN uniqueness rests on the unique
index over the PIN ciphertext: a row whose PIN already exists is skipped by `ON CONFLICT DO
NOTHING` and redrawn, so a collision costs a retry, never a failed batch.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import peewee as pw

from topup_tui.core.database import Store
from topup_tui.core.errors import Cancelled, InputError, Refused, raise_first
from topup_tui.core.models import Batch, Card, Series, format_serial
from topup_tui.core.money import format_amount, parse_amount, parse_currency
from topup_tui.core.pins import DEFAULT_PIN_LENGTH, MAX_PIN_LENGTH, SecretsPinSource, check_pin_length
from topup_tui.core.resellers import find_reseller
from topup_tui.core.times import format_time, parse_expiration, to_utc, utcnow

MAX_QUANTITY = 1_000_000
MAX_SERIAL_NUMBER = 999_999_999
MAX_GUESS_ODDS = 1_000  # a random guess may hit a live card at worst 1 time in this many
CHUNK_SIZE = 5_000
GENERATE_LOCK_KEY = 0x746F7075_67656E  # PostgreSQL advisory lock held by a generation ("topup gen")

_SERIES_RE = re.compile(r"[A-Z0-9]{1,12}")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerateRequest:
    amount: int  # minor units
    currency: str
    quantity: int
    series: str
    pin_length: int
    reseller: str | None
    expires_at: datetime
    allow_weak_pins: bool = False


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    series: str
    first_number: int
    last_number: int
    count: int
    amount: int
    currency: str
    pin_length: int
    reseller: str | None
    expires_at: datetime
    weak_pins_override: bool

    @property
    def first_serial(self) -> str:
        return format_serial(self.series, self.first_number)

    @property
    def last_serial(self) -> str:
        return format_serial(self.series, self.last_number)

    def as_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "first_serial": self.first_serial,
            "last_serial": self.last_serial,
            "count": self.count,
            "amount": format_amount(self.amount, self.currency, with_code=False),
            "amount_minor": self.amount,
            "currency": self.currency,
            "pin_length": self.pin_length,
            "reseller": self.reseller,
            "expires": format_time(self.expires_at),
        }


@dataclass(frozen=True)
class Risk:
    """What a batch would do to the odds of a random guess hitting a live card."""

    pin_length: int
    live_after: int  # live cards with this PIN length once the batch exists
    taken: int  # every card (any status) with this PIN length: those PINs are not free
    quantity: int
    safe_length: int  # the shortest PIN length that keeps the odds within MAX_GUESS_ODDS

    @property
    def space(self) -> int:
        return 10**self.pin_length

    @property
    def free(self) -> int:
        return self.space - self.taken

    @property
    def too_weak(self) -> bool:
        return self.live_after * MAX_GUESS_ODDS > self.space

    @property
    def exhausted(self) -> bool:
        return self.free < self.quantity

    def describe(self) -> str:
        if self.live_after == 0:
            return "a random guess hits a live card: never"
        return f"a random guess hits a live card: 1 in {_odds(self.space, self.live_after)}"


def _odds(space: int, live: int) -> str:
    ratio = space / live
    if ratio >= 10**15:
        return f"{ratio:.1e}"
    if ratio >= 10:
        return f"{int(ratio):,}"
    return f"{ratio:.2f}"


def check_series(text: str | None, field: str = "series") -> str:
    series = (text or "").strip().upper()
    if not series:
        raise InputError(field, "is required (1-12 letters or digits, such as 101)")
    if not (series.isascii() and _SERIES_RE.fullmatch(series)):
        raise InputError(field, f"{text!r}: use 1-12 letters A-Z or digits 0-9, nothing else")
    return series


def check_quantity(value: int | str | None, field: str = "quantity") -> int:
    text = str(value if value is not None else "").strip().replace("_", "")
    if not (text.isascii() and text.isdigit()):
        raise InputError(field, f"{text!r} is not a whole number (1..{MAX_QUANTITY:,})")
    if len(text.lstrip("0")) > len(str(MAX_QUANTITY)):  # also keeps int() below its digit limit
        raise InputError(field, f"must be 1..{MAX_QUANTITY:,}, got a {len(text.lstrip('0')):,}-digit number")
    quantity = int(text.lstrip("0") or "0")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InputError(field, f"must be 1..{MAX_QUANTITY:,}, got {quantity:,}")
    return quantity


def parse_generate_form(
    fields: Mapping[str, object], *, now: datetime | None = None
) -> tuple[GenerateRequest | None, dict[str, str]]:
    """Validate every field of a Generate form at once: (request, {}) or (None, {field: message}).

    Keys: amount, currency, quantity, series, pin_length, reseller, expires, allow_weak_pins.
    The reseller's existence is checked by `generate_cards` (it needs the database).
    """
    errors: dict[str, str] = {}
    values: dict[str, object] = {}

    def take(name: str, parse: Callable[[], object]) -> None:
        try:
            values[name] = parse()
        except InputError as exc:
            errors[exc.field] = exc.message

    take("currency", lambda: parse_currency(_text(fields.get("currency"))))
    if "currency" in values:
        take("amount", lambda: parse_amount(_text(fields.get("amount")), values["currency"]))
    take("quantity", lambda: check_quantity(fields.get("quantity")))
    take("series", lambda: check_series(_text(fields.get("series"))))
    take("pin_length", lambda: check_pin_length(fields.get("pin_length", DEFAULT_PIN_LENGTH)))
    take("expires", lambda: parse_expiration(_text(fields.get("expires")), now=now))
    if errors:
        return None, errors
    reseller = _text(fields.get("reseller")).strip() or None
    request = GenerateRequest(
        amount=values["amount"], currency=values["currency"], quantity=values["quantity"],
        series=values["series"], pin_length=values["pin_length"], reseller=reseller,
        expires_at=values["expires"], allow_weak_pins=bool(fields.get("allow_weak_pins", False)),
    )
    return request, {}


def build_request(**fields: object) -> GenerateRequest:
    """Like `parse_generate_form`, raising the first error (in field order) instead."""
    now = fields.pop("now", None)
    request, errors = parse_generate_form(fields, now=now)  # type: ignore[arg-type]
    raise_first(errors)
    assert request is not None
    return request


def _text(value: object) -> str:
    return "" if value is None else str(value)


def pin_length_counts(now: datetime) -> dict[int, tuple[int, int]]:
    """{pin_length: (all cards, live cards)} in one pass over the card table."""
    live = pw.Case(None, [((Card.activated_at.is_null() & (Card.expires_at > now)), 1)], 0)
    query = (
        Card.select(Card.pin_length, pw.fn.COUNT(Card.id), pw.fn.SUM(live))
        .group_by(Card.pin_length)
        .tuples()
    )
    return {length: (int(total), int(alive or 0)) for length, total, alive in query}


def assess_risk(
    pin_length: int, quantity: int, counts: Mapping[int, tuple[int, int]]
) -> Risk:
    """The guessing risk of adding `quantity` cards of `pin_length` digits, given `pin_length_counts`."""
    taken, live = counts.get(pin_length, (0, 0))
    safe = pin_length
    for length in range(pin_length, MAX_PIN_LENGTH + 1):
        other_live = counts.get(length, (0, 0))[1]
        if (other_live + quantity) * MAX_GUESS_ODDS <= 10**length:
            safe = length
            break
    else:
        safe = MAX_PIN_LENGTH
    return Risk(pin_length, live + quantity, taken, quantity, safe)


def generate_cards(
    store: Store,
    request: GenerateRequest,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    pin_source: SecretsPinSource | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> BatchResult:
    """Create `request.quantity` cards as one batch, or nothing at all.

    `progress(done, total)` is called after every chunk; setting `cancel` rolls the whole
    batch back and raises `Cancelled`. Raises `InputError` (unknown reseller) or `Refused`
    (weak PINs, no free PINs, series full) before writing anything.
    """
    now = to_utc(now or utcnow())
    source = pin_source or SecretsPinSource()
    total = request.quantity
    if request.expires_at <= now:
        raise InputError("expires", f"{format_time(request.expires_at)} is in the past")
    with store.write():
        if not store.is_sqlite:
            # The risk check below counts every card: two batches must not both pass it before
            # either commits. SQLite's BEGIN IMMEDIATE serialises writers; here, a lock does.
            store.database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (GENERATE_LOCK_KEY,))
        reseller = find_reseller(request.reseller)
        risk = assess_risk(request.pin_length, total, pin_length_counts(now))
        if risk.exhausted:
            raise Refused(
                f"only {max(risk.free, 0):,} unused {request.pin_length}-digit PINs remain and "
                f"{total:,} were asked for; use --pin-length {risk.safe_length} or more",
                code="pins-exhausted",
            )
        if risk.too_weak and not request.allow_weak_pins:
            raise Refused(
                f"{risk.live_after:,} live {request.pin_length}-digit cards would let a random guess hit one "
                f"1 in {_odds(risk.space, risk.live_after)} times (the limit is 1 in {MAX_GUESS_ODDS:,}); "
                f"use --pin-length {risk.safe_length} or more, or --allow-weak-pins",
                code="weak-pins",
            )
        first = _allocate_serials(request.series, total)
        batch = Batch.create(
            created_at=now, created_by=store.actor, series=request.series, first_number=first,
            quantity=total, amount=request.amount, currency=request.currency,
            pin_length=request.pin_length, reseller=reseller, expires_at=request.expires_at,
            allow_weak_pins=request.allow_weak_pins,
        )
        inserter = _CardInserter(store, batch, request, reseller.id if reseller else None, now)
        done = 0
        if progress:
            progress(0, total)
        while done < total:
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            size = min(chunk_size, total - done)
            inserter.insert(first + done, size, source)
            done += size
            if progress:
                progress(done, total)
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        result = BatchResult(
            batch.id, request.series, first, first + total - 1, total, request.amount,
            request.currency, request.pin_length, reseller.name if reseller else None,
            request.expires_at, risk.too_weak,
        )
        store.audit(
            "generate", f"batch {batch.id}", total,
            first_serial=result.first_serial, last_serial=result.last_serial,
            amount=request.amount, currency=request.currency, pin_length=request.pin_length,
            reseller=result.reseller, expires=format_time(request.expires_at),
            weak_pins_override=risk.too_weak, guess_odds=risk.describe(),
        )
    return result


def _allocate_serials(series: str, quantity: int) -> int:
    """Reserve `quantity` consecutive numbers of `series` inside the caller's transaction.

    The UPDATE takes the row's write lock (the database's on SQLite, the row's on PostgreSQL)
    until commit, so two concurrent batches in one series get disjoint ranges, and numbers of a
    rolled-back or deleted batch are never handed out again by a later one that committed.
    """
    Series.insert(name=series, next_number=1).on_conflict_ignore().execute()
    Series.update(next_number=Series.next_number + quantity).where(Series.name == series).execute()
    after = Series.select(Series.next_number).where(Series.name == series).scalar()
    first = after - quantity
    if after - 1 > MAX_SERIAL_NUMBER:
        left = max(0, MAX_SERIAL_NUMBER - first + 1)
        raise Refused(
            f"series {series} has {left:,} serial numbers left and {quantity:,} were asked for; use another series",
            code="series-full",
        )
    return first


class _CardInserter:
    """Bulk-inserts cards through the driver, skipping PIN collisions and redrawing them."""

    MAX_ROUNDS = 10_000

    def __init__(self, store: Store, batch: Batch, request: GenerateRequest, reseller_id: int | None, now: datetime):
        self.store = store
        self.request = request
        self.encrypt = store.key.encrypt
        table = Card._meta.table_name
        cols = "batch_id, series, number, pin_ct, pin_length, amount, currency, reseller_id, expires_at, created_at"
        self.constants = (
            batch.id, request.series, request.pin_length, request.amount, request.currency,
            reseller_id, int(request.expires_at.timestamp()), int(now.timestamp()),
        )
        if store.is_sqlite:
            # The columns equal for the whole batch go into the statement as literals, so a row
            # binds only its number and PIN ciphertext: no 10-tuple per card, a fifth of the binds.
            batch_id, series, *rest = (_sqlite_literal(v) for v in self.constants)
            self.sql = (
                f"INSERT INTO {table} ({cols}) VALUES ({batch_id}, {series}, ?, ?, {', '.join(rest)}) "
                "ON CONFLICT (pin_ct) DO NOTHING"
            )
        else:
            # One statement per chunk: the varying columns travel as two arrays.
            self.sql = (
                f"INSERT INTO {table} ({cols}) SELECT %s, %s, t.n, t.ct, %s, %s, %s, %s, %s, %s "
                f"FROM unnest(%s::bigint[], %s::bytea[]) AS t(n, ct) ON CONFLICT (pin_ct) DO NOTHING"
            )

    def insert(self, first: int, size: int, source: SecretsPinSource) -> None:
        numbers = list(range(first, first + size))
        for _ in range(self.MAX_ROUNDS):
            pins = source.draw(len(numbers), self.request.pin_length)
            inserted = self._write(numbers, list(map(self.encrypt, pins)))
            if inserted == len(numbers):
                return
            numbers = self._missing(numbers)
            if not numbers:
                return
        raise Refused("could not find unused PINs after many draws; use a longer PIN", code="pins-exhausted")

    def _write(self, numbers: list[int], cts: list[bytes]) -> int:
        conn = self.store.database.connection()
        cursor = conn.cursor()
        if self.store.is_sqlite:
            cursor.executemany(self.sql, zip(numbers, cts))
        else:
            import psycopg2

            cursor.execute(self.sql, (*self.constants, numbers, [psycopg2.Binary(c) for c in cts]))
        return cursor.rowcount

    def _missing(self, numbers: list[int]) -> list[int]:
        query = (
            Card.select(Card.number)
            .where((Card.series == self.request.series) & Card.number.between(numbers[0], numbers[-1]))
            .tuples()
        )
        present = {number for (number,) in query.iterator()}
        return [n for n in numbers if n not in present]


def _sqlite_literal(value: int | str | None) -> str:
    """`value` as an SQLite literal, for the per-batch constants of the insert statement."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQLite literal for {type(value).__name__}")
