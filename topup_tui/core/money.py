"""Money as integer minor units with an ISO 4217 currency code. Never a float.

`parse_amount("15.5", "USD")` -> 1550; `format_amount(1550, "USD")` -> "15.50 USD".
"""

from __future__ import annotations

import re

from topup_tui.core.errors import InputError

# Minor-unit digits of the currencies that do not use 2. Everything else uses 2.
_MINOR_DIGITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

MAX_MAJOR = 1_000_000  # the largest amount a card (or a search bound) may carry, in major units

_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_AMOUNT_RE = re.compile(r"(\d+)(?:\.(\d+))?")


def parse_currency(text: str | None, field: str = "currency") -> str:
    """An ISO 4217 code: three ASCII letters, returned upper-case."""
    code = (text or "").strip().upper()
    if not code:
        raise InputError(field, "is required (a 3-letter ISO 4217 code such as USD)")
    if not (code.isascii() and _CURRENCY_RE.fullmatch(code)):
        raise InputError(field, f"{text!r} is not a 3-letter ISO 4217 code such as USD")
    return code


def minor_digits(currency: str) -> int:
    return _MINOR_DIGITS.get(currency, 2)


def max_minor(currency: str) -> int:
    return MAX_MAJOR * 10 ** minor_digits(currency)


def parse_amount(text: str | None, currency: str, field: str = "amount") -> int:
    """Parse a positive decimal amount such as `15`, `15.5`, `15.50` into minor units.

    Rejected, each with its own message: empty, zero, negative, NaN/inf, exponents,
    a comma separator, more decimals than the currency has, more than 1,000,000.
    """
    raw = (text or "").strip()
    if not raw:
        raise InputError(field, "is required (a decimal such as 15 or 15.50)")
    digits = minor_digits(currency)
    if raw.startswith("-"):
        raise InputError(field, f"must be greater than 0, got {raw}")
    if "," in raw:
        raise InputError(field, f"{raw!r}: use '.' as the decimal separator, without thousands separators")
    match = _AMOUNT_RE.fullmatch(raw) if raw.isascii() else None
    if not match:
        raise InputError(field, f"{raw!r} is not a plain decimal number such as 15 or 15.50")
    whole, frac = match.group(1), match.group(2) or ""
    if len(frac) > digits:
        if digits == 0:
            raise InputError(field, f"{raw}: {currency} has no minor unit; use a whole number")
        raise InputError(field, f"{raw}: at most {digits} decimal places for {currency}")
    if len(whole.lstrip("0")) > len(str(MAX_MAJOR)):  # also keeps int() below its digit limit
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise InputError(field, f"{shown} is more than the maximum of {format_amount(max_minor(currency), currency)}")
    minor = int(whole.lstrip("0") or "0") * 10**digits + int(frac.ljust(digits, "0") or "0")
    if minor <= 0:
        raise InputError(field, f"must be greater than 0, got {raw}")
    if minor > max_minor(currency):
        raise InputError(field, f"{raw} is more than the maximum of {format_amount(max_minor(currency), currency)}")
    return minor


def format_amount(minor: int, currency: str, *, with_code: bool = True) -> str:
    """`1550, "USD"` -> `15.50 USD` (thousands grouped: `1,000,000.00 USD`)."""
    digits = minor_digits(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**digits)
    text = f"{sign}{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    return f"{text} {currency}" if with_code else text
