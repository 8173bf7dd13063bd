"""Generating batches: counts, serials, unique PINs, refusals, cancel, progress, status."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from tests.conftest import LATER, NOW
from topup_tui.core.errors import Cancelled, InputError, Refused
from topup_tui.core.generate import MAX_GUESS_ODDS, build_request, generate_cards
from topup_tui.core.models import AuditEvent, Batch, Card, Series, card_status
from topup_tui.core.pins import SecretsPinSource
from topup_tui.core.resellers import add_reseller
from topup_tui.core.times import format_time


@pytest.fixture
def acme(store):
    return add_reseller(store, "Acme")


def make_request(**overrides):
    fields = dict(
        amount="15", currency="USD", quantity=10, series="101", pin_length=16,
        reseller="Acme", expires=format_time(LATER), now=NOW,
    )
    fields.update(overrides)
    return build_request(**fields)


def generate(store, **overrides):
    options = {k: overrides.pop(k) for k in ("progress", "cancel", "pin_source", "chunk_size") if k in overrides}
    return generate_cards(store, make_request(**overrides), now=NOW, **options)


def snapshot():
    """Everything a refused or cancelled batch must leave exactly as it was."""
    return {
        "cards": Card.select().count(),
        "batches": Batch.select().count(),
        "audit": AuditEvent.select().count(),
        "series": {s.name: s.next_number for s in Series.select()},
    }


def pins_of(store, batch_id) -> dict[int, str]:
    """{serial number: PIN} of a batch, decrypted."""
    query = Card.select(Card.number, Card.pin_ct).where(Card.batch == batch_id).order_by(Card.number).tuples()
    return {number: store.key.decrypt(ct) for number, ct in query}


class SequentialSource:
    """Deterministic PINs 0, 1, 2, ... (zero-padded): fast and collision-free on its own."""

    def __init__(self, start: int = 0) -> None:
        self.next = start

    def draw(self, count: int, length: int) -> list[str]:
        out = [str(self.next + i).zfill(length) for i in range(count)]
        self.next += count
        return out


class CollidingSource:
    """Mostly duplicates: of PINs already in the database, and of each other within one draw.

    Each draw still holds some new PINs, so generation makes progress; it must not lose cards.
    """

    def __init__(self, existing: list[str], start: int = 10**9) -> None:
        self.existing = existing
        self.fresh = start
        self.draws: list[int] = []

    def draw(self, count: int, length: int) -> list[str]:
        self.draws.append(count)
        out: list[str] = []
        for i in range(count):
            last = i == count - 1
            if i % 3 == 0 and self.existing and not last:
                out.append(self.existing[(len(self.draws) + i) % len(self.existing)])  # an existing card's PIN
            elif i % 3 == 2:
                out.append(out[-1])  # the same PIN twice in one draw
            else:
                out.append(str(self.fresh).zfill(length))
                self.fresh += 1
        return out


# --- counts and serials ---------------------------------------------------------------------


def test_exact_count_and_contiguous_serials(store, acme):
    result = generate(store, quantity=250, chunk_size=100)
    assert (result.first_number, result.last_number, result.count) == (1, 250, 250)
    assert result.first_serial == "101-000000001"
    assert result.last_serial == "101-000000250"
    numbers = [n for (n,) in Card.select(Card.number).where(Card.batch == result.batch_id).order_by(Card.number).tuples()]
    assert numbers == list(range(1, 251))
    batch = Batch.get_by_id(result.batch_id)
    assert (batch.quantity, batch.first_number, batch.series) == (250, 1, "101")
    assert (batch.amount, batch.currency, batch.pin_length, batch.reseller_id) == (1500, "USD", 16, acme.id)
    assert batch.expires_at == LATER
    assert batch.created_by == "tester"
    cards = list(Card.select().where(Card.batch == result.batch_id).limit(3))
    for card in cards:
        assert (card.amount, card.currency, card.reseller_id, card.expires_at, card.pin_length) == (
            1500, "USD", acme.id, LATER, 16,
        )
        assert card.activated_at is None
        assert card.status(NOW) == "new"


def test_serials_continue_across_batches_and_series_are_independent(store, acme):
    first = generate(store, quantity=30)
    second = generate(store, quantity=20)
    other = generate(store, quantity=5, series="a7")  # series is upper-cased
    third = generate(store, quantity=1)
    assert (first.first_number, first.last_number) == (1, 30)
    assert (second.first_number, second.last_number) == (31, 50)
    assert (other.series, other.first_number, other.last_number) == ("A7", 1, 5)
    assert (third.first_number, third.last_number) == (51, 51)
    assert Card.select().where(Card.series == "101").count() == 51
    assert {s.name: s.next_number for s in Series.select()} == {"101": 52, "A7": 6}


def test_serials_are_never_reused_after_a_batch_is_deleted(store, acme):
    first = generate(store, quantity=10)
    with store.write():
        Card.delete().where(Card.batch == first.batch_id).execute()
        Batch.delete().where(Batch.id == first.batch_id).execute()
    assert Card.select().count() == 0
    again = generate(store, quantity=10)
    assert (again.first_number, again.last_number) == (11, 20)


def test_a_full_series_is_refused_and_the_last_numbers_can_be_used(store, acme):
    generate(store, quantity=1)
    with store.write():
        Series.update(next_number=999_999_990).where(Series.name == "101").execute()
    before = snapshot()
    with pytest.raises(Refused) as info:
        generate(store, quantity=11)
    assert info.value.code == "series-full"
    assert "series 101 has 10 serial numbers left and 11 were asked for" in str(info.value)
    assert snapshot() == before
    last = generate(store, quantity=10)
    assert (last.first_serial, last.last_serial) == ("101-999999990", "101-999999999")
    with pytest.raises(Refused, match="has 0 serial numbers left"):
        generate(store, quantity=1)
    assert generate(store, quantity=1, series="102").first_number == 1


def test_no_reseller_is_allowed(store):
    result = generate(store, reseller="", quantity=3)
    assert result.reseller is None
    assert Card.select().where(Card.reseller.is_null()).count() == 3


def test_unknown_reseller_is_bad_input_and_writes_nothing(store, acme):
    before = snapshot()
    with pytest.raises(InputError) as info:
        generate(store, reseller="Nobody Inc")
    assert info.value.field == "reseller"
    assert "Nobody Inc" in info.value.message
    assert snapshot() == before


def test_expiration_in_the_past_is_refused_before_writing(store, acme):
    request = make_request()
    before = snapshot()
    with pytest.raises(InputError) as info:
        generate_cards(store, request, now=LATER + timedelta(seconds=1))
    assert info.value.field == "expires"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount": "10,50"}, "amount"),
        ({"currency": "US"}, "currency"),
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1_000_001}, "quantity"),
        ({"quantity": "ten"}, "quantity"),
        ({"quantity": "1" * 5_000}, "quantity"),  # beyond int()'s digit limit: still bad input
        ({"amount": "9" * 5_000}, "amount"),
        ({"pin_length": "1" * 5_000}, "pin_length"),
        ({"series": "10-1"}, "series"),
        ({"series": ""}, "series"),
        ({"pin_length": 4}, "pin_length"),
        ({"expires": "2026-05-31"}, "expires"),
        ({"expires": "16/07/2027"}, "expires"),
    ],
)
def test_build_request_rejects(overrides, field):
    with pytest.raises(InputError) as info:
        make_request(**overrides)
    assert info.value.field == field


# --- PINs -----------------------------------------------------------------------------------


def test_pins_are_16_ascii_digits_unique_and_unrelated_to_serials(store, acme):
    result = generate(store, quantity=300, chunk_size=64)
    pins = pins_of(store, result.batch_id)
    assert sorted(pins) == list(range(1, 301))
    values = list(pins.values())  # in serial order
    assert all(len(p) == 16 and p.isascii() and p.isdigit() for p in values)
    assert len(set(values)) == 300
    assert values != sorted(values)
    assert values != sorted(values, reverse=True)
    # neighbouring serials do not get neighbouring PINs
    steps = {int(b) - int(a) for a, b in zip(values, values[1:])}
    assert len(steps) > 250


def test_collisions_are_redrawn_not_lost(store, acme):
    before = generate(store, quantity=40, pin_source=SequentialSource(start=5_000))
    existing = list(pins_of(store, before.batch_id).values())
    source = CollidingSource(existing)
    result = generate(store, quantity=500, chunk_size=128, pin_source=source)
    assert result.count == 500
    assert (result.first_number, result.last_number) == (41, 540)
    pins = pins_of(store, result.batch_id)
    assert sorted(pins) == list(range(41, 541))
    assert len(set(pins.values())) == 500
    assert not set(pins.values()) & set(existing)
    assert Card.select().count() == 540
    assert len(source.draws) > 4  # collisions really happened and were redrawn


def test_a_source_that_only_repeats_gives_up_cleanly(store, acme, monkeypatch):
    from topup_tui.core import generate as generate_mod

    monkeypatch.setattr(generate_mod._CardInserter, "MAX_ROUNDS", 5)
    generate(store, quantity=1, pin_source=SequentialSource(start=7))
    before = snapshot()

    class Stuck:
        def draw(self, count, length):
            return [str(7).zfill(length)] * count

    with pytest.raises(Refused) as info:
        generate(store, quantity=3, pin_source=Stuck())
    assert info.value.code == "pins-exhausted"
    assert snapshot() == before


# --- weak PINs and exhaustion ----------------------------------------------------------------


def test_weak_pins_are_refused_with_the_numbers_and_nothing_written(store, acme):
    generate(store, quantity=2)  # the series counter exists; it must not move
    before = snapshot()
    with pytest.raises(Refused) as info:
        generate(store, pin_length=5, quantity=101)
    message = str(info.value)
    assert info.value.code == "weak-pins"
    assert "101 live 5-digit cards" in message
    assert f"1 in {MAX_GUESS_ODDS:,}" in message
    assert "--pin-length 6" in message
    assert "--allow-weak-pins" in message
    assert snapshot() == before


def test_weak_pin_limit_boundary(store, acme):
    # 100 live cards * 1,000 = 10**5: exactly at the limit, allowed without an override
    result = generate(store, pin_length=5, quantity=100)
    assert result.weak_pins_override is False
    # one more live 5-digit card crosses it
    with pytest.raises(Refused):
        generate(store, pin_length=5, quantity=1)


def test_existing_live_cards_count_towards_the_limit_but_expired_do_not(store, acme):
    generate(store, pin_length=5, quantity=60)
    with pytest.raises(Refused, match="101 live 5-digit cards"):
        generate(store, pin_length=5, quantity=41)
    # cards that have expired by `now` no longer count as guessable
    with store.write():
        Card.update(expires_at=NOW).execute()
    result = generate(store, pin_length=5, quantity=41)
    assert result.weak_pins_override is False


def test_allow_weak_pins_succeeds_and_is_audited(store, acme):
    result = generate(store, pin_length=5, quantity=101, allow_weak_pins=True)
    assert result.count == 101
    assert result.weak_pins_override is True
    assert Batch.get_by_id(result.batch_id).allow_weak_pins is True
    event = AuditEvent.get((AuditEvent.action == "generate") & (AuditEvent.target == f"batch {result.batch_id}"))
    details = json.loads(event.details)
    assert details["weak_pins_override"] is True
    assert details["pin_length"] == 5
    assert event.count == 101
    assert event.actor == "tester"
    pins = pins_of(store, result.batch_id).values()
    assert all(len(p) == 5 and p.isdigit() for p in pins)
    assert len(set(pins)) == 101


def test_audit_of_a_normal_batch(store, acme):
    result = generate(store, quantity=7)
    event = AuditEvent.get(AuditEvent.action == "generate")
    details = json.loads(event.details)
    assert details["weak_pins_override"] is False
    assert details["first_serial"] == "101-000000001"
    assert details["last_serial"] == "101-000000007"
    assert details["amount"] == 1500 and details["currency"] == "USD"
    assert details["reseller"] == "Acme"
    assert event.target == f"batch {result.batch_id}"
    assert event.count == 7
    # never a PIN in the audit
    for pin in pins_of(store, result.batch_id).values():
        assert pin not in event.details


def test_more_than_the_whole_pin_space_is_refused(store, acme):
    before = snapshot()
    with pytest.raises(Refused) as info:
        generate(store, pin_length=5, quantity=100_001, allow_weak_pins=True)
    assert info.value.code == "pins-exhausted"
    assert "only 100,000 unused 5-digit PINs remain" in str(info.value)
    assert "100,001 were asked for" in str(info.value)
    assert "--pin-length" in str(info.value)
    assert snapshot() == before


def test_fewer_free_pins_than_requested_is_refused(store, acme):
    generate(store, pin_length=5, quantity=1_000, allow_weak_pins=True, chunk_size=1_000, pin_source=SequentialSource())
    # expired and activated cards keep their PINs: those are not free either
    with store.write():
        Card.update(expires_at=NOW).where(Card.number <= 500).execute()
    generate(store, pin_length=6, quantity=5)  # other lengths do not take 5-digit PINs
    before = snapshot()
    with pytest.raises(Refused) as info:
        generate(store, pin_length=5, quantity=99_001, allow_weak_pins=True)
    assert info.value.code == "pins-exhausted"
    assert "only 99,000 unused 5-digit PINs remain and 99,001 were asked for" in str(info.value)
    assert snapshot() == before


# --- cancel and progress ---------------------------------------------------------------------


def test_cancel_half_way_rolls_everything_back(store, acme):
    kept = generate(store, quantity=10)
    before = snapshot()
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= total // 2:
            cancel.set()

    with pytest.raises(Cancelled) as info:
        generate(store, quantity=1_000, chunk_size=100, progress=progress, cancel=cancel)
    assert "nothing was written" in str(info.value)
    assert seen == [0, 100, 200, 300, 400, 500]  # it stopped at the next chunk boundary
    assert snapshot() == before
    assert Series.get_by_id("101").next_number == 11
    after = generate(store, quantity=5)
    assert after.first_number == kept.last_number + 1


def test_cancel_after_the_last_chunk_still_rolls_back(store, acme):
    before = snapshot()
    cancel = threading.Event()

    def progress(done, total):
        if done == total:
            cancel.set()

    with pytest.raises(Cancelled):
        generate(store, quantity=50, chunk_size=20, progress=progress, cancel=cancel)
    assert snapshot() == before


def test_cancel_from_another_thread(store, acme):
    """The TUI cancels from its own thread while the worker generates."""
    cancel = threading.Event()
    reached = threading.Event()
    resume = threading.Event()
    errors = []

    def progress(done, total):
        if done == 200:
            reached.set()
            resume.wait(10)

    def worker():
        try:
            generate(store, quantity=1_000, chunk_size=100, progress=progress, cancel=cancel)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    assert reached.wait(10)
    cancel.set()
    resume.set()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], Cancelled)
    assert Card.select().count() == 0
    assert Batch.select().count() == 0


def test_progress_increases_to_the_total(store, acme):
    calls = []
    generate(store, quantity=1_050, chunk_size=200, progress=lambda done, total: calls.append((done, total)))
    dones = [d for d, _ in calls]
    assert {t for _, t in calls} == {1_050}
    assert dones == sorted(set(dones))  # strictly increasing
    assert dones[0] == 0
    assert dones[-1] == 1_050
    assert len(calls) == 1 + 6  # 0, then once per chunk (5 full chunks and a 50-card one)


def test_unset_cancel_event_changes_nothing(store, acme):
    result = generate(store, quantity=30, chunk_size=7, cancel=threading.Event())
    assert result.count == 30
    assert Card.select().count() == 30


# --- status ----------------------------------------------------------------------------------


def test_status_boundaries():
    expires = LATER
    one = timedelta(seconds=1)
    assert card_status(None, expires, expires - one) == "new"
    assert card_status(None, expires, expires) == "expired"
    assert card_status(None, expires, expires + one) == "expired"
    assert card_status(NOW, expires, expires - one) == "activated"
    assert card_status(NOW, expires, expires) == "activated"
    assert card_status(NOW, expires, expires + timedelta(days=999)) == "activated"


def test_stored_card_status(store, acme):
    result = generate(store, quantity=2, expires="2027-07-16")
    card, other = Card.select().where(Card.batch == result.batch_id).order_by(Card.number)
    expiry = card.expires_at
    assert format_time(expiry) == "2027-07-16 23:59:59+0000"
    assert card.status(expiry - timedelta(seconds=1)) == "new"
    assert card.status(expiry) == "expired"
    with store.write():
        Card.update(activated_at=NOW).where(Card.id == card.id).execute()
    card = Card.get_by_id(card.id)
    assert card.status(expiry + timedelta(days=1)) == "activated"
    assert other.status(expiry + timedelta(days=1)) == "expired"


def test_default_pin_source_is_the_csprng(store, acme, monkeypatch):
    """With no pin_source, generation draws from secrets.token_bytes."""
    import secrets

    calls = []
    real = secrets.token_bytes

    def spy(n):
        calls.append(n)
        return real(n)

    monkeypatch.setattr(SecretsPinSource.__init__, "__defaults__", (spy,))
    generate(store, quantity=5)
    assert calls
