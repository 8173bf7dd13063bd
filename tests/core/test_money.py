"""Money: decimal text -> integer minor units, never a float; ISO 4217 codes."""

from __future__ import annotations

import pytest

from topup_tui.core.errors import InputError
from topup_tui.core.money import format_amount, parse_amount, parse_currency


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("15", 1500),
        ("15.5", 1550),
        ("15.50", 1550),
        ("0.01", 1),
        (" 15.50 ", 1550),
        ("1000000", 100_000_000),
        ("1000000.00", 100_000_000),
        ("999999.99", 99_999_999),
    ],
)
def test_accepted_amounts(text, minor):
    value = parse_amount(text, "USD")
    assert value == minor
    assert type(value) is int


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("0", "greater than 0"),
        ("0.00", "greater than 0"),
        ("-5", "greater than 0"),
        ("NaN", "not a plain decimal"),
        ("nan", "not a plain decimal"),
        ("inf", "not a plain decimal"),
        ("Infinity", "not a plain decimal"),
        ("1e3", "not a plain decimal"),
        ("0.001", "at most 2 decimal places"),
        ("10,50", "'.' as the decimal separator"),
        ("1,000", "'.' as the decimal separator"),
        ("", "is required"),
        ("   ", "is required"),
        (None, "is required"),
        ("1000000.01", "more than the maximum"),
        ("1000001", "more than the maximum"),
        ("15.", "not a plain decimal"),
        (".5", "not a plain decimal"),
        ("+5", "not a plain decimal"),
        ("0x10", "not a plain decimal"),
        ("1_000", "not a plain decimal"),
        ("١٥", "not a plain decimal"),  # Arabic-Indic digits are not translated
        ("１５", "not a plain decimal"),  # nor are full-width ones
        ("15 USD", "not a plain decimal"),
    ],
)
def test_rejected_amounts(text, needle):
    with pytest.raises(InputError) as info:
        parse_amount(text, "USD")
    assert info.value.field == "amount"
    assert needle in info.value.message
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("amount: ")


def test_maximum_message_names_the_limit():
    with pytest.raises(InputError) as info:
        parse_amount("1000000.01", "USD")
    assert "1,000,000.00 USD" in info.value.message


def test_field_name_is_passed_through():
    with pytest.raises(InputError) as info:
        parse_amount("0", "USD", field="min_amount")
    assert info.value.field == "min_amount"


def test_jpy_has_no_minor_unit():
    assert parse_amount("15", "JPY") == 15
    assert parse_amount("1000000", "JPY") == 1_000_000
    with pytest.raises(InputError) as info:
        parse_amount("15.5", "JPY")
    assert info.value.field == "amount"
    assert "JPY has no minor unit" in info.value.message
    with pytest.raises(InputError):
        parse_amount("15.0", "JPY")
    with pytest.raises(InputError, match="maximum"):
        parse_amount("1000001", "JPY")


def test_three_decimal_currency():
    assert parse_amount("1.234", "KWD") == 1234
    assert parse_amount("1.5", "KWD") == 1500
    with pytest.raises(InputError, match="at most 3 decimal places"):
        parse_amount("1.2345", "KWD")


@pytest.mark.parametrize(("text", "code"), [("USD", "USD"), ("usd", "USD"), (" eur ", "EUR"), ("Jpy", "JPY")])
def test_currency_accepted(text, code):
    assert parse_currency(text) == code


@pytest.mark.parametrize("text", ["", None, "  ", "US", "USDX", "U$D", "12A", "ÜSD", "ＵＳＤ", "U S"])
def test_currency_rejected(text):
    with pytest.raises(InputError) as info:
        parse_currency(text)
    assert info.value.field == "currency"
    assert "ISO 4217" in info.value.message


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1550, "USD", "15.50 USD"),
        (1, "USD", "0.01 USD"),
        (100_000_000, "USD", "1,000,000.00 USD"),
        (15, "JPY", "15 JPY"),
        (1234, "KWD", "1.234 KWD"),
    ],
)
def test_format_amount(minor, currency, text):
    assert format_amount(minor, currency) == text
    assert format_amount(minor, currency, with_code=False) == text.rsplit(" ", 1)[0]


@pytest.mark.parametrize("text", ["15", "15.5", "0.01", "999999.99", "1000000"])
def test_format_then_parse_round_trips(text):
    minor = parse_amount(text, "USD")
    shown = format_amount(minor, "USD", with_code=False).replace(",", "")
    assert parse_amount(shown, "USD") == minor


def test_absurdly_long_amounts_are_bad_input_not_a_crash():
    # int() refuses strings over 4,300 digits with a bare ValueError; the operator must get the rule
    with pytest.raises(InputError) as info:
        parse_amount("1" * 5_000, "USD")
    assert info.value.field == "amount"
    assert "more than the maximum" in info.value.message
    assert len(str(info.value)) < 200
    assert parse_amount("0" * 5_000 + "5", "USD") == 500
    assert parse_amount("0" * 5_000 + "5.25", "USD") == 525
