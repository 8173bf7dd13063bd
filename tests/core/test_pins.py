"""PINs: operator input, display, and unbiased drawing by rejection sampling."""

from __future__ import annotations

from collections import Counter
from math import ceil, log2

import pytest

from topup_tui.core.errors import InputError
from topup_tui.core.pins import (
    MAX_PIN_LENGTH,
    MIN_PIN_LENGTH,
    SecretsPinSource,
    check_pin_length,
    group_pin,
    mask_pin,
    normalize_pin,
)


@pytest.mark.parametrize(
    "text",
    ["4524 2829 3854", "4524-2829-3854", "452428293854", "  4524 2829 3854  ", "4524 - 2829\t3854", "45-24 28293854"],
)
def test_normalize_accepts_spaced_dashed_plain(text):
    assert normalize_pin(text) == "452428293854"


@pytest.mark.parametrize("length", [MIN_PIN_LENGTH, 16, MAX_PIN_LENGTH])
def test_normalize_length_bounds_accepted(length):
    pin = ("1234567890" * 4)[:length]
    assert normalize_pin(pin) == pin


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("٤٥٢٤٢٨٢٩٣٨٥٤", "only the digits 0-9"),  # Arabic-Indic
        ("۴۵۲۴۲۸۲۹۳۸۵۴", "only the digits 0-9"),  # Extended Arabic-Indic (Persian)
        ("４５２４２８２９３８５４", "only the digits 0-9"),  # full-width
        ("4524 2829 385٤", "only the digits 0-9"),  # one foreign digit is enough
        ("4524 2829 385A", "only the digits 0-9"),
        ("abcdefgh", "only the digits 0-9"),
        ("4524.2829.3854", "only the digits 0-9"),
        ("4524_2829_3854", "only the digits 0-9"),
        ("1234", "has 4 digits"),
        ("12-34", "has 4 digits"),
        ("1" * 33, "has 33 digits"),
        ("", "is required"),
        ("  - - ", "is required"),
        (None, "is required"),
    ],
)
def test_normalize_rejects(text, needle):
    with pytest.raises(InputError) as info:
        normalize_pin(text)
    assert info.value.field == "pin"
    assert needle in info.value.message
    assert "\n" not in str(info.value)


def test_normalize_does_not_translate_foreign_digits():
    # int() would happily read these; a PIN must mean exactly one thing
    assert int("٤٥٢٤٢") == 45242
    with pytest.raises(InputError):
        normalize_pin("٤٥٢٤٢")


@pytest.mark.parametrize(
    ("pin", "grouped"),
    [
        ("452428293854", "4524 2829 3854"),
        ("4524282938541234", "4524 2829 3854 1234"),
        ("12345", "1234 5"),
        ("1234567", "1234 567"),
    ],
)
def test_group_pin(pin, grouped):
    assert group_pin(pin) == grouped
    assert normalize_pin(grouped) == pin


def test_mask_pin():
    assert mask_pin("4524282938541234") == "•••• •••• •••• 1234"
    assert mask_pin("452428293854") == "•••• •••• 3854"
    masked = mask_pin("12345")
    assert masked == "•234 5"
    assert "1" not in masked


@pytest.mark.parametrize(("value", "length"), [(5, 5), ("16", 16), (" 32 ", 32)])
def test_check_pin_length_ok(value, length):
    assert check_pin_length(value) == length


@pytest.mark.parametrize("value", [4, 33, 0, "-5", "abc", "", None, "١٦", "16.0"])
def test_check_pin_length_rejected(value):
    with pytest.raises(InputError) as info:
        check_pin_length(value)
    assert info.value.field == "pin_length"


# --- SecretsPinSource: rejection sampling -------------------------------------------------------


def geometry(length: int) -> tuple[int, int]:
    """(bytes per candidate, rejection limit) as the docstring of SecretsPinSource defines them."""
    space = 10**length
    width = ceil(ceil(log2(space)) / 8)
    return width, (256**width // space) * space


class ScriptedBytes:
    """token_bytes stub: serves scripted blocks, padded to the size asked with 0xFF bytes.

    A candidate of all-0xFF bytes is always at or above the limit (10**L never divides 256**k),
    so the padding is rejected and each block yields exactly the candidates scripted in it.
    """

    def __init__(self, *blocks: bytes) -> None:
        self.blocks = list(blocks)
        self.calls: list[int] = []

    def __call__(self, n: int) -> bytes:
        self.calls.append(n)
        block = self.blocks.pop(0) if self.blocks else b""
        assert len(block) <= n, "the script assumed a bigger request"
        return block + b"\xff" * (n - len(block))


def test_geometry_for_five_digits():
    # 10**5 needs 17 bits -> 3 bytes; 167 whole copies of 0..99999 fit under 256**3
    assert geometry(5) == (3, 16_700_000)


def test_candidate_at_or_above_the_limit_is_rejected_and_the_next_used():
    width, limit = geometry(5)
    script = b"".join(
        v.to_bytes(width, "big")
        for v in [
            256**width - 1,  # rejected: far above the limit
            limit,  # rejected: exactly at the limit
            limit - 1,  # accepted: 16_699_999 % 100_000 = 99_999
            7,  # accepted, zero-padded
            limit + 12_345,  # rejected, although % 10**5 would be a fine-looking 12345
            100_042,  # accepted: 42
        ]
    )
    source = SecretsPinSource(token_bytes=ScriptedBytes(script))
    assert source.draw(3, 5) == ["99999", "00007", "00042"]


def test_all_rejected_block_fetches_more_bytes():
    width, limit = geometry(5)
    first = b""  # all padding: every candidate >= limit
    second = (123).to_bytes(width, "big") + (limit - 100_000).to_bytes(width, "big")
    stub = ScriptedBytes(first, second)
    source = SecretsPinSource(token_bytes=stub)
    assert source.draw(2, 5) == ["00123", "00000"]
    assert len(stub.calls) == 2
    assert all(n % width == 0 for n in stub.calls)


def test_partial_block_then_more():
    width, limit = geometry(5)
    # only one good candidate in the first block: the rest of the count comes from a second fetch
    first = (54_321).to_bytes(width, "big")
    second = (1).to_bytes(width, "big") + (2).to_bytes(width, "big")
    stub = ScriptedBytes(first, second)
    assert SecretsPinSource(token_bytes=stub).draw(3, 5) == ["54321", "00001", "00002"]
    assert len(stub.calls) == 2


@pytest.mark.parametrize("length", [5, 6, 9, 16, 19, 20, 32])
def test_limit_boundary_for_every_width(length):
    width, limit = geometry(length)
    assert limit % 10**length == 0 and limit <= 256**width < limit + 10**length
    script = limit.to_bytes(width, "big") + (limit - 1).to_bytes(width, "big") + (3).to_bytes(width, "big")
    pins = SecretsPinSource(token_bytes=ScriptedBytes(script)).draw(2, length)
    assert pins == ["9" * length, "3".zfill(length)]


@pytest.mark.parametrize("length", [5, 12, 16, 32])
def test_real_draws_have_the_right_shape(length):
    pins = SecretsPinSource().draw(500, length)
    assert len(pins) == 500
    assert all(len(p) == length and p.isascii() and p.isdigit() for p in pins)
    if length >= 12:
        assert len(set(pins)) == 500


def test_zero_padding_keeps_leading_zeros():
    width, _ = geometry(16)
    pins = SecretsPinSource(token_bytes=ScriptedBytes((5).to_bytes(width, "big"))).draw(1, 16)
    assert pins == ["0000000000000005"]


def test_five_digit_draws_are_roughly_uniform():
    pins = SecretsPinSource().draw(50_000, 5)
    # each leading digit expected 5,000 times (sd ~67): the bounds are ~15 sd wide
    counts = Counter(p[0] for p in pins)
    assert set(counts) == set("0123456789")
    assert all(4_000 < c < 6_000 for c in counts.values()), counts
    # and the last digit too (a modulo bias would show up in low digits of short spaces)
    last = Counter(p[-1] for p in pins)
    assert all(4_000 < c < 6_000 for c in last.values()), last


def test_absurdly_long_pin_length_is_bad_input_not_a_crash():
    with pytest.raises(InputError) as info:
        check_pin_length("1" * 5_000)
    assert info.value.field == "pin_length"
    assert check_pin_length("0" * 5_000 + "16") == 16
