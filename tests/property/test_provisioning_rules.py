"""The pure rules of the provisioning queue (SPEC §3.7, §3.10): retry backoff, quarantine,
coalescing of pending updates, replace deltas, and what an identity change means for a
target connector."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from xavyo_connectors_core.model import (
    AttributeDelta,
    Connector,
    DeltaOp,
    Direction,
    Identity,
    LeaveScope,
    OperationKind,
    Role,
    ScopeCondition,
    ScopeOp,
    Shadow,
    Situation,
)
from xavyo_connectors_core.model import Mapping as AttributeMapping
from xavyo_connectors_core.provisioning import (
    QUARANTINE_AFTER,
    QUARANTINE_BASE_SECONDS,
    QUARANTINE_MAX_SECONDS,
    account_key,
    backoff_delay,
    changed_attributes,
    coalesce,
    in_scope,
    plan_identity_change,
    quarantine_seconds,
    replace_deltas,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)
TENANT = UUID(int=1)

# --------------------------------------------------------------------------- helpers


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _shaped(values: list[Any]) -> Any:
    """No value: absent (None); one value: a scalar; several: a list."""
    if not values:
        return None
    return values[0] if len(values) == 1 else list(values)


def apply_deltas(attributes: Mapping[str, Any], deltas: Iterable[AttributeDelta]) -> dict[str, Any]:
    """Apply deltas to an account's attributes, in order, the way a target would.

    ``replace`` sets the values, ``add`` appends the ones not there yet, ``remove`` drops
    the ones given. The result has no empty attribute: no value removes the attribute, one
    value is a scalar, several a list.
    """
    result = dict(attributes)
    for delta in deltas:
        current = _values(result.get(delta.attribute))
        if delta.op is DeltaOp.REPLACE:
            values = list(delta.values)
        elif delta.op is DeltaOp.ADD:
            values = current + [v for v in delta.values if v not in current]
        else:
            values = [v for v in current if v not in delta.values]
        shaped = _shaped(values)
        if shaped is None:
            result.pop(delta.attribute, None)
        else:
            result[delta.attribute] = shaped
    return result


def normalized(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as ``apply_deltas`` leaves them: no empty values, one value a scalar."""
    return {
        name: shaped
        for name, value in attributes.items()
        if (shaped := _shaped(_values(value))) is not None
    }


def json_form(value: Any) -> Any:
    """A form in which equality is JSON equality: ``1 == 1.0`` but ``true`` is not ``1``."""
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list | tuple):
        return ("array", tuple(json_form(v) for v in value))
    if isinstance(value, Mapping):
        return ("object", tuple(sorted((k, json_form(v)) for k, v in value.items())))
    return (type(value).__name__, value)


# --------------------------------------------------------------------------- strategies

# No booleans here: Python's 1 == True would hide the difference (see the bool tests).
# Small alphabets make equal values (the interesting case) likely.
numbers_and_text = st.one_of(
    st.text("ab\u00e9", max_size=3), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5, -0.5])
)
# An attribute value as a target holds it: a scalar or a list of several values.
held_values = st.one_of(numbers_and_text, st.lists(numbers_and_text, min_size=2, max_size=3))
# Any value an identity or the mappings may produce: also None, [] and one-element lists.
any_values = st.one_of(st.none(), numbers_and_text, st.lists(numbers_and_text, max_size=3))
names = st.sampled_from(["mail", "cn", "sn", "title", "member"])
held_attributes = st.dictionaries(names, held_values, max_size=5)
any_attributes = st.dictionaries(names, any_values, max_size=5)
replace_delta = st.builds(
    AttributeDelta,
    attribute=names,
    op=st.just(DeltaOp.REPLACE),
    values=st.lists(numbers_and_text, max_size=3).map(tuple),
)
replace_updates = st.lists(replace_delta, max_size=5).map(tuple)

fewer_examples = settings(max_examples=50)
"""For the properties over collections of collections, where examples cost the most."""


# --------------------------------------------------------------------------- backoff


class Pinned(random.Random):
    """A random source whose ``uniform`` always gives one end of its range."""

    def __init__(self, end: str) -> None:
        super().__init__(0)
        self.end = end

    def uniform(self, a: float, b: float) -> float:
        return a if self.end == "low" else b


LOW, HIGH = Pinned("low"), Pinned("high")

attempts = st.integers(min_value=1, max_value=100)
bases = st.floats(min_value=0.001, max_value=100.0)


@st.composite
def base_and_cap(draw: st.DrawFn) -> tuple[float, float]:
    base = draw(bases)
    return base, draw(st.floats(min_value=base, max_value=100_000.0))


class TestBackoff:
    @given(attempts, base_and_cap(), st.integers(0, 2**32))
    def test_delay_lies_in_the_upper_half_of_the_step(
        self, attempt: int, policy: tuple[float, float], seed: int
    ) -> None:
        """The delay is in [step/2, step], step = min(cap, base * 2^(attempt-1))."""
        base, cap = policy
        step = min(cap, base * 2 ** (attempt - 1))
        delay = backoff_delay(attempt, base=base, cap=cap, rng=random.Random(seed))
        assert step / 2 <= delay <= step

    @given(attempts, base_and_cap())
    def test_delay_never_exceeds_the_cap(self, attempt: int, policy: tuple[float, float]) -> None:
        """Even the largest jitter stays within retry_max_seconds."""
        base, cap = policy
        assert backoff_delay(attempt, base=base, cap=cap, rng=HIGH) <= cap

    @given(attempts, base_and_cap())
    def test_bounds_never_decrease(self, attempt: int, policy: tuple[float, float]) -> None:
        """The lowest and the highest delay of the next attempt are no lower than this one's."""
        base, cap = policy
        for rng in (LOW, HIGH):
            this = backoff_delay(attempt, base=base, cap=cap, rng=rng)
            assert backoff_delay(attempt + 1, base=base, cap=cap, rng=rng) >= this

    @given(attempts, base_and_cap())
    def test_bounds_double_until_the_cap(self, attempt: int, policy: tuple[float, float]) -> None:
        """Below the cap each attempt doubles both bounds; the top bound is twice the bottom."""
        base, cap = policy
        low = backoff_delay(attempt, base=base, cap=cap, rng=LOW)
        high = backoff_delay(attempt, base=base, cap=cap, rng=HIGH)
        assert high == 2 * low
        if base * 2**attempt <= cap:
            assert backoff_delay(attempt + 1, base=base, cap=cap, rng=LOW) == 2 * low

    @given(attempts, base_and_cap(), st.integers(0, 2**32))
    def test_a_seeded_random_is_deterministic(
        self, attempt: int, policy: tuple[float, float], seed: int
    ) -> None:
        """The same seed gives the same delays."""
        base, cap = policy
        first, second = random.Random(seed), random.Random(seed)
        for n in range(attempt, attempt + 3):
            assert backoff_delay(n, base=base, cap=cap, rng=first) == backoff_delay(
                n, base=base, cap=cap, rng=second
            )

    @given(attempts)
    def test_the_default_random_stays_within_bounds(self, attempt: int) -> None:
        """Without an rng the process-wide one is used, within the same bounds."""
        step = min(600.0, 2.0 * 2 ** (attempt - 1))
        assert step / 2 <= backoff_delay(attempt, base=2.0, cap=600.0) <= step

    @pytest.mark.parametrize(
        ("attempt", "low", "high"),
        [(1, 1, 2), (2, 2, 4), (3, 4, 8), (9, 256, 512), (10, 300, 600), (100, 300, 600)],
    )
    def test_spec_defaults(self, attempt: int, low: float, high: float) -> None:
        """Base 2 s, factor 2, cap 10 min (SPEC §3.7)."""
        assert backoff_delay(attempt, base=2.0, cap=600.0, rng=LOW) == low
        assert backoff_delay(attempt, base=2.0, cap=600.0, rng=HIGH) == high


# --------------------------------------------------------------------------- quarantine

failure_counts = st.integers(min_value=0, max_value=1000)


class TestQuarantine:
    @given(st.integers(min_value=0, max_value=QUARANTINE_AFTER))
    def test_up_to_the_threshold_the_pause_is_the_base(self, failures: int) -> None:
        """At or below the threshold the pause is the base interval."""
        assert quarantine_seconds(failures) == QUARANTINE_BASE_SECONDS

    @given(st.integers(min_value=QUARANTINE_AFTER, max_value=1000))
    def test_each_failure_past_the_threshold_doubles_the_pause(self, failures: int) -> None:
        """One more failure doubles the pause, up to the cap."""
        expected = min(QUARANTINE_MAX_SECONDS, 2 * quarantine_seconds(failures))
        assert quarantine_seconds(failures + 1) == expected

    @given(failure_counts)
    def test_the_pause_is_capped(self, failures: int) -> None:
        """A connector never pauses longer than the cap, nor less than the base."""
        pause = quarantine_seconds(failures)
        assert QUARANTINE_BASE_SECONDS <= pause <= QUARANTINE_MAX_SECONDS

    @given(failure_counts)
    def test_the_pause_never_shrinks(self, failures: int) -> None:
        """More failures never mean a shorter pause."""
        assert quarantine_seconds(failures + 1) >= quarantine_seconds(failures)

    def test_the_sequence(self) -> None:
        """5 s at the threshold, then 10, 20, 40 ... up to 600 s."""
        start = QUARANTINE_AFTER
        pauses = [quarantine_seconds(n) for n in range(start, start + 10)]
        assert pauses == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 600.0, 600.0, 600.0]

    @pytest.mark.parametrize("failures", [1029, 10_000])
    def test_the_pause_stays_capped_after_very_many_failures(self, failures: int) -> None:
        """A target down for days still pauses its connector for the cap, no more."""
        assert quarantine_seconds(failures) == QUARANTINE_MAX_SECONDS


# --------------------------------------------------------------------------- coalescing


class TestCoalesce:
    @fewer_examples
    @given(held_attributes, replace_updates, replace_updates)
    def test_coalesced_equals_applied_in_turn(
        self,
        account: dict[str, Any],
        earlier: tuple[AttributeDelta, ...],
        later: tuple[AttributeDelta, ...],
    ) -> None:
        """Applying coalesce(a, b) does what applying a then b does."""
        expected = apply_deltas(apply_deltas(account, earlier), later)
        assert apply_deltas(account, coalesce(earlier, later)) == expected

    @fewer_examples
    @given(replace_updates, replace_updates, replace_updates)
    def test_coalesce_is_associative(
        self,
        a: tuple[AttributeDelta, ...],
        b: tuple[AttributeDelta, ...],
        c: tuple[AttributeDelta, ...],
    ) -> None:
        """Merging three pending updates gives one result, however they are grouped."""
        assert coalesce(coalesce(a, b), c) == coalesce(a, coalesce(b, c))

    @fewer_examples
    @given(held_attributes, replace_updates, replace_updates, replace_updates)
    def test_grouping_never_changes_the_effect(
        self,
        account: dict[str, Any],
        a: tuple[AttributeDelta, ...],
        b: tuple[AttributeDelta, ...],
        c: tuple[AttributeDelta, ...],
    ) -> None:
        """Either grouping of three updates does what applying them in turn does."""
        in_turn = apply_deltas(apply_deltas(apply_deltas(account, a), b), c)
        assert apply_deltas(account, coalesce(coalesce(a, b), c)) == in_turn
        assert apply_deltas(account, coalesce(a, coalesce(b, c))) == in_turn

    @fewer_examples
    @given(replace_updates, replace_updates)
    def test_the_later_change_wins(
        self, earlier: tuple[AttributeDelta, ...], later: tuple[AttributeDelta, ...]
    ) -> None:
        """An attribute the later update touches keeps only the later deltas, in order."""
        touched = {d.attribute for d in later}
        merged = coalesce(earlier, later)
        assert [d for d in merged if d.attribute in touched] == list(later)
        untouched = [d for d in earlier if d.attribute not in touched]
        assert [d for d in merged if d.attribute not in touched] == untouched

    @fewer_examples
    @given(held_attributes, replace_updates)
    def test_coalescing_an_update_with_itself_changes_nothing(
        self, account: dict[str, Any], update: tuple[AttributeDelta, ...]
    ) -> None:
        """coalesce(a, a) has the effect of a."""
        assert apply_deltas(account, coalesce(update, update)) == apply_deltas(account, update)

    @fewer_examples
    @given(replace_updates)
    def test_an_empty_update_is_neutral(self, update: tuple[AttributeDelta, ...]) -> None:
        """Nothing before or after an update leaves it as it is."""
        assert coalesce((), update) == update
        assert coalesce(update, ()) == update

    def test_adds_to_one_attribute_accumulate(self) -> None:
        """Two pending adds to a multivalued attribute both take effect once coalesced."""
        first = (AttributeDelta("member", DeltaOp.ADD, ("a",)),)
        second = (AttributeDelta("member", DeltaOp.ADD, ("b",)),)
        account: dict[str, Any] = {"member": ["z"]}
        in_turn = apply_deltas(apply_deltas(account, first), second)
        assert in_turn == {"member": ["z", "a", "b"]}
        assert apply_deltas(account, coalesce(first, second)) == in_turn


# --------------------------------------------------------------------------- replace deltas


class TestReplaceDeltas:
    @fewer_examples
    @given(any_attributes)
    def test_one_replace_per_attribute_in_name_order(self, attributes: dict[str, Any]) -> None:
        """Each attribute gets exactly one replace delta; deltas come sorted by name."""
        deltas = replace_deltas(attributes)
        assert [d.attribute for d in deltas] == sorted(attributes)
        assert all(d.op is DeltaOp.REPLACE for d in deltas)

    @fewer_examples
    @given(any_attributes)
    def test_values_take_the_shape_of_deltas(self, attributes: dict[str, Any]) -> None:
        """None is no value, a list is its values, anything else is one value."""
        for delta in replace_deltas(attributes):
            value = attributes[delta.attribute]
            if value is None:
                assert delta.values == ()
            elif isinstance(value, list):
                assert delta.values == tuple(value)
            else:
                assert delta.values == (value,)

    @fewer_examples
    @given(any_attributes, held_attributes)
    def test_applying_the_changes_turns_before_into_after(
        self, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """replace_deltas(changed_attributes(before, after)) applied to before gives after."""
        result = apply_deltas(before, replace_deltas(changed_attributes(before, after)))
        assert json_form(result) == json_form(after)

    @fewer_examples
    @given(any_attributes, any_attributes)
    def test_empty_values_clear_attributes(
        self, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """Values that hold nothing (None, []) come out as an absent attribute."""
        result = apply_deltas(before, replace_deltas(changed_attributes(before, after)))
        assert json_form(normalized(result)) == json_form(normalized(after))

    @fewer_examples
    @given(
        st.dictionaries(names, st.booleans(), max_size=4),
        st.dictionaries(names, st.booleans(), max_size=4),
    )
    def test_boolean_changes_round_trip(
        self, before: dict[str, bool], after: dict[str, bool]
    ) -> None:
        """Flags flipped between true and false are carried over."""
        result = apply_deltas(before, replace_deltas(changed_attributes(before, after)))
        assert json_form(result) == json_form(after)

    @fewer_examples
    @given(any_attributes)
    def test_nothing_changed_means_no_change(self, attributes: dict[str, Any]) -> None:
        """Comparing attributes with themselves finds nothing."""
        assert changed_attributes(attributes, attributes) == {}

    @fewer_examples
    @given(any_attributes, any_attributes)
    def test_changes_name_only_known_attributes(
        self, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """Every change is of an attribute present before or after; removed ones are None."""
        changed = changed_attributes(before, after)
        assert set(changed) <= set(before) | set(after)
        for name in set(before) - set(after):
            assert changed[name] is None

    @pytest.mark.parametrize(
        ("before", "after"), [(1, True), (0, False), (True, 1), ([1, 2], [True, 2])]
    )
    def test_a_number_becoming_a_boolean_is_a_change(self, before: Any, after: Any) -> None:
        """1 and true are different JSON values: the change is found."""
        assert changed_attributes({"a": before}, {"a": after}) == {"a": after}


# --------------------------------------------------------------------------- scope and keys


def identity(attributes: Mapping[str, Any], *, enabled: bool = True) -> Identity:
    return Identity(
        id=UUID(int=7),
        tenant_id=TENANT,
        attributes=dict(attributes),
        created_at=NOW,
        updated_at=NOW,
        enabled=enabled,
    )


MAPPINGS = (
    AttributeMapping(account="mail", identity="email", direction=Direction.OUTBOUND),
    AttributeMapping(account="givenName", identity="given_name", direction=Direction.BOTH),
    AttributeMapping(account="employeeNumber", identity="employee_id", direction=Direction.INBOUND),
)
ENGINEERS = (ScopeCondition("department", ScopeOp.EQ, "eng"),)


def target(
    *,
    scope: tuple[ScopeCondition, ...] | None = ENGINEERS,
    on_leave: LeaveScope | None = LeaveScope.DISABLE,
) -> Connector:
    return Connector(
        id=UUID(int=3),
        tenant_id=TENANT,
        name="app",
        type="scim",
        role=Role.TARGET,
        config={},
        created_at=NOW,
        updated_at=NOW,
        mappings=MAPPINGS,
        scope=scope,
        on_leave_scope=on_leave,
    )


def link(attributes: Mapping[str, Any]) -> Shadow:
    return Shadow(
        tenant_id=TENANT,
        connector_id=UUID(int=3),
        uid="u-1",
        name="u-1",
        attributes=dict(attributes),
        attributes_hash="",
        situation=Situation.LINKED,
        last_seen_at=NOW,
        identity_id=UUID(int=7),
    )


def account_of(person: Identity) -> dict[str, Any]:
    """The account attributes the outbound mappings make of an identity."""
    return {"mail": person.attributes["email"], "givenName": person.attributes["given_name"]}


text = st.text("ab@.\u00e9", max_size=6)
people = st.fixed_dictionaries(
    {
        "email": text,
        "given_name": text,
        "employee_id": text,
        "phone": text,
        "department": st.just("eng"),
    }
).map(identity)
"""Identities in the scope of ``target()``."""


def leave(person: Identity, how: str) -> Identity | None:
    """The identity after it left the scope of ``target()`` in one of the ways it can."""
    if how == "deleted":
        return None
    if how == "disabled":
        return attrs.evolve(person, enabled=False)
    attributes = dict(person.attributes)
    if how == "moved":
        attributes["department"] = "sales"
    else:
        del attributes["department"]
    return attrs.evolve(person, attributes=attributes)


ALICE = {
    "email": "a@example.org",
    "given_name": "A",
    "employee_id": "",
    "phone": "",
    "department": "eng",
}
LEAVE_KIND = {LeaveScope.DISABLE: OperationKind.DISABLE, LeaveScope.DELETE: OperationKind.DELETE}

ways_out = st.sampled_from(["deleted", "disabled", "moved", "dropped"])
leave_policies = st.sampled_from(LeaveScope)
links = st.sampled_from(["none", "current", "stale"])


def link_for(kind: str, person: Identity) -> Shadow | None:
    if kind == "none":
        return None
    if kind == "current":
        return link(account_of(person))
    return link({"mail": "old@example.org", "givenName": "Old"})


class TestInScope:
    @given(st.none() | st.just(ENGINEERS), people)
    def test_a_disabled_identity_is_never_in_scope(
        self, scope: tuple[ScopeCondition, ...] | None, person: Identity
    ) -> None:
        """Disabled identities have no account anywhere, whatever the scope."""
        assert not in_scope(target(scope=scope), attrs.evolve(person, enabled=False))

    def test_no_identity_is_not_in_scope(self) -> None:
        """A deleted identity (None) is in no scope."""
        assert not in_scope(target(scope=None), None)

    @given(st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), text))
    def test_no_scope_means_every_enabled_identity(self, attributes: dict[str, Any]) -> None:
        """A null scope takes everyone enabled."""
        assert in_scope(target(scope=None), identity(attributes))

    @given(people, ways_out)
    def test_the_scope_conditions_decide(self, person: Identity, how: str) -> None:
        """An engineer is in the engineers' scope; moved or dropped out, not any more."""
        assert in_scope(target(), person)
        assert not in_scope(target(), leave(person, how))


class TestAccountKey:
    @given(st.uuids(), st.none() | text, st.none() | text)
    def test_the_identity_decides_when_known(
        self, identity_id: UUID, uid: str | None, other_uid: str | None
    ) -> None:
        """Operations of one identity share a key, whatever uid they carry."""
        assert account_key(identity_id, uid) == account_key(identity_id, other_uid)

    @given(text, text)
    def test_uids_decide_without_an_identity(self, uid: str, other: str) -> None:
        """Without an identity, operations share a key iff they share the uid."""
        assert (account_key(None, uid) == account_key(None, other)) == (uid == other)

    @given(st.uuids(), st.uuids())
    def test_identities_decide_with_them(self, one: UUID, other: UUID) -> None:
        """Different identities never share a key."""
        assert (account_key(one, None) == account_key(other, None)) == (one == other)

    @given(st.uuids(), st.none() | text, text)
    def test_identity_keys_and_uid_keys_never_meet(
        self, identity_id: UUID, uid: str | None, other: str
    ) -> None:
        """A key by identity is never a key by uid, even if the uid looks like the id."""
        assert account_key(identity_id, uid) != account_key(None, other)
        assert account_key(identity_id, uid) != account_key(None, str(identity_id))


# --------------------------------------------------------------------------- identity changes


class TestPlanIdentityChange:
    @given(people, st.none() | ways_out)
    def test_entering_scope_without_an_account_creates_one(
        self, person: Identity, came_from: str | None
    ) -> None:
        """A new identity, or one coming into scope, with no account gets a create."""
        before = None if came_from is None else leave(person, came_from)
        planned = plan_identity_change(target(), before, person, None)
        assert planned == (
            OperationKind.CREATE,
            (
                AttributeDelta("givenName", DeltaOp.REPLACE, (person.attributes["given_name"],)),
                AttributeDelta("mail", DeltaOp.REPLACE, (person.attributes["email"],)),
            ),
        )

    @given(people, st.sampled_from(["email", "given_name"]), text, links)
    def test_a_changed_mapped_attribute_is_updated_alone(
        self, person: Identity, changed: str, value: str, linked: str
    ) -> None:
        """Staying in scope, a change of a mapped attribute updates exactly that attribute."""
        assume(person.attributes[changed] != value)
        after = attrs.evolve(person, attributes={**person.attributes, changed: value})
        account_attribute = {"email": "mail", "given_name": "givenName"}[changed]
        planned = plan_identity_change(target(), person, after, link_for(linked, person))
        assert planned == (
            OperationKind.UPDATE,
            (AttributeDelta(account_attribute, DeltaOp.REPLACE, (value,)),),
        )

    @given(people, text, text, links, st.none() | st.just(ENGINEERS))
    def test_unmapped_changes_need_nothing(
        self,
        person: Identity,
        employee_id: str,
        phone: str,
        linked: str,
        scope: tuple[ScopeCondition, ...] | None,
    ) -> None:
        """Changes to attributes no outbound mapping reads queue nothing."""
        after = attrs.evolve(
            person, attributes={**person.attributes, "employee_id": employee_id, "phone": phone}
        )
        conn = target(scope=scope)
        assert plan_identity_change(conn, person, after, link_for(linked, person)) is None

    @given(people, ways_out, leave_policies, links)
    def test_leaving_scope_applies_the_leave_policy(
        self, person: Identity, how: str, policy: LeaveScope, linked: str
    ) -> None:
        """Leaving scope (moved, disabled or deleted) disables or deletes, per on_leave_scope."""
        planned = plan_identity_change(
            target(on_leave=policy), person, leave(person, how), link_for(linked, person)
        )
        assert planned == (LEAVE_KIND[policy], ())

    @given(people)
    def test_disabling_an_identity_is_leaving_scope(self, person: Identity) -> None:
        """Even with no scope at all, a disabled identity's account is disabled."""
        conn = target(scope=None)
        after = attrs.evolve(person, enabled=False)
        assert plan_identity_change(conn, person, after, link(account_of(person))) == (
            OperationKind.DISABLE,
            (),
        )

    @given(people, leave_policies)
    def test_deleting_an_identity_is_leaving_scope(
        self, person: Identity, policy: LeaveScope
    ) -> None:
        """A deleted identity (after is None) gets the leave action."""
        planned = plan_identity_change(target(on_leave=policy), person, None, None)
        assert planned == (LEAVE_KIND[policy], ())

    @given(people, ways_out)
    def test_the_default_leave_policy_is_disable(self, person: Identity, how: str) -> None:
        """A target without on_leave_scope disables accounts leaving its scope."""
        planned = plan_identity_change(target(on_leave=None), person, leave(person, how), None)
        assert planned == (OperationKind.DISABLE, ())

    @given(people, ways_out, ways_out, links, leave_policies)
    def test_outside_scope_before_and_after_needs_nothing(
        self, person: Identity, before_how: str, after_how: str, linked: str, policy: LeaveScope
    ) -> None:
        """An identity that stays out of scope queues nothing."""
        planned = plan_identity_change(
            target(on_leave=policy),
            leave(person, before_how),
            leave(person, after_how),
            link_for(linked, person),
        )
        assert planned is None

    @given(people, ways_out)
    def test_coming_back_re_enables_the_account(self, person: Identity, how: str) -> None:
        """Back in scope with a disabled account (on_leave_scope disable): enable it."""
        planned = plan_identity_change(
            target(), leave(person, how), person, link(account_of(person))
        )
        assert planned == (OperationKind.ENABLE, ())

    @given(people, ways_out)
    def test_coming_back_brings_the_account_up_to_date(self, person: Identity, how: str) -> None:
        """Re-enabling also replaces the mapped attributes the account holds stale."""
        stale = link({"mail": "old@example.org", "givenName": person.attributes["given_name"]})
        assume(person.attributes["email"] != "old@example.org")
        planned = plan_identity_change(target(), leave(person, how), person, stale)
        assert planned == (
            OperationKind.ENABLE,
            (AttributeDelta("mail", DeltaOp.REPLACE, (person.attributes["email"],)),),
        )

    def test_re_enabling_leaves_unmapped_account_attributes_alone(self) -> None:
        """Only outbound-mapped attributes are ever written when an account is re-enabled."""
        person = identity(
            {
                "email": "a@example.org",
                "given_name": "A",
                "employee_id": "",
                "phone": "",
                "department": "eng",
            }
        )
        shadow = link({**account_of(person), "uid": "u-1", "cn": "A", "active": False})
        planned = plan_identity_change(target(), leave(person, "disabled"), person, shadow)
        assert planned == (OperationKind.ENABLE, ())

    def test_the_default_leave_policy_re_enables_too(self) -> None:
        """A target without on_leave_scope re-enables what it disabled."""
        person = identity(
            {
                "email": "a@example.org",
                "given_name": "A",
                "employee_id": "",
                "phone": "",
                "department": "eng",
            }
        )
        conn = target(on_leave=None)
        shadow = link(account_of(person))
        assert plan_identity_change(conn, person, leave(person, "disabled"), shadow) == (
            OperationKind.DISABLE,
            (),
        )
        assert plan_identity_change(conn, leave(person, "disabled"), person, shadow) == (
            OperationKind.ENABLE,
            (),
        )

    def test_coming_back_under_a_delete_policy_recreates_the_account(self) -> None:
        """Back in scope before the queued delete ran: a create follows the delete."""
        person = identity(ALICE)
        conn = target(on_leave=LeaveScope.DELETE)
        shadow = link(account_of(person))
        assert plan_identity_change(conn, person, leave(person, "disabled"), shadow) == (
            OperationKind.DELETE,
            (),
        )
        planned = plan_identity_change(conn, leave(person, "disabled"), person, shadow)
        assert planned == (OperationKind.CREATE, replace_deltas(account_of(person)))

    @given(people, st.sampled_from(["email", "given_name"]), text)
    def test_an_update_behind_a_queued_create_is_ordered(
        self, person: Identity, changed: str, value: str
    ) -> None:
        """In scope with no link yet (the create may be queued), a change is an update."""
        assume(person.attributes[changed] != value)
        after = attrs.evolve(person, attributes={**person.attributes, changed: value})
        planned = plan_identity_change(target(), person, after, None)
        assert planned is not None
        assert planned[0] is OperationKind.UPDATE

    @given(people, people, links)
    def test_deltas_only_write_outbound_attributes(
        self, person: Identity, other: Identity, linked: str
    ) -> None:
        """Whatever changes, deltas name only attributes an outbound mapping writes."""
        planned = plan_identity_change(target(), person, other, link_for(linked, person))
        if planned is not None:
            assert {d.attribute for d in planned[1]} <= {"mail", "givenName"}
