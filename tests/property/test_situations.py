"""Situations and reactions (SPEC §3.5): the pure classification of an account and the
reaction a connector takes for a situation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from hypothesis import assume, given
from hypothesis import strategies as st

from xavyo_connectors_core.correlation import Correlation, account_value, classify
from xavyo_connectors_core.model import (
    ALLOWED_REACTIONS,
    Connector,
    Reaction,
    Role,
    Situation,
    default_reaction,
)

NOW = datetime(2024, 1, 1, tzinfo=UTC)

candidate_lists = st.lists(st.uuids(), unique=True, max_size=6).map(tuple)
correlations = st.builds(
    Correlation,
    candidates=candidate_lists,
    rule_index=st.none() | st.integers(min_value=0, max_value=5),
    explanation=st.text(max_size=20),
)


def connector(role: Role, reactions: dict[Situation, Reaction]) -> Connector:
    return Connector(
        id=UUID(int=1),
        tenant_id=UUID(int=2),
        name="c",
        type="csv",
        role=role,
        config={},
        created_at=NOW,
        updated_at=NOW,
        reactions=reactions,
    )


class TestClassify:
    @given(st.uuids(), st.none() | correlations)
    def test_linked_wins_whatever_the_candidates(
        self, identity: UUID, correlation: Correlation | None
    ) -> None:
        """An account whose shadow is linked is linked, however it would correlate."""
        assert classify(identity, correlation) is Situation.LINKED

    def test_no_correlation_is_unmatched(self) -> None:
        """An unlinked account with no correlation result is unmatched."""
        assert classify(None, None) is Situation.UNMATCHED

    @given(correlations)
    def test_the_number_of_candidates_decides(self, correlation: Correlation) -> None:
        """Unlinked: no candidate is unmatched, one is unlinked, several are disputed."""
        expected = {0: Situation.UNMATCHED, 1: Situation.UNLINKED}.get(
            len(correlation.candidates), Situation.DISPUTED
        )
        assert classify(None, correlation) is expected

    @given(candidate_lists, st.integers(0, 5), st.text(max_size=10), st.text(max_size=10))
    def test_only_the_candidates_matter(
        self, candidates: tuple[UUID, ...], rule: int, why: str, other_why: str
    ) -> None:
        """The rule index and the explanation never change the situation."""
        plain = Correlation(candidates=candidates)
        explained = Correlation(candidates=candidates, rule_index=rule, explanation=why + other_why)
        assert classify(None, plain) is classify(None, explained)

    def test_the_default_correlation_is_unmatched(self) -> None:
        """``Correlation()`` (no rule matched) classifies as unmatched."""
        assert classify(None, Correlation()) is Situation.UNMATCHED


attribute_maps = st.dictionaries(st.text(max_size=6), st.integers(), max_size=6)


class TestAccountValue:
    @given(st.dictionaries(st.text(max_size=6), st.integers(), min_size=1, max_size=6), st.data())
    def test_an_exact_name_wins(self, attributes: dict[str, Any], data: st.DataObject) -> None:
        """A name present as spelt gives its own value, even if another spelling folds to it."""
        name = data.draw(st.sampled_from(sorted(attributes)))
        assert account_value(attributes, name) == attributes[name]

    @given(st.from_regex(r"[a-z][a-zA-Z]{0,8}", fullmatch=True), st.integers())
    def test_names_fold_case(self, name: str, value: int) -> None:
        """A name spelt in another case is found (LDAP and SCIM names ignore case)."""
        assert account_value({name.upper(): value}, name.lower()) == value
        assert account_value({name.lower(): value}, name.upper()) == value

    @given(attribute_maps, st.text(max_size=6))
    def test_an_absent_name_is_none(self, attributes: dict[str, Any], name: str) -> None:
        """A name no key folds to reads as None."""
        assume(all(key.casefold() != name.casefold() for key in attributes))
        assert account_value(attributes, name) is None

    def test_exact_beats_folded(self) -> None:
        """With both ``mail`` and ``Mail`` present, each name reads its own value."""
        attributes = {"Mail": 1, "mail": 2}
        assert account_value(attributes, "mail") == 2
        assert account_value(attributes, "Mail") == 1


# SPEC §3.5, the table as written: (situation, role) -> allowed reactions, default first.
SPEC_TABLE: dict[tuple[Situation, Role], tuple[Reaction, ...]] = {
    (Situation.LINKED, Role.SOURCE): (Reaction.UPDATE_IDENTITY,),
    (Situation.LINKED, Role.TARGET): (Reaction.NONE,),
    (Situation.UNLINKED, Role.SOURCE): (Reaction.LINK, Reaction.REPORT),
    (Situation.UNLINKED, Role.TARGET): (Reaction.LINK, Reaction.REPORT),
    (Situation.UNMATCHED, Role.SOURCE): (Reaction.CREATE_IDENTITY, Reaction.REPORT),
    (Situation.UNMATCHED, Role.TARGET): (
        Reaction.REPORT,
        Reaction.DISABLE_ACCOUNT,
        Reaction.DELETE_ACCOUNT,
    ),
    (Situation.DISPUTED, Role.SOURCE): (Reaction.REPORT,),
    (Situation.DISPUTED, Role.TARGET): (Reaction.REPORT,),
    (Situation.DELETED, Role.SOURCE): (Reaction.DISABLE_IDENTITY, Reaction.UNLINK, Reaction.REPORT),
    (Situation.DELETED, Role.TARGET): (Reaction.UNLINK, Reaction.REPORT),
    (Situation.MISSING, Role.TARGET): (Reaction.PROVISION, Reaction.REPORT),
    (Situation.MISMATCHED, Role.TARGET): (Reaction.UPDATE_ACCOUNT, Reaction.REPORT),
    (Situation.COLLISION, Role.SOURCE): (Reaction.REPORT,),
    (Situation.COLLISION, Role.TARGET): (Reaction.REPORT,),
}

situations = st.sampled_from(Situation)
roles = st.sampled_from(Role)
reaction_maps = st.dictionaries(situations, st.sampled_from(Reaction))


class TestReactions:
    def test_allowed_reactions_are_the_spec_table(self) -> None:
        """ALLOWED_REACTIONS is exactly the table of SPEC §3.5, in its order."""
        assert ALLOWED_REACTIONS == SPEC_TABLE

    def test_every_reaction_is_allowed_somewhere(self) -> None:
        """No reaction is dead: each is allowed for at least one situation and role."""
        used = {r for allowed in ALLOWED_REACTIONS.values() for r in allowed}
        assert used == set(Reaction)

    def test_allowed_lists_have_no_duplicates(self) -> None:
        """Each allowed list names a reaction once."""
        for allowed in ALLOWED_REACTIONS.values():
            assert allowed
            assert len(set(allowed)) == len(allowed)

    @given(situations, roles)
    def test_every_default_is_allowed(self, situation: Situation, role: Role) -> None:
        """The default reaction is the first allowed one; None only where none is allowed."""
        default = default_reaction(situation, role)
        allowed = ALLOWED_REACTIONS.get((situation, role), ())
        if allowed:
            assert default is allowed[0]
        else:
            assert default is None

    def test_situations_that_cannot_occur_have_no_default(self) -> None:
        """missing and mismatched are reconciliation-of-a-target situations only."""
        assert default_reaction(Situation.MISSING, Role.SOURCE) is None
        assert default_reaction(Situation.MISMATCHED, Role.SOURCE) is None

    def test_every_situation_has_a_default_for_some_role(self) -> None:
        """Each situation can occur for at least one role."""
        for situation in Situation:
            assert any(default_reaction(situation, role) for role in Role)

    @given(roles, reaction_maps, situations)
    def test_reaction_for_prefers_the_configured_one(
        self, role: Role, reactions: dict[Situation, Reaction], situation: Situation
    ) -> None:
        """A connector reacts as configured for a situation, else by the SPEC default."""
        expected = reactions.get(situation, default_reaction(situation, role))
        assert connector(role, reactions).reaction_for(situation) is expected

    @given(roles)
    def test_none_is_a_configurable_reaction(self, role: Role) -> None:
        """Configuring ``none`` is honoured, not mistaken for "not configured"."""
        chosen = connector(role, {Situation.LINKED: Reaction.NONE})
        assert chosen.reaction_for(Situation.LINKED) is Reaction.NONE
