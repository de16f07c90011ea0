"""The shortcuts reconciliation takes must decide exactly what the full rules decide.

- ``same_attributes`` (skip hashing an account that holds its shadow's attributes) may
  only say "same" when the canonical hashes are equal;
- ``_differences``' fast path for equal strings agrees with comparing normalized values;
- ``OutboundPlan`` (mappings compiled once per run) gives what ``explain_outbound`` gives.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from xavyo_connectors_core.mappings import OutboundPlan, OutboundValue, _shape, attributes_hash
from xavyo_connectors_core.model import Attribute, AttributeType, Direction, Mapping, ObjectClass
from xavyo_connectors_core.reconciliation import _differences, _normalize, same_attributes
from xavyo_connectors_core.transforms import (
    TemplateError,
    TransformError,
    apply_transforms,
    parse_transforms,
    render_template,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2, allow_nan=False).filter(lambda f: f in (0.0, 1.0, -1.0, 0.5)),
    st.sampled_from(["", "a", "A", " a", "1", "true", "x@y.org"]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.tuples(scalars),
    st.dictionaries(st.sampled_from(["k", "K"]), scalars, max_size=2),
)
names = st.sampled_from(["mail", "Mail", "cn", "uid", "n"])
attribute_maps = st.dictionaries(names, values, max_size=4)


def _json_roundtrip(value: dict[str, Any]) -> dict[str, Any]:
    """What a shadow read back from a store holds."""
    return json.loads(json.dumps(attributes_to_json(value)))  # type: ignore[no-any-return]


def attributes_to_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [attributes_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: attributes_to_json(v) for k, v in value.items()}
    return value


@given(attribute_maps, attribute_maps)
def test_same_attributes_implies_same_hash(stored: dict[str, Any], read: dict[str, Any]) -> None:
    stored = _json_roundtrip(stored)
    if same_attributes(stored, read):
        assert attributes_hash(stored) == attributes_hash(read)


@given(attribute_maps)
def test_an_account_read_again_is_the_same(read: dict[str, Any]) -> None:
    """The shortcut applies to flat accounts read back unchanged (the common case)."""
    stored = _json_roundtrip(read)
    flat = all(
        not isinstance(v, tuple | dict)
        and not (isinstance(v, list) and any(type(x) is dict for x in v))
        for v in read.values()
    )
    assert same_attributes(stored, read) == flat
    assert attributes_hash(stored) == attributes_hash(read)


@given(st.dictionaries(names, values, max_size=3), attribute_maps)
def test_differences_agree_with_normalized_comparison(
    wanted: dict[str, Any], actual: dict[str, Any]
) -> None:
    from xavyo_connectors_core.correlation import account_value

    got = {d.attribute for d in _differences(wanted, actual)}
    expected = {
        name
        for name, value in wanted.items()
        if _normalize(value) != _normalize(account_value(actual, name))
    }
    assert got == expected


transforms = st.sampled_from([None, "lower", ["trim", "upper"], "first", "join:,", "bogus", "int"])
mappings = st.lists(
    st.builds(
        Mapping,
        identity=st.sampled_from(["email", "given", "groups", None]),
        account=st.sampled_from(["mail", "MAIL", "cn", "memberOf"]),
        direction=st.sampled_from(["outbound", "both", "inbound"]),
        transform=transforms,
        template=st.sampled_from([None, None, "{given}.{email}", "{given"]),
    ).filter(lambda m: m.identity is not None or m.template is not None),
    max_size=4,
)
identity_values = st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["A@X.org", " b@y.org ", "", 5]),
        "given": st.sampled_from(["Ann", "bob", None]),
        "groups": st.lists(st.sampled_from(["g1", "G2"]), max_size=3),
    },
)
object_class = ObjectClass(
    name="account",
    uid_attribute="uid",
    name_attribute="cn",
    attributes=(
        Attribute(name="mail", type=AttributeType.STRING),
        Attribute(name="cn", type=AttributeType.STRING, readable=False),
        Attribute(name="memberOf", type=AttributeType.STRING, multivalued=True),
    ),
)


def reference_explain(
    rules: list[Mapping], identity: dict[str, Any], oc: ObjectClass | None
) -> list[OutboundValue]:
    """``explain_outbound`` as it was before mappings were compiled (one pass per call)."""
    produced = []
    for index, mapping in enumerate(rules):
        if not Direction(mapping.direction).outbound:
            continue
        if mapping.template is not None:
            source = f"template {mapping.template!r}"
            raw: Any = render_template(mapping.template, identity)
        elif mapping.identity is not None:
            source = f"identity attribute {mapping.identity!r}"
            raw = identity.get(mapping.identity)
        else:
            continue
        try:
            value = apply_transforms(mapping.transform, raw)
        except TransformError as exc:
            raise TransformError(f"mappings[{index}] ({mapping.account}): {exc.detail}") from None
        name = mapping.account
        attribute = oc.attribute(name) if oc is not None else None
        if attribute is not None:
            name = attribute.name
            value = _shape(value, attribute, index)
        chain = tuple(str(t) for t in parse_transforms(mapping.transform))
        produced.append(OutboundValue(name, value, index, source, chain))
    return produced


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except (TransformError, TemplateError) as exc:
        return ("error", type(exc), exc.detail)


@given(mappings, identity_values, st.booleans())
def test_outbound_plan_matches_explain_outbound(
    rules: list[Mapping], identity: dict[str, Any], with_class: bool
) -> None:
    oc = object_class if with_class else None
    plan = OutboundPlan(rules, oc)
    assert _outcome(lambda: plan.explain(identity)) == _outcome(
        lambda: reference_explain(rules, identity, oc)
    )
    explained = _outcome(lambda: {v.attribute: v.value for v in plan.explain(identity)})
    assert _outcome(lambda: plan.values(identity)) == explained
