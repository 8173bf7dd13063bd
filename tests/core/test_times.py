"""Times: operator input -> aware UTC; shown as YYYY-MM-DD HH:MM:SS+0000."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.conftest import NOW
from topup_tui.core.errors import InputError
from topup_tui.core.times import format_time, parse_expiration, parse_time, to_utc


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-07-16", utc(2027, 7, 16, 23, 59, 59)),
        ("  2027-07-16  ", utc(2027, 7, 16, 23, 59, 59)),
        ("2027-07-16 00:00:00+0000", utc(2027, 7, 16, 0, 0, 0)),
        ("2027-07-16T00:00:00Z", utc(2027, 7, 16, 0, 0, 0)),
        ("2027-07-16T00:00:00+00:00", utc(2027, 7, 16, 0, 0, 0)),
        ("2027-07-16 21:00:00-0300", utc(2027, 7, 17, 0, 0, 0)),
        ("2027-07-16 21:00-03:00", utc(2027, 7, 17, 0, 0, 0)),
        ("2027-07-16 05:30:00+0530", utc(2027, 7, 16, 0, 0, 0)),
        ("2027-07-16 10:00", utc(2027, 7, 16, 10, 0, 0)),  # no offset: UTC
        ("2027-07-16 10:00:05", utc(2027, 7, 16, 10, 0, 5)),
        ("2027-07-16T10:00:05.999", utc(2027, 7, 16, 10, 0, 5)),  # fraction dropped
    ],
)
def test_expiration_accepted(text, expected):
    value = parse_expiration(text, now=NOW)
    assert value == expected
    assert value.utcoffset() == timedelta(0)
    assert value.tzinfo is not None
    assert value.microsecond == 0


def test_a_time_without_offset_is_utc_whatever_the_local_zone():
    import os
    import time

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/Sao_Paulo"
    time.tzset()
    try:
        assert parse_time("2027-07-16 10:00", "expires") == utc(2027, 7, 16, 10, 0, 0)
        assert parse_time("2027-07-16", "expires") == utc(2027, 7, 16, 23, 59, 59)
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_bare_date_for_the_start_of_a_range():
    assert parse_time("2027-07-16", "from", end_of_day=False) == utc(2027, 7, 16, 0, 0, 0)
    # a time given explicitly is kept either way
    assert parse_time("2027-07-16 10:00", "from", end_of_day=False) == utc(2027, 7, 16, 10, 0, 0)


@pytest.mark.parametrize(
    "text",
    ["2026-05-31", "2026-06-01 11:59:59", "2026-06-01 12:00:00", "2026-06-01 12:00:00Z", "2026-06-01 14:00:00+0300"],
)
def test_past_or_present_expiration_rejected(text):
    with pytest.raises(InputError) as info:
        parse_expiration(text, now=NOW)
    assert info.value.field == "expires"
    assert "in the past" in info.value.message
    assert "2026-06-01 12:00:00+0000" in info.value.message  # says what "now" is


def test_expiration_one_second_ahead_and_today_accepted():
    assert parse_expiration("2026-06-01 12:00:01", now=NOW) == utc(2026, 6, 1, 12, 0, 1)
    assert parse_expiration("2026-06-01", now=NOW) == utc(2026, 6, 1, 23, 59, 59)  # through the end of today


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2027", "is not a date"),
        ("July 2027", "is not a date"),
        ("16 July 2027", "is not a date"),
        ("2027-07-16 blah", "is not a date"),
        ("2027-07-16T10", "is not a date"),
        ("16/07/2027", "is not a date"),
        ("07/16/2027", "is not a date"),
        ("2027/07/16", "is not a date"),
        ("20270716", "is not a date"),
        ("2027-7-16", "is not a date"),
        ("2027-07-16 10:00 PST", "is not a date"),
        ("tomorrow", "is not a date"),
        ("٢٠٢٧-٠٧-١٦", "is not a date"),
        ("2027-13-01", "is not a valid date"),
        ("2027-02-30", "is not a valid date"),
        ("2027-07-16 25:00", "is not a valid date"),
        ("", "is required"),
        (None, "is required"),
    ],
)
def test_half_understood_text_rejected(text, needle):
    with pytest.raises(InputError) as info:
        parse_expiration(text, now=NOW)
    assert info.value.field == "expires"
    assert needle in info.value.message
    assert "\n" not in str(info.value)


def test_rejection_message_shows_accepted_formats():
    with pytest.raises(InputError) as info:
        parse_time("16/07/2027", "expires")
    assert "YYYY-MM-DD" in info.value.message
    assert "no offset means UTC" in info.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (utc(2027, 7, 16, 23, 59, 59), "2027-07-16 23:59:59+0000"),
        (datetime(2027, 7, 16, 21, 0, 0, tzinfo=timezone(timedelta(hours=-3))), "2027-07-17 00:00:00+0000"),
        (datetime(2027, 1, 2, 3, 4, 5), "2027-01-02 03:04:05+0000"),  # naive is UTC
    ],
)
def test_format_time(value, text):
    assert format_time(value) == text


def test_format_time_none():
    assert format_time(None) == "—"
    assert format_time(None, empty="") == ""


def test_format_then_parse_round_trips():
    value = utc(2027, 7, 16, 8, 9, 10)
    assert parse_time(format_time(value), "at") == value


def test_to_utc():
    aware = datetime(2027, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(aware) == utc(2026, 12, 31, 22, 0)
    assert to_utc(aware).utcoffset() == timedelta(0)
    assert to_utc(datetime(2027, 1, 1)) == utc(2027, 1, 1)
