"""Properties of the transform and template language (SPEC §3.3; issue 3)."""

from __future__ import annotations

import random as random_module
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xavyo_connectors_core.converter import parse_datetime
from xavyo_connectors_core.mappings import attributes_hash, validate_parts
from xavyo_connectors_core.model import (
    Attribute,
    AttributeType,
    CorrelationRule,
    Direction,
    Mapping,
    ObjectClass,
    Reaction,
    Role,
    ScopeCondition,
    ScopeOp,
    Situation,
)
from xavyo_connectors_core.transforms import (
    TRANSFORM_NAMES,
    TemplateError,
    TransformError,
    apply_transforms,
    check_transforms,
    parse_template,
    produces_single_value,
    render_template,
    result_type,
)

# --------------------------------------------------------------------------- strategies

identity_names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
brace_free_text = st.text(st.characters(exclude_characters="{}"), max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=10),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4))

# Unicode case mapping is not reversible for two compatibility code points, whatever
# the normalization: GREEK CAPITAL THETA SYMBOL and LATIN CAPITAL LETTER SHARP S.
CASE_EXCEPTIONS = "\u03f4\u1e9e"
case_text = st.text(st.characters(exclude_characters=CASE_EXCEPTIONS))

text_steps = st.sampled_from(["lower", "upper", "trim", "first", "join:,", "split:,"])

ACCOUNT = ObjectClass(
    name="account",
    uid_attribute="uid",
    name_attribute="uid",
    attributes=(
        Attribute("uid", required=True),
        Attribute("mail", multivalued=True),
        Attribute("age", AttributeType.INTEGER),
        Attribute("active", AttributeType.BOOLEAN),
        Attribute("photo", AttributeType.BINARY),
        Attribute("created", creatable=False, updateable=False),
    ),
)


def mapping_documents() -> st.SearchStrategy[Mapping]:
    """Mappings of every shape, valid and not."""
    names = st.one_of(identity_names, st.text(max_size=6))
    transforms = st.one_of(
        st.none(),
        st.lists(st.one_of(st.sampled_from(TRANSFORM_NAMES), st.text(max_size=8)), max_size=3).map(
            tuple
        ),
    )
    return st.builds(
        Mapping,
        account=st.one_of(st.sampled_from([a.name for a in ACCOUNT.attributes]), names),
        identity=st.one_of(st.none(), names),
        direction=st.sampled_from(Direction),
        transform=transforms,
        template=st.one_of(st.none(), st.text(max_size=12)),
    )


# --------------------------------------------------------------------------- transforms


class TestTextTransforms:
    @given(case_text)
    def test_lower_is_idempotent(self, text: str) -> None:
        """lower then lower equals lower."""
        once = apply_transforms("lower", text)
        assert apply_transforms("lower", once) == once

    @given(st.lists(st.one_of(st.none(), st.text())))
    def test_lower_maps_over_lists(self, items: list[str | None]) -> None:
        """On a list, lower lowers each element and keeps None in place."""
        expected = [None if i is None else apply_transforms("lower", i) for i in items]
        assert apply_transforms("lower", items) == expected

    @given(st.text())
    def test_trim_then_trim_is_trim(self, text: str) -> None:
        """trim then trim equals trim."""
        assert apply_transforms(["trim", "trim"], text) == apply_transforms("trim", text)

    @given(case_text)
    def test_upper_lower_upper_is_upper(self, text: str) -> None:
        """upper, lower, upper equals upper."""
        assert apply_transforms(["upper", "lower", "upper"], text) == apply_transforms(
            "upper", text
        )

    def test_case_exceptions_are_unicode_facts(self) -> None:
        """The two excluded code points really have no reversible case mapping."""
        assert apply_transforms(["upper", "lower", "upper"], "\u1e9e") == "SS"
        assert apply_transforms(["upper", "lower", "upper"], "\u03f4") == "\u0398"

    @given(st.text(), st.text(min_size=1, max_size=3))
    def test_split_then_join_round_trips(self, text: str, sep: str) -> None:
        """split:SEP then join:SEP gives the string back."""
        assert apply_transforms([f"split:{sep}", f"join:{sep}"], text) == text

    @given(st.lists(st.text(st.characters(exclude_characters=","), min_size=1), max_size=5))
    def test_join_then_split_round_trips(self, items: list[str]) -> None:
        """join:SEP then split:SEP gives the list back when no item holds SEP."""
        assert apply_transforms(["join:,", "split:,"], items) == items

    @given(st.lists(scalars, min_size=1))
    def test_first_takes_the_first_element(self, items: list[object]) -> None:
        """first of a non-empty list is its first element."""
        assert apply_transforms("first", items) == items[0]

    @given(values, st.text(max_size=5))
    def test_default_replaces_only_empty_values(self, value: object, fallback: str) -> None:
        """default:V gives V for None, "" and [], and the value otherwise."""
        result = apply_transforms(f"default:{fallback}", value)
        if value is None or value == "" or value == []:
            assert result == fallback
        else:
            assert result == value

    @given(st.lists(text_steps, max_size=5), st.lists(st.text(max_size=5), max_size=4))
    def test_single_value_inference_matches_results(
        self, chain: list[str], items: list[str]
    ) -> None:
        """produces_single_value predicts one value or a list (None is either: no value)."""
        result = apply_transforms(chain, items)
        if produces_single_value(chain, True):
            assert not isinstance(result, list)
        else:
            assert result is None or isinstance(result, list)


class TestTypedTransforms:
    @given(
        st.sampled_from(["true", "false", "yes", "no", "1", "0"]),
        st.sampled_from([str.lower, str.upper, str.title]),
        st.sampled_from(["", " ", "\t"]),
    )
    def test_bool_reads_its_spellings(self, word: str, case: object, pad: str) -> None:
        """bool reads true/false/yes/no/1/0 in any case, with blanks around."""
        spelled = pad + case(word) + pad  # type: ignore[operator]
        assert apply_transforms("bool", spelled) is (word in ("true", "yes", "1"))

    @given(st.text(min_size=1))
    def test_bool_refuses_garbage(self, text: str) -> None:
        """Anything else raises TransformError, whose message never repeats the value."""
        assume(text.strip().casefold() not in {"", "true", "false", "yes", "no", "1", "0"})
        with pytest.raises(TransformError) as caught:
            apply_transforms("bool", text)
        assert caught.value.detail == "bool: the value is not a boolean (true/false/yes/no/1/0)"

    @given(st.integers(), st.sampled_from(["", " ", "  "]))
    def test_int_reads_its_text(self, number: int, pad: str) -> None:
        """int reads the decimal text of any integer."""
        assert apply_transforms("int", f"{pad}{number}{pad}") == number

    @given(
        st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]))
    )
    def test_iso8601_normalizes_to_utc(self, moment: datetime) -> None:
        """iso8601 writes RFC 3339 UTC with Z, reads its own output, and loses nothing."""
        text = apply_transforms("iso8601", moment.isoformat())
        assert text.endswith("Z")
        assert parse_datetime(text) == moment
        assert apply_transforms("iso8601", text) == text

    @given(st.lists(text_steps, max_size=3))
    def test_int_result_type_is_honoured(self, chain: list[str]) -> None:
        """A chain ending with int is typed integer and yields integers."""
        full = [*chain, "int"]
        assert result_type(full, AttributeType.STRING) is AttributeType.INTEGER
        result = apply_transforms(full, "42")
        assert result == 42 or result == [42] or result is None


class TestTransformNames:
    @given(st.text(max_size=12))
    def test_unknown_names_are_rejected(self, name: str) -> None:
        """A name outside the fixed list is reported by check_transforms, and raises."""
        head = name.partition(":")[0]
        assume(head not in TRANSFORM_NAMES)
        assert check_transforms(name)
        with pytest.raises(TransformError):
            apply_transforms(name, "x")

    @given(st.text(max_size=12))
    def test_unknown_transform_is_rejected_at_validation(self, name: str) -> None:
        """validate_parts reports an unknown transform at the mapping's transform path."""
        assume(name.partition(":")[0] not in TRANSFORM_NAMES)
        errors = validate_parts(
            role=Role.TARGET,
            object_class=ACCOUNT,
            mappings=[Mapping("uid", identity="username", transform=(name,))],
            correlation=[],
            reactions={},
            scope=None,
        )
        assert [e.path for e in errors] == ["mappings[0].transform"]


# --------------------------------------------------------------------------- templates


Drawn = tuple[str, list[str], list[str]]
"""A template, its literal pieces and its placeholder names (with repeats)."""


@st.composite
def templates(draw: st.DrawFn) -> Drawn:
    """A template of literal text and placeholders, its literals and its names."""
    names = draw(st.lists(identity_names, max_size=5))
    literals = draw(st.lists(brace_free_text, min_size=len(names) + 1, max_size=len(names) + 1))
    text = literals[0] + "".join(
        f"{{{n}}}{lit}" for n, lit in zip(names, literals[1:], strict=True)
    )
    return text, literals, names


class TestTemplates:
    @given(templates())
    def test_placeholders_are_exactly_the_names(self, drawn: Drawn) -> None:
        """parse_template returns the distinct placeholder names in order."""
        text, _literals, names = drawn
        assert parse_template(text) == tuple(dict.fromkeys(names))

    @given(templates(), st.data())
    def test_renders_exactly_its_placeholders(self, drawn: Drawn, data: st.DataObject) -> None:
        """Rendering substitutes each placeholder by its value and keeps the literals."""
        text, literals, names = drawn
        attrs = {n: data.draw(brace_free_text, label=n) for n in set(names)}
        extra = data.draw(st.dictionaries(identity_names, st.text()), label="others")
        expected = literals[0] + "".join(
            attrs[n] + lit for n, lit in zip(names, literals[1:], strict=True)
        )
        assert render_template(text, {**extra, **attrs}) == expected

    @given(templates())
    def test_missing_attributes_render_empty(self, drawn: Drawn) -> None:
        """An identity without the placeholders' attributes renders only the literals."""
        text, literals, _names = drawn
        assert render_template(text, {}) == "".join(literals)

    @given(st.text())
    def test_doubled_braces_are_literal(self, literal: str) -> None:
        """Doubling every brace renders the text as it is."""
        escaped = literal.replace("{", "{{").replace("}", "}}")
        assert parse_template(escaped) == ()
        assert render_template(escaped, {}) == literal

    @given(
        identity_names,
        st.sampled_from([".b", "[0]", "!r", "!s", ":>10", ":", ".", "[", " "]),
    )
    def test_anything_but_a_name_is_rejected(self, name: str, suffix: str) -> None:
        """Attribute access, indexing, conversions and format specs are refused."""
        with pytest.raises(TemplateError):
            parse_template(f"x{{{name}{suffix}}}y")

    @given(st.text(string.ascii_letters + string.digits + "_-. ", min_size=1, max_size=8))
    def test_unknown_placeholder_is_rejected_at_validation(self, inner: str) -> None:
        """A placeholder that is not an identity attribute name fails validation."""
        assume(re.fullmatch(r"[a-z][a-z0-9_]*", inner) is None)
        errors = validate_parts(
            role=Role.TARGET,
            object_class=ACCOUNT,
            mappings=[
                Mapping("uid", identity="username"),
                Mapping("mail", template=f"{{{inner}}}@example.com", direction=Direction.OUTBOUND),
            ],
            correlation=[],
            reactions={},
            scope=None,
        )
        assert [e.path for e in errors] == ["mappings[1].template"]

    @given(st.text(max_size=20))
    def test_parsing_never_raises_anything_else(self, text: str) -> None:
        """Any text either parses or raises TemplateError."""
        try:
            names = parse_template(text)
        except TemplateError:
            return
        assert all(isinstance(n, str) for n in names)


# --------------------------------------------------------------------------- validation


class TestValidationIsTotal:
    @given(
        st.sampled_from(Role),
        st.lists(mapping_documents(), max_size=4),
        st.lists(
            st.builds(
                CorrelationRule,
                identity=st.text(max_size=5),
                account=st.text(max_size=5),
                transform=st.none(),
            ),
            max_size=2,
        ),
        st.dictionaries(
            st.one_of(st.sampled_from(Situation), st.text(max_size=10)),
            st.one_of(st.sampled_from(Reaction), st.text(max_size=10)),
            max_size=3,
        ),
        st.one_of(
            st.none(),
            st.lists(
                st.builds(
                    ScopeCondition,
                    identity=st.text(max_size=5),
                    op=st.sampled_from(ScopeOp),
                    value=values,
                ),
                max_size=2,
            ),
        ),
    )
    def test_validation_returns_errors_and_never_raises(
        self,
        role: Role,
        mappings: list[Mapping],
        correlation: list[CorrelationRule],
        reactions: dict[Any, Any],
        scope: list[ScopeCondition] | None,
    ) -> None:
        """Whatever the parts, validation returns a list of field errors with paths."""
        errors = validate_parts(
            role=role,
            object_class=ACCOUNT,
            mappings=mappings,
            correlation=correlation,
            reactions=reactions,
            scope=scope,
        )
        roots = ("mappings", "correlation", "reactions", "scope", "on_leave_scope")
        assert all(e.path.startswith(roots) and e.message for e in errors)


class TestAttributesHash:
    @given(st.dictionaries(st.text(max_size=8), values, max_size=6), st.randoms())
    def test_key_order_does_not_matter(
        self, attributes: dict[str, Any], random: random_module.Random
    ) -> None:
        """Two dicts with the same items in any order hash the same."""
        items = list(attributes.items())
        random.shuffle(items)
        assert attributes_hash(dict(items)) == attributes_hash(attributes)


class TestExamples:
    """Worked examples of each transform's documented edge cases."""

    @pytest.mark.parametrize(
        ("given_value", "expected"),
        [
            ("20240102030405Z", "2024-01-02T03:04:05Z"),
            ("20240102030405.5+0200", "2024-01-02T01:04:05.500000Z"),
            ("2024-01-02", "2024-01-02T00:00:00Z"),
            ("2024-01-02T03:04:05", "2024-01-02T03:04:05Z"),
            (" 2024-01-02T03:04:05+01:00 ", "2024-01-02T02:04:05Z"),
            (0, "1970-01-01T00:00:00Z"),
            (datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05Z"),
            ("", None),
            (None, None),
        ],
    )
    def test_iso8601(self, given_value: Any, expected: str | None) -> None:
        """GeneralizedTime, dates, naive times (as UTC) and epoch seconds are read."""
        assert apply_transforms("iso8601", given_value) == expected

    @pytest.mark.parametrize("bad", ["yesterday", True, "2024-13-01", float("nan")])
    def test_iso8601_refuses_garbage(self, bad: Any) -> None:
        """Unreadable timestamps raise."""
        with pytest.raises(TransformError):
            apply_transforms("iso8601", bad)

    @pytest.mark.parametrize(
        ("given_value", "expected"),
        [(" -7 ", -7), (3.0, 3), ("", None), (["1", None, 2], [1, None, 2])],
    )
    def test_int(self, given_value: Any, expected: Any) -> None:
        """int reads decimal text and integral floats, and maps over lists."""
        assert apply_transforms("int", given_value) == expected

    @pytest.mark.parametrize("bad", [True, 1.5, "1e3", "0x10", "1_000", "seven"])
    def test_int_refuses_garbage(self, bad: Any) -> None:
        """Booleans, fractions and other spellings are not integers."""
        with pytest.raises(TransformError):
            apply_transforms("int", bad)

    def test_bool_reads_integers_zero_and_one(self) -> None:
        """1 and 0 are booleans; 2 is not."""
        assert apply_transforms("bool", [1, 0, None, ""]) == [True, False, None, None]
        with pytest.raises(TransformError):
            apply_transforms("bool", 2)

    def test_text_transforms_read_scalars_as_text(self) -> None:
        """Booleans read as true/false, numbers as decimal text; binary is refused."""
        assert apply_transforms("upper", [True, 12, 1.5]) == ["TRUE", "12", "1.5"]
        assert apply_transforms("join:-", ["a", None, 3, False]) == "a-3-false"
        assert apply_transforms("split:,", ["a,b", None, "", "c"]) == ["a", "b", "c"]
        with pytest.raises(TransformError):
            apply_transforms("lower", b"x")

    def test_arguments_keep_every_character(self) -> None:
        """The argument is everything after the first colon, colons and blanks included."""
        assert apply_transforms("join:: ", ["a", "b"]) == "a: b"
        assert apply_transforms("default:a:b", None) == "a:b"
        assert apply_transforms("join:", ["a", "b"]) == "ab"

    def test_first_of_nothing_is_none(self) -> None:
        """first of [] is None; a scalar is left alone."""
        assert apply_transforms("first", []) is None
        assert apply_transforms("first", "x") == "x"

    def test_result_types(self) -> None:
        """Inference follows the last typing transform; default keeps only text."""
        assert result_type(None, AttributeType.BOOLEAN) is AttributeType.BOOLEAN
        assert result_type(["int", "first"], None) is AttributeType.INTEGER
        assert result_type(["bool", "lower"], None) is AttributeType.STRING
        assert result_type(["iso8601"], AttributeType.STRING) is AttributeType.DATETIME
        assert result_type(["default:0"], AttributeType.INTEGER) is None
        assert result_type(["default:x"], AttributeType.STRING) is AttributeType.STRING

    def test_templates_render_lists_and_scalars(self) -> None:
        """A list renders its values joined by commas; booleans as true/false."""
        rendered = render_template("{a}|{b}|{c}|{{}}", {"a": ["x", None, 2], "b": False})
        assert rendered == "x,2|false||{}"

    def test_non_strings_are_refused(self) -> None:
        """A transform or template that is not text is an error, not a crash."""
        assert check_transforms([3]) == ["a transform must be a name (a string)"]  # type: ignore[list-item]
        with pytest.raises(TemplateError):
            parse_template(None)  # type: ignore[arg-type]
