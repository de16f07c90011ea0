"""JSON Merge Patch (RFC 7396), which connector updates use (SPEC §3.1)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xavyo_connectors_core.merge_patch import merge_patch

# --------------------------------------------------------------------------- strategies

keys = st.text("abc", min_size=1, max_size=2)
scalars = st.one_of(
    st.booleans(),
    st.integers(-10, 10),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)
documents = st.recursive(
    st.none() | scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
"""Any JSON value (null included)."""
objects = st.dictionaries(keys, documents, max_size=4)
"""A JSON object, whose members may be null."""


def has_null_member(value: Any) -> bool:
    """Whether an object (at any depth through objects) has a member that is null."""
    if not isinstance(value, dict):
        return False
    return any(v is None or has_null_member(v) for v in value.values())


# --------------------------------------------------------------------------- the RFC's examples

RFC_APPENDIX_A = [
    ('{"a":"b"}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'),
    ('{"a":"b"}', '{"a":null}', "{}"),
    ('{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'),
    ('{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'),
    ('{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'),
    ('{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'),
    ('["a","b"]', '["c","d"]', '["c","d"]'),
    ('{"a":"b"}', '["c"]', '["c"]'),
    ('{"a":"foo"}', "null", "null"),
    ('{"a":"foo"}', '"bar"', '"bar"'),
    ('{"e":null}', '{"a":1}', '{"e":null,"a":1}'),
    ("[1,2]", '{"a":"b","c":null}', '{"a":"b"}'),
    ("{}", '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'),
]
"""RFC 7396 Appendix A, every row: original, patch, result."""

RFC_SECTION_3 = (
    """{
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged"
    }""",
    """{
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": null},
        "tags": ["example"]
    }""",
    """{
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890"
    }""",
)


class TestRfcExamples:
    @pytest.mark.parametrize(("original", "patch", "result"), RFC_APPENDIX_A)
    def test_appendix_a(self, original: str, patch: str, result: str) -> None:
        """Each example of RFC 7396 Appendix A gives the RFC's result."""
        assert merge_patch(json.loads(original), json.loads(patch)) == json.loads(result)

    def test_section_3_example(self) -> None:
        """The worked example of RFC 7396 section 3."""
        original, patch, result = (json.loads(text) for text in RFC_SECTION_3)
        assert merge_patch(original, patch) == result


# --------------------------------------------------------------------------- properties


class TestMergePatch:
    @given(objects)
    def test_an_empty_patch_changes_no_object(self, target: dict[str, Any]) -> None:
        """Patching an object with ``{}`` gives the object back."""
        assert merge_patch(target, {}) == target

    @given(documents)
    def test_an_empty_patch_makes_anything_else_an_empty_object(self, target: Any) -> None:
        """A non-object target patched with ``{}`` becomes ``{}`` (the RFC's Target = {})."""
        expected = target if isinstance(target, dict) else {}
        assert merge_patch(target, {}) == expected

    @given(documents, documents.filter(lambda d: not isinstance(d, dict)))
    def test_a_patch_that_is_not_an_object_replaces_the_target(
        self, target: Any, patch: Any
    ) -> None:
        """Arrays, scalars and null replace the whole target."""
        assert merge_patch(target, patch) == patch

    @given(objects, keys)
    def test_null_removes_a_member(self, target: dict[str, Any], key: str) -> None:
        """A member patched with null is gone, the rest is untouched."""
        result = merge_patch(target, {key: None})
        assert key not in result
        assert result == {k: v for k, v in target.items() if k != key}

    @given(objects, objects)
    def test_members_of_the_patch_decide_the_members(
        self, target: dict[str, Any], patch: dict[str, Any]
    ) -> None:
        """The result's members are the target's and the patch's, less the patch's nulls."""
        result = merge_patch(target, patch)
        removed = {k for k, v in patch.items() if v is None}
        added = {k for k, v in patch.items() if v is not None}
        assert set(result) == (set(target) - removed) | added
        for key in set(target) - set(patch):
            assert result[key] == target[key]

    @given(objects, objects)
    def test_the_patch_never_introduces_nulls(
        self, target: dict[str, Any], patch: dict[str, Any]
    ) -> None:
        """A null member of the result was in the target and not named by the patch."""
        result = merge_patch(target, patch)
        for key, value in result.items():
            if value is None:
                assert key not in patch
                assert key in target and target[key] is None

    @given(objects)
    def test_a_patch_merged_into_nothing_holds_no_nulls(self, patch: dict[str, Any]) -> None:
        """Merged into an empty object, a patch loses its null members at every depth."""
        assert not has_null_member(merge_patch({}, patch))

    @given(documents, documents)
    def test_patching_twice_is_patching_once(self, target: Any, patch: Any) -> None:
        """Merge patches are idempotent."""
        once = merge_patch(target, patch)
        assert merge_patch(once, patch) == once

    @given(documents, documents)
    def test_neither_argument_is_modified(self, target: Any, patch: Any) -> None:
        """Target and patch are left as they were."""
        target_before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
        merge_patch(target, patch)
        assert target == target_before
        assert patch == patch_before
