"""The transform and template language of mappings (SPEC §3.3): a fixed list, no eval.

Transforms are named steps applied in order to one attribute value::

    lower  upper  trim  first  join:SEP  split:SEP  default:VALUE  bool  int  iso8601

A value is ``None``, a scalar, or a list of scalars. The list semantics:

- ``lower``, ``upper``, ``trim``, ``bool``, ``int``, ``iso8601`` map over a list;
  ``None`` (also inside a list) passes through unchanged.
- ``first`` takes the first element of a list, or ``None`` for an empty list; a scalar is
  left alone.
- ``join:SEP`` turns a list into one string (``None`` elements are skipped; an empty
  list joins to ``""``); a scalar becomes its text.
- ``split:SEP`` turns a string into a list (``""`` splits to ``[]``, so ``join:SEP``
  after ``split:SEP`` gives the string back); a list is split element-wise and flattened.
  The separator must not be empty.
- ``default:VALUE`` replaces ``None``, ``""`` and ``[]`` with the string ``VALUE``.
- ``bool`` reads ``true/false/yes/no/1/0`` (any case, surrounding blanks ignored);
  ``int`` reads an optionally signed decimal integer; ``iso8601`` normalizes a datetime,
  an ISO 8601 / RFC 3339 string, an LDAP GeneralizedTime (``20240102030405Z``) or epoch
  seconds to RFC 3339 UTC with ``Z``. Naive times are read as UTC. For these three an
  empty (or blank) string reads as ``None``; anything else unreadable raises
  ``TransformError``, whose message never repeats the value (it may be a secret).

Text transforms (``lower``, ``upper``, ``trim``, ``join``, ``split``) read non-string
scalars as their text: booleans as ``true``/``false``, numbers as decimal text, datetimes
as RFC 3339. Binary values take no transform. ``lower`` and ``upper`` apply Unicode full
case mapping followed by NFC normalization, so that canonically equivalent text maps to
the same value.

Templates are text with ``{name}`` placeholders naming identity attributes
(``[a-z][a-z0-9_]*``); ``{{`` and ``}}`` are literal braces. Nothing else inside braces is
allowed: no format specs, conversions, attribute or index access. Templates are parsed
by a small scanner here, never by ``str.format``.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

from attrs import frozen

from xavyo_connectors_core.converter import format_datetime
from xavyo_connectors_core.errors import XavyoError
from xavyo_connectors_core.model import AttributeType

__all__ = [
    "TRANSFORM_NAMES",
    "TemplateError",
    "Transform",
    "TransformError",
    "apply_transforms",
    "check_transforms",
    "input_type_problems",
    "parse_template",
    "parse_transform",
    "parse_transforms",
    "produces_single_value",
    "render_template",
    "result_type",
    "text_of",
]


class TransformError(XavyoError, ValueError):
    """A transform name is unknown or malformed, or a value cannot be transformed."""

    title = "transform failed"


class TemplateError(XavyoError, ValueError):
    """A template uses braces other than ``{name}``, ``{{`` and ``}}``."""

    title = "invalid template"


class _Name(enum.StrEnum):
    LOWER = "lower"
    UPPER = "upper"
    TRIM = "trim"
    FIRST = "first"
    JOIN = "join"
    SPLIT = "split"
    DEFAULT = "default"
    BOOL = "bool"
    INT = "int"
    ISO8601 = "iso8601"


TRANSFORM_NAMES: tuple[str, ...] = tuple(n.value for n in _Name)
"""The fixed list of transform names (SPEC §3.3)."""

_WITH_ARGUMENT = frozenset({_Name.JOIN, _Name.SPLIT, _Name.DEFAULT})
_SPELLINGS = "lower, upper, trim, first, join:SEP, split:SEP, default:VALUE, bool, int, iso8601"

TransformNames = str | Iterable[str] | None
"""One transform name, a sequence of them applied in order, or None (no transform)."""


@frozen
class Transform:
    """One parsed transform: a name from the fixed list and, for some, an argument."""

    name: str
    argument: str | None = None

    def __str__(self) -> str:
        return self.name if self.argument is None else f"{self.name}:{self.argument}"

    def apply(self, value: Any) -> Any:
        """Apply this transform to ``value``.

        Raises:
            TransformError: the value cannot be read by this transform.
        """
        return _APPLY[_Name(self.name)](value, self.argument or "")


# --------------------------------------------------------------------------- parsing


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def parse_transform(spec: str) -> Transform:
    """Parse one transform spelling such as ``lower`` or ``join:, ``.

    The argument is everything after the first colon, blanks included.

    Raises:
        TransformError: the name is not in the fixed list, an argument is missing or
            not expected, or a ``split`` separator is empty.
    """
    if not isinstance(spec, str):
        raise TransformError("a transform must be a name (a string)")
    name, colon, argument = spec.partition(":")
    try:
        known = _Name(name)
    except ValueError:
        raise TransformError(
            f"unknown transform {_shown(spec)}; the transforms are: {_SPELLINGS}"
        ) from None
    if known in _WITH_ARGUMENT:
        if not colon:
            what = "SEP" if known is not _Name.DEFAULT else "VALUE"
            raise TransformError(f"{known} needs an argument: {known}:{what}")
        if known is _Name.SPLIT and not argument:
            raise TransformError("split needs a non-empty separator: split:SEP")
        return Transform(known.value, argument)
    if colon:
        raise TransformError(f"{known} takes no argument")
    return Transform(known.value)


def _names(names: TransformNames) -> tuple[str, ...]:
    if names is None:
        return ()
    if isinstance(names, str):
        return (names,)
    return tuple(names)


@lru_cache(maxsize=1024)
def _parse_chain(names: tuple[str, ...]) -> tuple[Transform, ...]:
    return tuple(parse_transform(n) for n in names)


def parse_transforms(names: TransformNames) -> tuple[Transform, ...]:
    """Parse a chain of transform names (one name, a sequence, or None).

    Raises:
        TransformError: at the first invalid name.
    """
    chain = _names(names)
    if not all(isinstance(n, str) for n in chain):
        raise TransformError("a transform must be a name (a string)")
    return _parse_chain(chain)


def check_transforms(names: TransformNames) -> list[str]:
    """Every problem with a chain of transform names, as messages (empty when valid)."""
    messages: list[str] = []
    for spec in _names(names):
        try:
            parse_transform(spec)
        except TransformError as exc:
            messages.append(exc.detail)
    return messages


# --------------------------------------------------------------------------- applying


def apply_transforms(names: TransformNames, value: Any) -> Any:
    """Apply a chain of transforms, in order, to ``value`` (None, a scalar or a list).

    Tuples are read as lists; the result of a list transform is a list.

    Raises:
        TransformError: a name is invalid, or the value cannot be transformed.
    """
    for transform in parse_transforms(names):
        value = transform.apply(value)
    return value


def text_of(value: Any) -> str:
    """The text form of a scalar: booleans ``true``/``false``, datetimes RFC 3339.

    Raises:
        TransformError: the value is binary, a list or a mapping.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(_as_utc(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raise TransformError("a binary value takes no text transform")
    if isinstance(value, list | tuple | dict | set | frozenset):
        raise TransformError("a nested list or object cannot be read as text")
    return str(value)


def _each(value: Any, function: Callable[[Any], Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [None if item is None else function(item) for item in value]
    return function(value)


def _lower(value: Any, _arg: str) -> Any:
    return _each(value, lambda v: unicodedata.normalize("NFC", text_of(v).lower()))


def _upper(value: Any, _arg: str) -> Any:
    return _each(value, lambda v: unicodedata.normalize("NFC", text_of(v).upper()))


def _trim(value: Any, _arg: str) -> Any:
    return _each(value, lambda v: text_of(v).strip())


def _first(value: Any, _arg: str) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _join(value: Any, sep: str) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return sep.join(text_of(v) for v in value if v is not None)
    return text_of(value)


def _split(value: Any, sep: str) -> Any:
    if value is None:
        return None
    items = value if isinstance(value, list | tuple) else [value]
    result: list[str] = []
    for item in items:
        if item is None:
            continue
        text = text_of(item)
        if text:
            result.extend(text.split(sep))
    return result


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple) and len(value) == 0)


def _default(value: Any, replacement: str) -> Any:
    return replacement if _is_empty(value) else value


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().casefold()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise TransformError("bool: the value is not a boolean (true/false/yes/no/1/0)")


_INT_RE = re.compile(r"[+-]?[0-9]+")


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        raise TransformError("int: a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _INT_RE.fullmatch(text):
            try:
                return int(text)
            except ValueError:  # more digits than Python converts
                pass
    raise TransformError("int: the value is not an integer")


_GENERALIZED_TIME_RE = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d{1,6})\d*)?(Z|[+-]\d{4})?"
)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_timestamp(text: str) -> datetime:
    match = _GENERALIZED_TIME_RE.fullmatch(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        text = (
            f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}"
            f"{'.' + fraction.ljust(6, '0') if fraction else ''}"
            f"{'' if zone in (None, 'Z') else zone[:3] + ':' + zone[3:]}"
        )
    if text[-1:] in ("z", "Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def _to_timestamp(value: Any) -> str | None:
    if isinstance(value, datetime):
        return format_datetime(_as_utc(value))
    if isinstance(value, date):
        return format_datetime(datetime.combine(value, time(), tzinfo=UTC))
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return format_datetime(datetime.fromtimestamp(value, tz=UTC))
        except (OverflowError, OSError, ValueError):
            raise TransformError("iso8601: the number is not a valid epoch time") from None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return format_datetime(_as_utc(_parse_timestamp(text)))
        except (ValueError, OverflowError):
            pass
    raise TransformError("iso8601: the value is not an ISO 8601 timestamp")


_APPLY: dict[_Name, Callable[[Any, str], Any]] = {
    _Name.LOWER: _lower,
    _Name.UPPER: _upper,
    _Name.TRIM: _trim,
    _Name.FIRST: _first,
    _Name.JOIN: _join,
    _Name.SPLIT: _split,
    _Name.DEFAULT: _default,
    _Name.BOOL: lambda v, _a: _each(v, _to_bool),
    _Name.INT: lambda v, _a: _each(v, _to_int),
    _Name.ISO8601: lambda v, _a: _each(v, _to_timestamp),
}


# --------------------------------------------------------------------------- inference


def _valid_chain(names: TransformNames) -> tuple[Transform, ...]:
    """The valid transforms of a chain, skipping invalid names (reported elsewhere)."""
    chain: list[Transform] = []
    for spec in _names(names):
        try:
            chain.append(parse_transform(spec))
        except TransformError:
            continue
    return tuple(chain)


def produces_single_value(names: TransformNames, source_multivalued: bool) -> bool:
    """Whether the chain's result is one value, given whether its input is multivalued.

    ``first`` and ``join:SEP`` make one value; ``split:SEP`` makes several; the others
    keep the input's multiplicity. Invalid names are ignored.
    """
    multivalued = source_multivalued
    for transform in _valid_chain(names):
        if transform.name in (_Name.FIRST, _Name.JOIN):
            multivalued = False
        elif transform.name == _Name.SPLIT:
            multivalued = True
    return not multivalued


_TEXT_OUT = frozenset({_Name.LOWER, _Name.UPPER, _Name.TRIM, _Name.JOIN, _Name.SPLIT})
_READS: dict[_Name, frozenset[AttributeType | None]] = {
    _Name.BOOL: frozenset(
        {None, AttributeType.STRING, AttributeType.BOOLEAN, AttributeType.INTEGER}
    ),
    _Name.INT: frozenset({None, AttributeType.STRING, AttributeType.INTEGER}),
    _Name.ISO8601: frozenset(
        {None, AttributeType.STRING, AttributeType.DATETIME, AttributeType.INTEGER}
    ),
}
_PRODUCES = {
    _Name.BOOL: AttributeType.BOOLEAN,
    _Name.INT: AttributeType.INTEGER,
    _Name.ISO8601: AttributeType.DATETIME,
}


def _step(transform: Transform, current: AttributeType | None) -> AttributeType | None:
    name = _Name(transform.name)
    if name in _TEXT_OUT:
        return AttributeType.STRING
    if name in _PRODUCES:
        return _PRODUCES[name]
    if name is _Name.DEFAULT and current not in (None, AttributeType.STRING):
        return None  # either the input's type or the default's text: unknown
    return current


def result_type(names: TransformNames, source_type: AttributeType | None) -> AttributeType | None:
    """The type the chain produces from a ``source_type`` input (None means unknown).

    Text transforms produce ``string``, ``bool`` ``boolean``, ``int`` ``integer``,
    ``iso8601`` ``datetime`` (as RFC 3339 text); ``first`` keeps the type; ``default``
    keeps a string or unknown type and makes any other unknown. Invalid names are
    ignored.
    """
    current = source_type
    for transform in _valid_chain(names):
        current = _step(transform, current)
    return current


def input_type_problems(names: TransformNames, source_type: AttributeType | None) -> list[str]:
    """Transforms of the chain that cannot read the type their input has at that point.

    Binary values take no transform at all; ``bool`` reads strings, booleans and
    integers; ``int`` strings and integers; ``iso8601`` strings, datetimes and integers
    (epoch seconds). An unknown input type (None) is accepted by every transform.
    """
    problems: list[str] = []
    current = source_type
    for transform in _valid_chain(names):
        name = _Name(transform.name)
        if current is AttributeType.BINARY:
            problems.append(f"{transform} cannot read a binary value (binary takes no transform)")
        elif name in _READS and current not in _READS[name]:
            problems.append(f"{transform} cannot read a {current} value")
        current = _step(transform, current)
    return problems


# --------------------------------------------------------------------------- templates

_PLACEHOLDER_RE = re.compile(r"[a-z][a-z0-9_]*")

_Segment = tuple[bool, str]
"""(is_placeholder, literal text or placeholder name)."""


@lru_cache(maxsize=1024)
def _compile(text: str) -> tuple[_Segment, ...]:
    segments: list[_Segment] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateError(f"unmatched '}}' at position {i}; write '}}}}' for a literal brace")
        if char != "{":
            literal.append(char)
            i += 1
            continue
        if text.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end = text.find("}", i + 1)
        if end < 0:
            raise TemplateError(f"unclosed '{{' at position {i}; write '{{{{' for a literal brace")
        inner = text[i + 1 : end]
        _check_placeholder(inner, i)
        if literal:
            segments.append((False, "".join(literal)))
            literal = []
        segments.append((True, inner))
        i = end + 1
    if literal:
        segments.append((False, "".join(literal)))
    return tuple(segments)


def _check_placeholder(inner: str, position: int) -> None:
    where = f"placeholder at position {position}"
    if not inner:
        raise TemplateError(f"empty {where}; placeholders are {{name}}")
    if "{" in inner:
        raise TemplateError(f"nested '{{' in the {where}")
    name = _PLACEHOLDER_RE.match(inner)
    rest = inner[name.end() :] if name else inner
    if name and not rest:
        return
    first = rest[:1]
    if first == "!":
        problem = "conversions (!r, !s) are not allowed"
    elif first == ":":
        problem = "format specs are not allowed"
    elif first == ".":
        problem = "attribute access is not allowed"
    elif first == "[":
        problem = "index access is not allowed"
    else:
        problem = "names must match [a-z][a-z0-9_]*"
    raise TemplateError(f"invalid {where}: {problem}; placeholders are {{name}}")


def parse_template(text: str) -> tuple[str, ...]:
    """The distinct placeholder names of a template, in order of first appearance.

    Raises:
        TemplateError: the template uses braces in any way other than ``{name}``
            (``name`` matching ``[a-z][a-z0-9_]*``), ``{{`` or ``}}``.
    """
    if not isinstance(text, str):
        raise TemplateError("a template must be a string")
    names: dict[str, None] = {}
    for is_placeholder, value in _compile(text):
        if is_placeholder:
            names.setdefault(value)
    return tuple(names)


def render_template(text: str, attributes: Mapping[str, Any]) -> str:
    """Render a template with identity attribute values.

    Validation guarantees every placeholder is a syntactically valid identity attribute
    name; an identity need not have every attribute, so a missing or ``None`` value
    renders as the empty string. A list renders its non-None elements' text joined by
    ``,``; other scalars render as ``text_of`` describes.

    Raises:
        TemplateError: the template is invalid.
        TransformError: a value is binary or nested and has no text form.
    """
    if not isinstance(text, str):
        raise TemplateError("a template must be a string")
    parts: list[str] = []
    for is_placeholder, value in _compile(text):
        if not is_placeholder:
            parts.append(value)
            continue
        current = attributes.get(value)
        if current is None:
            continue
        if isinstance(current, list | tuple):
            parts.append(",".join(text_of(v) for v in current if v is not None))
        else:
            parts.append(text_of(current))
    return "".join(parts)
