"""JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of attrs classes, from their types.

``SchemaBuilder`` reads the type hints of an attrs class and writes the schema of the
document the core's converter reads or writes for it, collecting every attrs class and
enum it reaches as a named component (``#/components/schemas/<Name>``):

- ``Mode.INPUT`` is what ``structure_input`` accepts: fields without a default are
  required, defaults are shown, unknown keys are refused (the converter forbids them).
- ``Mode.OUTPUT`` is what ``converter.unstructure`` produces: every field is present.

Types: ``str``, ``int``, ``float``, ``bool``, ``bytes`` (base64), enums (by value),
``Literal``, ``UUID`` (format ``uuid``), ``datetime`` (format ``date-time``), tuples, lists,
sets, mappings (an enum key becomes ``propertyNames``), unions and ``Optional``, ``Any``,
and nested attrs classes. A type with a hook of its own in the converter gets its schema
from ``overrides`` (a predicate on the type and the schema to use). Anything else is a
``TypeError``, so a new field of an unknown type cannot slip into the document unnoticed.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import attrs

from xavyo_connectors_core.converter import converter

JsonSchema: TypeAlias = dict[str, Any]
"""A JSON Schema (or OpenAPI schema object) as a JSON-ready dict."""

Override: TypeAlias = tuple[Callable[[Any], bool], JsonSchema]
"""A predicate on a type and the schema of the values of the types it accepts."""

COMPONENTS = "#/components/schemas/"


class Mode(enum.Enum):
    """Which side of the converter a schema describes."""

    INPUT = "input"
    OUTPUT = "output"


def ref(name: str) -> JsonSchema:
    """A reference to the component schema ``name``."""
    return {"$ref": COMPONENTS + name}


def nullable(schema: JsonSchema) -> JsonSchema:
    """``schema`` or ``null``."""
    kind = schema.get("type")
    if "enum" not in schema and "const" not in schema:
        if isinstance(kind, str):
            return {**schema, "type": [kind, "null"]}
        if isinstance(kind, list):
            return schema if "null" in kind else {**schema, "type": [*kind, "null"]}
    if schema.get("anyOf") and {"type": "null"} in schema["anyOf"]:
        return schema
    return {"anyOf": [schema, {"type": "null"}]}


def summary(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring, on one line ("" without one)."""
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


_SCALARS: Mapping[Any, JsonSchema] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bytes: {"type": "string", "contentEncoding": "base64"},
    UUID: {"type": "string", "format": "uuid"},
    datetime: {"type": "string", "format": "date-time"},
}

_SEQUENCES = (
    tuple,
    list,
    collections.abc.Sequence,
    set,
    frozenset,
    collections.abc.Set,
    collections.abc.MutableSequence,
)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


class SchemaBuilder:
    """Builds schemas and collects the components they refer to.

    Args:
        overrides: schemas of types the converter has hooks of its own for, tried first.
    """

    def __init__(self, overrides: Iterable[Override] = ()) -> None:
        self.components: dict[str, JsonSchema] = {}
        self._overrides = tuple(overrides)

    # ------------------------------------------------------------------ components

    def add(self, name: str, schema: JsonSchema) -> JsonSchema:
        """Register ``schema`` as the component ``name``; return a reference to it.

        Raises:
            ValueError: another schema already has that name.
        """
        known = self.components.get(name)
        if known is not None and known != schema:
            raise ValueError(f"two different schemas are named {name!r}")
        self.components[name] = schema
        return ref(name)

    def component(self, cls: type, mode: Mode) -> JsonSchema:
        """A reference to the component of an attrs class or enum (built on first use)."""
        if isinstance(cls, type) and issubclass(cls, enum.Enum):
            name = cls.__name__
            if name not in self.components:
                self.add(name, _enum_schema(cls))
            return ref(name)
        name = component_name(cls, mode)
        if name not in self.components:
            self.components[name] = {}  # reserve the name: recursive classes terminate
            self.components[name] = self.object_schema(cls, mode)
        return ref(name)

    # ------------------------------------------------------------------ objects

    def object_schema(
        self,
        cls: type,
        mode: Mode,
        *,
        only: Collection[str] | None = None,
        replace: Mapping[str, JsonSchema] | None = None,
        extra: Mapping[str, JsonSchema] | None = None,
        optional: Collection[str] = (),
        description: str | None = None,
    ) -> JsonSchema:
        """The schema of the document of the attrs class ``cls``.

        Args:
            cls: an attrs class.
            mode: input (required = no default; defaults shown) or output (all present).
            only: the fields to keep, in this order (a projection; default: every field).
            replace: schemas for fields whose document differs from their type.
            extra: more properties (present in the document, so required in output mode).
            optional: properties that may be absent even in output mode.
            description: the component's description (default: the class docstring).

        Raises:
            TypeError: a field of a type this builder cannot describe.
            KeyError: a field in ``only`` or ``replace`` that ``cls`` does not have.
        """
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in attrs.fields(cls)}
        names = list(fields) if only is None else list(only)
        replace = dict(replace or {})
        unknown = [n for n in [*names, *replace] if n not in fields]
        if unknown:
            raise KeyError(f"{cls.__name__} has no field {', '.join(unknown)}")
        properties: dict[str, JsonSchema] = {}
        required: list[str] = []
        for name in names:
            field = fields[name]
            schema = replace[name] if name in replace else self.schema_of(hints[name], mode)
            if mode is Mode.INPUT and field.default is not attrs.NOTHING:
                schema = {**schema, "default": _default(field.default)}
            elif name not in optional:
                required.append(name)
            properties[name] = schema
        for name, schema in (extra or {}).items():
            properties[name] = schema
            if name not in optional:
                required.append(name)
        document: JsonSchema = {"type": "object"}
        text = summary(cls) if description is None else description
        if text:
            document["description"] = text
        document["properties"] = properties
        if required:
            document["required"] = required
        document["additionalProperties"] = False
        return document

    # ------------------------------------------------------------------ types

    def schema_of(self, tp: Any, mode: Mode) -> JsonSchema:
        """The schema of values of the type ``tp``.

        Raises:
            TypeError: a type this builder cannot describe.
        """
        for accepts, schema in self._overrides:
            if accepts(tp):
                return dict(schema)
        if tp is Any or tp is object:
            return {}
        if tp is None or tp is type(None):
            return {"type": "null"}
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return self.component(tp, mode)
        if isinstance(tp, type) and attrs.has(tp):
            return self.component(tp, mode)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Literal:
            return {"enum": [a.value if isinstance(a, enum.Enum) else a for a in args]}
        if origin is typing.Union or origin is types.UnionType:
            return self._union(args, mode)
        if origin is typing.Annotated:
            return self.schema_of(args[0], mode)
        if origin in _SEQUENCES:
            return self._sequence(origin, args, mode)
        if origin in _MAPPINGS or tp in _MAPPINGS:
            return self._mapping(args, mode)
        if tp in _SEQUENCES:
            return {"type": "array"}
        raise TypeError(f"cannot describe the type {tp!r} in JSON Schema")

    def _union(self, args: tuple[Any, ...], mode: Mode) -> JsonSchema:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            schema = self.schema_of(members[0], mode)
        else:
            schema = {"anyOf": [self.schema_of(a, mode) for a in members]}
        return nullable(schema) if len(members) < len(args) else schema

    def _sequence(self, origin: Any, args: tuple[Any, ...], mode: Mode) -> JsonSchema:
        schema: JsonSchema = {"type": "array"}
        if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            if args == ((),):
                return {"type": "array", "maxItems": 0}
            schema["prefixItems"] = [self.schema_of(a, mode) for a in args]
            schema["minItems"] = schema["maxItems"] = len(args)
            return schema
        if args:
            schema["items"] = self.schema_of(args[0], mode)
        if origin in (set, frozenset, collections.abc.Set):
            schema["uniqueItems"] = True
        return schema

    def _mapping(self, args: tuple[Any, ...], mode: Mode) -> JsonSchema:
        schema: JsonSchema = {"type": "object"}
        if not args:
            return schema
        key, value = args
        if isinstance(key, type) and issubclass(key, enum.Enum):
            schema["propertyNames"] = self.component(key, mode)
        elif key is not str:
            raise TypeError(f"cannot describe a mapping keyed by {key!r} in JSON Schema")
        value_schema = self.schema_of(value, mode)
        if value_schema:
            schema["additionalProperties"] = value_schema
        return schema


def component_name(cls: type, mode: Mode) -> str:
    """``Name`` for output documents; ``NameInput`` for input ones (once)."""
    name = cls.__name__
    if mode is Mode.INPUT and not name.endswith("Input"):
        name += "Input"
    return name


def enum_values(cls: type[enum.Enum]) -> list[Any]:
    """The values of the members of ``cls``, in definition order."""
    return [member.value for member in cls]


def _enum_schema(cls: type[enum.Enum]) -> JsonSchema:
    values = enum_values(cls)
    schema: JsonSchema = {}
    if all(isinstance(v, str) for v in values):
        schema["type"] = "string"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        schema["type"] = "integer"
    schema["enum"] = values
    return schema


def _default(default: Any) -> Any:
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        if default.takes_self:
            raise TypeError("a default that depends on the instance cannot be documented")
        default = default.factory()
    return converter.unstructure(default)
