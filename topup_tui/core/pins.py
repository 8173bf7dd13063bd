"""PINs: drawing them without bias, reading them from operators, showing them grouped.

A PIN is 5..32 ASCII decimal digits. It is drawn from `secrets` (the OS CSPRNG) by rejection
sampling, so every value in 0 .. 10**L - 1 is equally likely and nothing depends on the serial.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from math import ceil, log2

from topup_tui.core.errors import InputError

MIN_PIN_LENGTH = 5
MAX_PIN_LENGTH = 32
DEFAULT_PIN_LENGTH = 16

_ASCII_DIGITS = frozenset("0123456789")


def check_pin_length(value: int | str | None, field: str = "pin_length") -> int:
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit()):
        raise InputError(field, f"{text!r} is not a whole number of digits ({MIN_PIN_LENGTH}..{MAX_PIN_LENGTH})")
    if len(text.lstrip("0")) > len(str(MAX_PIN_LENGTH)):  # also keeps int() below its digit limit
        raise InputError(field, f"must be {MIN_PIN_LENGTH}..{MAX_PIN_LENGTH} digits, got a {len(text.lstrip('0')):,}-digit number")
    length = int(text.lstrip("0") or "0")
    if not MIN_PIN_LENGTH <= length <= MAX_PIN_LENGTH:
        raise InputError(field, f"must be {MIN_PIN_LENGTH}..{MAX_PIN_LENGTH} digits, got {length}")
    return length


def normalize_pin(text: str | None, field: str = "pin") -> str:
    """Accept `4524 2829 3854`, `4524-2829-3854` or `452428293854`; return the bare digits.

    Only ASCII digits count: Arabic-Indic or full-width digits are rejected, not translated,
    so a PIN means exactly one thing.
    """
    raw = (text or "").strip()
    bare = "".join(ch for ch in raw if ch not in " -\t")
    if not bare:
        raise InputError(field, "is required")
    bad = sorted({ch for ch in bare if ch not in _ASCII_DIGITS})
    if bad:
        shown = " ".join(repr(ch) for ch in bad[:3])
        raise InputError(field, f"may contain only the digits 0-9 (with spaces or dashes), found {shown}")
    if not MIN_PIN_LENGTH <= len(bare) <= MAX_PIN_LENGTH:
        raise InputError(field, f"has {len(bare)} digits; a PIN has {MIN_PIN_LENGTH}..{MAX_PIN_LENGTH}")
    return bare


def group_pin(pin: str) -> str:
    """`452428293854` -> `4524 2829 3854`."""
    return " ".join(pin[i : i + 4] for i in range(0, len(pin), 4))


def mask_pin(pin: str) -> str:
    """Every digit but the last 4 hidden, grouped like the PIN: `•••• •••• •••• 3854`."""
    masked = "•" * (len(pin) - 4) + pin[-4:]
    return group_pin(masked)


class SecretsPinSource:
    """Draws PINs from `secrets.token_bytes` by rejection sampling (no modulo bias).

    For L digits it reads k bytes per candidate, with 256**k >= 10**L, and rejects candidates
    at or above the largest multiple of 10**L below 256**k; the rest, reduced mod 10**L, are
    uniform. Bytes are fetched in blocks so a million PINs cost few system calls.
    """

    def __init__(self, token_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self._token_bytes = token_bytes

    def draw(self, count: int, length: int) -> list[str]:
        space = 10**length
        width = ceil(ceil(log2(space)) / 8)
        limit = (256**width // space) * space
        out: list[str] = []
        from_bytes = int.from_bytes
        while len(out) < count:
            need = count - len(out)
            # Ask for a little more than needed: the rejection rate is below 1/2 in the worst case.
            block = self._token_bytes(width * (need + need // 4 + 8))
            for i in range(0, len(block) - width + 1, width):
                value = from_bytes(block[i : i + width], "big")
                if value < limit:
                    out.append(str(value % space).zfill(length))
                    if len(out) == count:
                        break
        return out
