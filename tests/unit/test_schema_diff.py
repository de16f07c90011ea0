"""Schema drift: what changed in the account object class between discoveries."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from xavyo_connectors_core.model import Attribute, AttributeDiff, AttributeType, ObjectClass
from xavyo_connectors_core.schema_diff import diff_schemas


def account(*attributes: Attribute) -> ObjectClass:
    return ObjectClass("account", "id", "id", attributes)


ID = Attribute("id", creatable=False, updateable=False, required=True)
MAIL = Attribute("mail", multivalued=True)
NAME = Attribute("name")


class TestDiffSchemas:
    def test_the_first_discovery_adds_everything(self) -> None:
        """With nothing before, every attribute is added, sorted."""
        diff = diff_schemas(None, account(NAME, ID, MAIL))
        assert diff.added == ("id", "mail", "name")
        assert diff.removed == ()
        assert diff.changed == ()

    def test_the_same_class_has_an_empty_diff(self) -> None:
        """No change, empty diff."""
        assert diff_schemas(account(ID, MAIL), account(MAIL, ID)).empty

    def test_added_and_removed_attributes_are_named(self) -> None:
        """Names are sorted case-insensitively."""
        diff = diff_schemas(
            account(ID, MAIL, Attribute("zeta")),
            account(ID, Attribute("Beta"), Attribute("alpha")),
        )
        assert diff.added == ("alpha", "Beta")
        assert diff.removed == ("mail", "zeta")
        assert diff.changed == ()

    def test_a_type_change_is_a_change(self) -> None:
        """A changed type carries both versions."""
        after = attrs.evolve(NAME, type=AttributeType.INTEGER)
        diff = diff_schemas(account(ID, NAME), account(ID, after))
        assert diff.changed == (AttributeDiff("name", NAME, after),)

    def test_every_flag_change_is_a_change(self) -> None:
        """multivalued, required, readable, creatable, updateable, returned_by_default."""
        flags = [
            "multivalued",
            "required",
            "readable",
            "creatable",
            "updateable",
            "returned_by_default",
        ]
        for flag in flags:
            changes: dict[str, Any] = {flag: not getattr(NAME, flag)}
            after = attrs.evolve(NAME, **changes)
            diff = diff_schemas(account(NAME), account(after))
            assert [d.attribute for d in diff.changed] == ["name"], flag

    def test_names_match_case_insensitively(self) -> None:
        """A respelt name is a change, not a removal and an addition."""
        after = attrs.evolve(MAIL, name="Mail")
        diff = diff_schemas(account(MAIL), account(after))
        assert (diff.added, diff.removed) == ((), ())
        assert diff.changed == (AttributeDiff("Mail", MAIL, after),)

    def test_changes_are_sorted(self) -> None:
        """Changed attributes come sorted by name."""
        before = account(NAME, MAIL, ID)
        after = account(*(attrs.evolve(a, readable=not a.readable) for a in before.attributes))
        assert [d.attribute for d in diff_schemas(before, after).changed] == ["id", "mail", "name"]


attribute_lists = st.lists(
    st.builds(
        Attribute,
        name=st.sampled_from(["id", "mail", "name", "title", "cn"]),
        type=st.sampled_from(AttributeType),
        multivalued=st.booleans(),
        required=st.booleans(),
    ),
    unique_by=lambda a: a.name,
    max_size=5,
)


class TestDiffProperties:
    @given(attribute_lists, attribute_lists)
    def test_reversing_swaps_added_and_removed(
        self, left: list[Attribute], right: list[Attribute]
    ) -> None:
        """diff(a, b).added == diff(b, a).removed, and changes mirror."""
        forward = diff_schemas(account(*left), account(*right))
        backward = diff_schemas(account(*right), account(*left))
        assert forward.added == backward.removed
        assert forward.removed == backward.added
        assert [(c.before, c.after) for c in forward.changed] == [
            (c.after, c.before) for c in backward.changed
        ]

    @given(attribute_lists)
    def test_a_class_does_not_differ_from_itself(self, attributes: list[Attribute]) -> None:
        """diff(a, a) is empty."""
        assert diff_schemas(account(*attributes), account(*attributes)).empty
