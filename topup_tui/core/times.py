"""Times: stored as UTC, shown as `YYYY-MM-DD HH:MM:SS+0000` like the reference.

Input is ISO-like and parsed with python-dateutil's strict ISO parser. A date without a time
means "through that whole day": it becomes 23:59:59 UTC of that date. A time without an offset
is UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from topup_tui.core.errors import InputError

DATE_FORMATS_HELP = "YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS] with an optional offset (Z, +0000, -0300); no offset means UTC"

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A full date, then optionally a time (T or space) with optional seconds/fraction and offset.
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_time(value: datetime | None, *, empty: str = "—") -> str:
    if value is None:
        return empty
    return to_utc(value).strftime("%Y-%m-%d %H:%M:%S+0000")


def parse_time(text: str | None, field: str, *, end_of_day: bool = True) -> datetime:
    """Parse an operator's date or date-time into an aware UTC datetime.

    `end_of_day` decides what a bare date means: 23:59:59 of that day (an expiration, or the
    end of a range) or 00:00:00 (the start of a range).
    """
    raw = " ".join((text or "").split())
    if not raw:
        raise InputError(field, f"is required ({DATE_FORMATS_HELP})")
    if not raw.isascii() or not (_DATE_ONLY.fullmatch(raw) or _DATE_TIME.fullmatch(raw)):
        raise InputError(field, f"{raw!r} is not a date: use {DATE_FORMATS_HELP}")
    from dateutil.parser import isoparse  # imported on first use: keeps start-up light

    try:
        parsed = isoparse(raw)
    except (ValueError, OverflowError) as exc:
        raise InputError(field, f"{raw!r} is not a valid date ({exc})") from None
    if _DATE_ONLY.fullmatch(raw):
        parsed = datetime.combine(parsed.date(), time(23, 59, 59) if end_of_day else time(0, 0, 0))
    return to_utc(parsed).replace(microsecond=0)


def parse_expiration(text: str | None, *, now: datetime | None = None, field: str = "expires") -> datetime:
    """An expiration instant, which must lie in the future."""
    value = parse_time(text, field, end_of_day=True)
    now = to_utc(now or utcnow())
    if value <= now:
        raise InputError(field, f"{format_time(value)} is in the past (now is {format_time(now)})")
    return value


def default_expiration(now: datetime | None = None) -> datetime:
    """A year ahead, through the end of that day: what the Generate dialog pre-fills."""
    now = to_utc(now or utcnow())
    day = (now + timedelta(days=365)).date()
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
