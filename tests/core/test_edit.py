"""Mass edit and delete: previews that equal the outcome, activated cards kept, one audit
event per call, "delete all" needing its confirmation, serials never reissued."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.card_data import BOUNDARY, build, generate, records, serials
from tests.conftest import LATER, NOW
from topup_tui.core.edit import Preview, Scope, delete_cards, mass_edit, preview
from topup_tui.core.errors import InputError, Refused
from topup_tui.core.filters import CardFilter, build_filter
from topup_tui.core.models import AuditEvent, Card, CardEvent, Series
from topup_tui.core.search import lookup, search_cards

NEW_EXPIRY = datetime(2028, 3, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def data(store):
    return build(store)


def snapshot():
    """Everything an edit may change, by card id."""
    return {
        c.id: (c.serial, c.expires_at, c.reseller_id, c.activated_at, c.activated_by_id, c.amount)
        for c in Card.select()
    }


def counts(recs, now=NOW) -> Preview:
    by = {"new": 0, "activated": 0, "expired": 0}
    for r in recs:
        by[r.status(now)] += 1
    return Preview(**by)


def audit(action):
    return list(AuditEvent.select().where(AuditEvent.action == action).order_by(AuditEvent.id))


# --- preview equals the outcome ----------------------------------------------------------------

def test_mass_edit_by_filter_preview_equals_outcome(store, data):
    recs = records(store)
    in_scope = [r for r in recs if r.series == "202"]  # new, activated and expired cards
    expected = counts(in_scope)
    assert expected.new and expected.activated and expected.expired
    scope = Scope.matching(build_filter(series="202"))
    before = snapshot()
    plan = preview(store, scope, now=NOW)
    assert plan == expected
    assert snapshot() == before  # a preview writes nothing
    result = mass_edit(store, scope, set_expires=NEW_EXPIRY, set_reseller="Bravo", now=NOW)
    assert (result.changed, result.kept_activated) == (plan.changeable, plan.activated)
    assert result.sentence("changed") == (
        f"changed {plan.changeable} cards; {plan.activated} activated cards kept as they are")

    after = snapshot()
    bravo = data.resellers["Bravo"]
    for r in recs:
        old, new = before[r.id], after[r.id]
        if r.series == "202" and r.activated_at is None:
            assert new[1] == NEW_EXPIRY and new[2] == bravo
            assert (new[0], new[3], new[5]) == (old[0], old[3], old[5])
        else:
            assert new == old, r.serial  # activated cards and other series untouched
    # The expired cards of the scope are live again; nothing else changed status.
    assert preview(store, scope, now=NOW) == Preview(expected.new + expected.expired, expected.activated, 0)


def test_delete_by_ids_preview_equals_outcome(store, data):
    recs = records(store)
    chosen = [r for r in recs if r.series in ("101", "202") and r.number % 3 == 0]
    expected = counts(chosen)
    assert expected.new and expected.activated and expected.expired
    scope = Scope.of_ids(r.id for r in chosen)
    assert not scope.is_everything
    plan = preview(store, scope, now=NOW)
    assert plan == expected
    result = delete_cards(store, scope, now=NOW)
    assert (result.changed, result.kept_activated) == (plan.changeable, plan.activated)
    left = {c.id for c in Card.select(Card.id)}
    for r in recs:
        if r in chosen and r.activated_at is None:
            assert r.id not in left
        else:
            assert r.id in left, r.serial
    assert preview(store, scope, now=NOW) == Preview(0, expected.activated, 0)


def test_mass_edit_by_ids_preview_equals_outcome(store, data):
    recs = records(store)
    chosen = [r for r in recs if r.reseller in ("Alpha", "Charlie") and r.id % 2]
    scope = Scope.of_ids([r.id for r in chosen] + [r.id for r in chosen[:3]])  # duplicates count once
    plan = preview(store, scope, now=NOW)
    assert plan == counts(chosen)
    before = snapshot()
    result = mass_edit(store, scope, set_expires=NEW_EXPIRY, now=NOW)
    assert (result.changed, result.kept_activated) == (plan.changeable, plan.activated)
    after = snapshot()
    for r in recs:
        if r in chosen and r.activated_at is None:
            assert after[r.id][1] == NEW_EXPIRY and after[r.id][2] == before[r.id][2]
        else:
            assert after[r.id] == before[r.id]


def test_delete_by_filter_preview_equals_outcome(store, data):
    recs = records(store)
    flt = build_filter(status="expired")
    plan = preview(store, Scope.matching(flt), now=NOW)
    assert plan == Preview(0, 0, 4)
    result = delete_cards(store, Scope.matching(flt), now=NOW)
    assert (result.changed, result.kept_activated) == (4, 0)
    assert serials(records(store)) == {r.serial for r in recs if r.status(NOW) != "expired"}

    flt = build_filter(reseller="Alpha")
    alpha = [r for r in recs if r.reseller == "Alpha"]
    plan = preview(store, Scope.matching(flt), now=NOW)
    assert plan == counts(alpha)
    result = delete_cards(store, Scope.matching(flt), now=NOW)
    assert (result.changed, result.kept_activated) == (plan.changeable, plan.activated) == (32, 4)
    assert {r.serial for r in records(store) if r.reseller == "Alpha"} == {
        r.serial for r in alpha if r.activated_at is not None}


def test_preview_at_the_expiration_instant(store, data):
    scope = Scope.matching(build_filter(series="AB7"))
    assert preview(store, scope, now=BOUNDARY - timedelta(seconds=1)) == Preview(5, 1, 0)
    assert preview(store, scope, now=BOUNDARY) == Preview(0, 1, 5)
    assert Preview(5, 1, 0).sentence("change") == "this will change 5 cards (1 activated kept)"
    assert Preview(0, 0, 5).sentence("delete") == "this will delete 5 cards"


def test_large_id_scope_is_chunked(store, data):
    """More ids than one IN list holds (most of them no card): counts still add up."""
    recs = records(store)
    scope = Scope.of_ids(range(1, 2_500))
    assert len(scope.conditions(store, NOW)) == 3
    plan = preview(store, scope, now=NOW)
    assert plan == counts(recs)
    result = mass_edit(store, scope, set_reseller="Charlie", now=NOW)
    assert (result.changed, result.kept_activated) == (plan.changeable, plan.activated)
    charlie = data.resellers["Charlie"]
    assert Card.select().where(Card.reseller == charlie).count() == plan.changeable + sum(
        1 for r in recs if r.reseller == "Charlie" and r.activated_at is not None)


# --- activated cards ----------------------------------------------------------------------------

def test_activated_cards_are_untouched_by_edit_and_delete(store, data):
    activated = {r.id: r for r in records(store) if r.activated_at is not None}
    assert len(activated) == 9
    before = snapshot()
    scope = Scope.of_ids(activated)
    assert preview(store, scope, now=NOW) == Preview(0, 9, 0)
    result = mass_edit(store, scope, set_expires=NOW - timedelta(days=1), set_reseller="Charlie", now=NOW)
    assert (result.changed, result.kept_activated) == (0, 9)
    result = delete_cards(store, scope, now=NOW)
    assert (result.changed, result.kept_activated) == (0, 9)
    result = delete_cards(store, Scope.matching(None), confirm_all=True, now=NOW)
    assert result.kept_activated == 9
    after = snapshot()
    assert set(after) == set(activated)
    assert after == {i: before[i] for i in activated}
    # No edit or delete is linked to an activated card's history.
    for r in activated.values():
        actions = [h.action for h in lookup(store, r.serial, now=NOW)[0].history]
        assert "mass-edit" not in actions and "delete" not in actions


# --- audit ------------------------------------------------------------------------------------

def test_one_audit_event_per_call(store, data):
    total = AuditEvent.select().count()
    flt = build_filter(series="101")
    result = mass_edit(store, Scope.matching(flt), set_expires=NEW_EXPIRY, now=NOW)
    assert AuditEvent.select().count() == total + 1
    event = audit("mass-edit")[-1]
    assert (event.id, event.count, event.actor) == (result.event_id, result.changed, "tester")
    assert result.changed == 41 and result.kept_activated == 4
    details = json.loads(event.details)
    assert details["kept_activated"] == 4
    assert details["set_expires"] == "2028-03-31 23:59:59+0000"
    assert details["set_reseller"] == "preserve"
    assert details["scope"] == {"filter": {"series": "101"}}
    assert event.target == "series=101"
    # The changed cards link to the event; the activated ones do not.
    linked = {cid for (cid,) in CardEvent.select(CardEvent.card_id).where(CardEvent.event_id == event.id).tuples()}
    assert linked == {r.id for r in records(store) if r.series == "101" and r.activated_at is None}
    assert "mass-edit" in [h.action for h in lookup(store, "101-5", now=NOW)[0].history]

    ids = sorted(linked)[:7]
    result = delete_cards(store, Scope.of_ids(ids), now=NOW)
    assert AuditEvent.select().count() == total + 2
    event = audit("delete")[-1]
    assert (event.id, event.count) == (result.event_id, 7)
    details = json.loads(event.details)
    assert details["scope"] == {"ids": ids} and details["kept_activated"] == 0
    assert event.target == "7 selected cards"


def test_pin_in_a_scope_is_not_written_to_the_audit(store, data):
    rec = [r for r in records(store) if r.activated_at is None][0]
    result = mass_edit(store, Scope.matching(build_filter(pin=rec.pin)), set_expires=NEW_EXPIRY, now=NOW)
    assert result.changed == 1
    event = AuditEvent.get_by_id(result.event_id)
    assert rec.pin not in event.details and rec.pin not in event.target
    assert rec.pin[-4:] in event.details


# --- delete everything --------------------------------------------------------------------------

@pytest.mark.parametrize("scope", [
    Scope.matching(None), Scope.matching(CardFilter()), Scope(), Scope.matching(build_filter(reseller="all resellers")),
], ids=["none", "empty", "bare", "all-resellers"])
def test_delete_everything_needs_confirmation(store, data, scope):
    recs = records(store)
    before, events = snapshot(), AuditEvent.select().count()
    assert scope.is_everything
    with pytest.raises(Refused) as exc:
        delete_cards(store, scope, now=NOW)
    assert exc.value.code == "confirm-all"
    assert snapshot() == before and AuditEvent.select().count() == events
    plan = preview(store, scope, now=NOW)
    result = delete_cards(store, scope, confirm_all=True, now=NOW)
    assert (result.changed, result.kept_activated) == (plan.changeable, plan.activated) == (62, 9)
    assert serials(records(store)) == {r.serial for r in recs if r.activated_at is not None}
    assert AuditEvent.select().count() == events + 1
    assert audit("delete")[-1].target == "all cards"


def test_filter_delete_needs_no_confirmation(store, data):
    result = delete_cards(store, Scope.matching(build_filter(series="JP1")), now=NOW)
    assert result.changed == 4


# --- serials ----------------------------------------------------------------------------------

def test_serials_not_reissued_after_a_delete(store, data):
    tail = build_filter(serial_from="101-40", serial_to="101-45")
    assert delete_cards(store, Scope.matching(tail), now=NOW).changed == 5  # 101-42 is activated
    again = generate(store, now=NOW, series="101", quantity=3, amount="5", expires="2027-01-31")
    assert (again.first_number, again.last_number) == (46, 48)
    # Even with every card of the series gone, the counter only moves forward.
    delete_cards(store, Scope.matching(build_filter(series="JP1")), now=NOW)
    assert Card.select().where(Card.series == "JP1").count() == 0
    jp = generate(store, now=NOW, series="JP1", quantity=2, amount="500", currency="JPY", expires="2027-01-31")
    assert jp.first_serial == "JP1-000000005"
    assert Series.get_by_id("JP1").next_number == 7
    numbers = [n for (n,) in Card.select(Card.number).where(Card.series == "101").tuples()]
    assert len(numbers) == len(set(numbers))
    assert lookup(store, "101-40", now=NOW) == []


# --- what a mass edit sets --------------------------------------------------------------------

def test_expiration_in_the_past_expires_the_cards(store, data):
    recs = records(store)
    flt = build_filter(reseller="Bravo")
    past = NOW - timedelta(hours=1)
    result = mass_edit(store, Scope.matching(flt), set_expires=past, now=NOW)
    bravo = [r for r in recs if r.reseller == "Bravo"]
    assert result.changed == sum(1 for r in bravo if r.activated_at is None) == 18
    page = search_cards(store, build_filter(status="expired", reseller="Bravo"), page_size=500, now=NOW)
    assert serials(page.rows) == {r.serial for r in bravo if r.activated_at is None}
    assert all(row.status == "expired" for row in page.rows)
    assert search_cards(store, build_filter(status="new", reseller="Bravo"), now=NOW).total == 0


def test_set_reseller_unknown_is_bad_input_and_changes_nothing(store, data):
    before, events = snapshot(), AuditEvent.select().count()
    links = CardEvent.select().count()
    for scope in (Scope.matching(build_filter(series="101")), Scope.of_ids(before)):
        with pytest.raises(InputError) as exc:
            mass_edit(store, scope, set_reseller="Nobody", set_expires=NEW_EXPIRY, now=NOW)
        assert exc.value.field == "reseller"
    assert snapshot() == before
    assert AuditEvent.select().count() == events and CardEvent.select().count() == links


def test_blank_set_reseller_is_bad_input(store, data):
    before, events = snapshot(), AuditEvent.select().count()
    with pytest.raises(InputError):
        mass_edit(store, Scope.matching(build_filter(series="101")), set_reseller="  ", now=NOW)
    assert snapshot() == before and AuditEvent.select().count() == events


def test_nothing_to_change_is_bad_input(store, data):
    with pytest.raises(InputError):
        mass_edit(store, Scope.matching(build_filter(series="101")), now=NOW)
    with pytest.raises(InputError):
        Scope.of_ids([])


def test_unknown_reseller_in_the_scope_is_bad_input(store, data):
    before = snapshot()
    with pytest.raises(InputError):
        preview(store, Scope.matching(build_filter(reseller="Nobody")), now=NOW)
    with pytest.raises(InputError):
        mass_edit(store, Scope.matching(build_filter(reseller="Nobody")), set_expires=NEW_EXPIRY, now=NOW)
    with pytest.raises(InputError):
        delete_cards(store, Scope.matching(build_filter(client="Nobody")), now=NOW)
    assert snapshot() == before


def test_reseller_scope_that_sets_a_reseller(store, data):
    """The scope is evaluated once: Alpha's cards become Bravo's, Bravo's own stay as they were."""
    recs = records(store)
    before = snapshot()
    alpha, bravo = data.resellers["Alpha"], data.resellers["Bravo"]
    scope = Scope.matching(build_filter(reseller="Alpha"))
    plan = preview(store, scope, now=NOW)
    result = mass_edit(store, scope, set_reseller="Bravo", now=NOW)
    assert (result.changed, result.kept_activated) == (plan.changeable, plan.activated) == (32, 4)
    after = snapshot()
    for r in recs:
        if r.reseller == "Alpha" and r.activated_at is None:
            assert after[r.id][2] == bravo and after[r.id][1] == before[r.id][1]
        else:
            assert after[r.id] == before[r.id]
    assert {r.serial for r in records(store) if r.reseller == "Alpha"} == {
        r.serial for r in recs if r.reseller == "Alpha" and r.activated_at is not None}

    # Back again, scoped by the new owner: every unredeemed Bravo card (old and moved) goes to Alpha.
    result = mass_edit(store, Scope.matching(build_filter(reseller="Bravo")), set_reseller="Alpha", now=NOW)
    assert result.changed == 32 + 18
    assert Card.select().where(Card.reseller == alpha).count() == 32 + 4 + 18


def test_status_scope_that_moves_cards_out_of_it(store, data):
    """Re-validating expired cards: the scope (status=expired) no longer matches them afterwards."""
    recs = records(store)
    flt = build_filter(status="expired")
    plan = preview(store, Scope.matching(flt), now=NOW)
    result = mass_edit(store, Scope.matching(flt), set_expires=LATER, now=NOW)
    assert result.changed == plan.expired == 4
    assert preview(store, Scope.matching(flt), now=NOW) == Preview(0, 0, 0)
    revived = {r.serial for r in recs if r.status(NOW) == "expired"}
    assert revived <= serials(search_cards(store, build_filter(status="new"), page_size=500, now=NOW).rows)
