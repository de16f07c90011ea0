"""The attrs -> JSON Schema generator behind the OpenAPI document (``jsonschema.py``).

Its promise: the schema of a class describes exactly what the core's converter writes
(output) and reads (input). The property tests hold it to the converter itself.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import attrs
import jsonschema_rs
import pytest
from attrs import field, frozen
from hypothesis import given, settings
from hypothesis import strategies as st

from xavyo_connectors_core.converter import converter, structure_input
from xavyo_connectors_core.errors import InvalidInput
from xavyo_connectors_starlette.jsonschema import Mode, SchemaBuilder, nullable, ref


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


@frozen
class Inner:
    """A nested class."""

    label: str
    weight: float = 1.0


@frozen
class Everything:
    """Every supported kind of field."""

    name: str
    count: int
    ratio: float
    flag: bool
    colour: Colour
    id: UUID
    at: datetime
    inner: Inner
    tags: tuple[str, ...] = ()
    items: list[Inner] = field(factory=list)
    pair: tuple[int, str] | None = None
    labels: dict[str, int] = field(factory=dict)
    by_colour: Mapping[Colour, str] = field(factory=dict)
    maybe: Inner | None = None
    kind: Literal["a", "b"] = "a"
    blob: bytes = b""
    anything: Any = None


@frozen
class Node:
    """A recursive class."""

    value: int
    children: tuple[Node, ...] = ()


def _validator(builder: SchemaBuilder, name: str) -> jsonschema_rs.Validator:
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": {"schemas": builder.components},
    }
    return jsonschema_rs.validator_for(root, validate_formats=True)


class TestTypes:
    def test_scalars_formats_and_containers(self) -> None:
        builder = SchemaBuilder()
        builder.component(Everything, Mode.OUTPUT)
        props = builder.components["Everything"]["properties"]
        assert props["name"] == {"type": "string"}
        assert props["count"] == {"type": "integer"}
        assert props["ratio"] == {"type": "number"}
        assert props["flag"] == {"type": "boolean"}
        assert props["colour"] == ref("Colour")
        assert builder.components["Colour"] == {"type": "string", "enum": ["red", "blue"]}
        assert props["id"] == {"type": "string", "format": "uuid"}
        assert props["at"] == {"type": "string", "format": "date-time"}
        assert props["inner"] == ref("Inner")
        assert props["tags"] == {"type": "array", "items": {"type": "string"}}
        assert props["items"] == {"type": "array", "items": ref("Inner")}
        assert props["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
        assert props["pair"]["type"] == ["array", "null"]
        assert props["labels"] == {"type": "object", "additionalProperties": {"type": "integer"}}
        assert props["by_colour"]["propertyNames"] == ref("Colour")
        assert props["maybe"] == {"anyOf": [ref("Inner"), {"type": "null"}]}
        either = SchemaBuilder().schema_of(int | str, Mode.OUTPUT)
        assert either == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
        assert props["kind"] == {"enum": ["a", "b"]}
        assert props["blob"] == {"type": "string", "contentEncoding": "base64"}
        assert props["anything"] == {}
        unique = SchemaBuilder().schema_of(frozenset[str], Mode.OUTPUT)
        assert unique == {"type": "array", "items": {"type": "string"}, "uniqueItems": True}

    def test_output_requires_every_field_input_only_those_without_default(self) -> None:
        builder = SchemaBuilder()
        builder.component(Everything, Mode.OUTPUT)
        builder.component(Everything, Mode.INPUT)
        output, given_ = builder.components["Everything"], builder.components["EverythingInput"]
        assert output["required"] == [f.name for f in attrs.fields(Everything)]
        assert given_["required"] == [
            "name",
            "count",
            "ratio",
            "flag",
            "colour",
            "id",
            "at",
            "inner",
        ]
        assert given_["properties"]["items"]["default"] == []
        assert given_["properties"]["kind"]["default"] == "a"
        assert given_["properties"]["inner"] == ref("InnerInput")
        assert output["additionalProperties"] is given_["additionalProperties"] is False
        assert output["description"] == "Every supported kind of field."

    def test_recursive_classes_terminate(self) -> None:
        builder = SchemaBuilder()
        assert builder.component(Node, Mode.OUTPUT) == ref("Node")
        assert builder.components["Node"]["properties"]["children"]["items"] == ref("Node")

    def test_an_unknown_type_is_refused(self) -> None:
        @frozen
        class Odd:
            when: complex

        with pytest.raises(TypeError, match="cannot describe"):
            SchemaBuilder().component(Odd, Mode.OUTPUT)

    def test_overrides_win_and_names_do_not_collide(self) -> None:
        builder = SchemaBuilder(overrides=[(lambda t: t == (tuple[str, ...] | None), {"const": 1})])

        @frozen
        class WithOverride:
            transform: tuple[str, ...] | None = None

        builder.component(WithOverride, Mode.OUTPUT)
        assert builder.components["WithOverride"]["properties"]["transform"] == {"const": 1}
        with pytest.raises(ValueError, match="two different schemas"):
            builder.add("WithOverride", {"type": "null"})

    def test_projections(self) -> None:
        builder = SchemaBuilder()
        schema = builder.object_schema(
            Inner,
            Mode.OUTPUT,
            only=("label",),
            extra={"size": {"type": "integer"}},
            optional=("size",),
        )
        assert list(schema["properties"]) == ["label", "size"]
        assert schema["required"] == ["label"]
        with pytest.raises(KeyError):
            builder.object_schema(Inner, Mode.OUTPUT, only=("nope",))

    def test_nullable(self) -> None:
        assert nullable({"type": "string"}) == {"type": ["string", "null"]}
        assert nullable({"type": ["string", "null"]}) == {"type": ["string", "null"]}
        assert nullable({"enum": ["a"]}) == {"anyOf": [{"enum": ["a"]}, {"type": "null"}]}


def _instances() -> st.SearchStrategy[Everything]:
    texts = st.text(max_size=8)
    inner = st.builds(Inner, label=texts, weight=st.floats(allow_nan=False, allow_infinity=False))
    return st.builds(
        Everything,
        name=texts,
        count=st.integers(),
        ratio=st.floats(allow_nan=False, allow_infinity=False),
        flag=st.booleans(),
        colour=st.sampled_from(Colour),
        id=st.uuids(),
        at=st.datetimes(timezones=st.just(UTC)),
        inner=inner,
        tags=st.lists(texts, max_size=3).map(tuple),
        items=st.lists(inner, max_size=2),
        pair=st.none() | st.tuples(st.integers(), texts),
        labels=st.dictionaries(texts, st.integers(), max_size=2),
        by_colour=st.dictionaries(st.sampled_from(Colour), texts, max_size=2),
        maybe=st.none() | inner,
        kind=st.sampled_from(["a", "b"]),
        blob=st.binary(max_size=8),
        anything=st.none() | st.integers() | texts,
    )


class TestAgainstTheConverter:
    @settings(max_examples=40, deadline=None)
    @given(_instances())
    def test_what_the_converter_writes_fits_the_output_schema(self, obj: Everything) -> None:
        builder = SchemaBuilder()
        builder.component(Everything, Mode.OUTPUT)
        document = converter.unstructure(obj, Everything)
        errors = [str(e) for e in _validator(builder, "Everything").iter_errors(document)]
        assert not errors, (errors, document)

    @settings(max_examples=40, deadline=None)
    @given(_instances())
    def test_what_fits_the_input_schema_is_what_the_converter_reads(self, obj: Everything) -> None:
        builder = SchemaBuilder()
        builder.component(Everything, Mode.INPUT)
        document = converter.unstructure(obj, Everything)
        assert _validator(builder, "EverythingInput").is_valid(document)
        assert structure_input(document, Everything) == obj
        document["surprise"] = 1  # unknown keys: refused by both
        assert not _validator(builder, "EverythingInput").is_valid(document)
        with pytest.raises(InvalidInput):
            structure_input(document, Everything)

    def test_type_hints_resolve_in_the_module_of_the_class(self) -> None:
        assert typing.get_type_hints(Node)["children"] == tuple[Node, ...]
        assert datetime.now(UTC).tzinfo is UTC
