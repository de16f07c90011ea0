"""Helpers shared by every store adapter: row codecs, JSON, cursors, value keys, scopes.

Rows and objects meet in one place, ``Codec``: an object is unstructured by *the*
converter (``xavyo_connectors_core.converter.converter``), nested parts become JSON text,
and a row is structured back by the same converter. What differs between databases
(how a datetime, a UUID or a boolean is stored) is a ``Dialect``.

The in-memory store uses the same JSON encoding, value keys and account keys, so the
three adapters agree by construction on what round-trips, on what ``find_by_values``
matches and on which operations share an account (scopes are decided by the domain's
``mappings.in_scope`` in every store).
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import json
import math
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar, cast
from uuid import UUID

import attrs

from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.errors import FieldError, InvalidInput
from xavyo_connectors_core.model import Page
from xavyo_connectors_core.pagination import decode_cursor, encode_cursor

T = TypeVar("T")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
NIL_UUID = UUID(int=0)
MAX_UUID = UUID(int=(1 << 128) - 1)

ACTIVE_RUN_STATUSES = ("queued", "running")
UNFINISHED_OPERATION_STATUSES = ("pending", "in_progress", "retrying")
"""Operations ``dead_letter_for_connector`` moves to ``dead``."""
BLOCKING_OPERATION_STATUSES = ("pending", "retrying", "in_progress", "dead")
"""Operations that hold back later ones of their account (SPEC §3.7)."""
FINISHED_RUN_STATUSES = ("succeeded", "failed", "cancelled")


# --------------------------------------------------------------------------- time


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact)."""
    return (value - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The aware UTC datetime ``value`` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=value)


# --------------------------------------------------------------------------- JSON


def dump_json(value: Any, path: str) -> str:
    """Encode a JSON-shaped value; anything else (NaN, sets, objects) is ``InvalidInput``."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            [FieldError(path, "must be JSON data (no NaN, infinity or non-JSON types)")]
        ) from exc


# --------------------------------------------------------------------------- codecs


class Kind(enum.Enum):
    """How a column of an attrs class is stored."""

    PLAIN = "plain"  # str, int, float, enum: stored natively
    BOOL = "bool"
    UUID = "uuid"
    TIME = "time"
    JSON = "json"  # everything nested: stored as JSON text


class Dialect(Protocol):
    """How one database stores the column kinds that differ between databases."""

    def dump_time(self, value: datetime) -> Any: ...
    def load_time(self, value: Any) -> datetime: ...
    def dump_uuid(self, value: UUID) -> Any: ...
    def load_json(self, value: Any) -> Any: ...
    def load_bool(self, value: Any) -> bool: ...


_PLAIN_TYPES = (str, int, float)


def _kind_of(annotation: Any) -> Kind:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _kind_of(non_none[0])
        return Kind.JSON
    if annotation is datetime:
        return Kind.TIME
    if annotation is UUID:
        return Kind.UUID
    if annotation is bool:
        return Kind.BOOL
    if isinstance(annotation, type) and issubclass(annotation, (*_PLAIN_TYPES, enum.Enum)):
        return Kind.PLAIN
    return Kind.JSON


class Codec(Generic[T]):
    """Turns objects of one attrs class into column values and rows back into objects."""

    def __init__(self, cls: type[T], dialect: Dialect) -> None:
        self.cls = cls
        self.dialect = dialect
        hints = typing.get_type_hints(cls)
        fields = attrs.fields(cast(Any, cls))
        self.kinds: dict[str, Kind] = {f.name: _kind_of(hints[f.name]) for f in fields}
        # the converter's hook per nested field: what unstructuring the whole object would
        # do to that field, without formatting the columns stored natively
        self._nested: dict[str, Callable[[Any], Any]] = {
            name: converter.get_unstructure_hook(hints[name])
            for name, kind in self.kinds.items()
            if kind is Kind.JSON
        }

    def params(self, obj: T) -> dict[str, Any]:
        """Column values for ``obj``, keyed by attribute name."""
        out: dict[str, Any] = {}
        dialect = self.dialect
        for name, kind in self.kinds.items():
            value = getattr(obj, name)
            if value is None:
                out[name] = None
            elif kind is Kind.JSON:
                out[name] = dump_json(self._nested[name](value), name)
            elif kind is Kind.TIME:
                out[name] = dialect.dump_time(value)
            elif kind is Kind.UUID:
                out[name] = dialect.dump_uuid(value)
            elif kind is Kind.BOOL:
                out[name] = bool(value)
            else:
                out[name] = value.value if isinstance(value, enum.Enum) else value
        return out

    def load(self, row: Mapping[str, Any]) -> T:
        """The object a row (a mapping of column name to value) stores."""
        data: dict[str, Any] = {}
        dialect = self.dialect
        for name, kind in self.kinds.items():
            value = row[name]
            if value is not None:
                if kind is Kind.JSON:
                    value = dialect.load_json(value)
                elif kind is Kind.TIME:
                    value = dialect.load_time(value)
                elif kind is Kind.BOOL:
                    value = dialect.load_bool(value)
            data[name] = value
        return converter.structure(data, self.cls)


def freeze(obj: T) -> str:
    """The JSON text of a whole object (the in-memory store's "row")."""
    return dump_json(converter.unstructure(obj), type(obj).__name__)


def thaw(text: str, cls: type[T]) -> T:
    """A fresh object from ``freeze`` output."""
    return converter.structure(json.loads(text), cls)


# --------------------------------------------------------------------------- cursors


def _bad_cursor() -> InvalidInput:
    return InvalidInput([FieldError("cursor", "is not a valid cursor")])


def time_id_cursor(when: datetime, ident: UUID) -> str:
    """A cursor after the item with sort key (``when``, ``ident``)."""
    return encode_cursor(to_micros(when), str(ident))


def read_time_id_cursor(cursor: str) -> tuple[datetime, UUID]:
    micros, ident = decode_cursor(cursor, 2)
    if type(micros) is not int or not isinstance(ident, str) or len(ident) > 64:
        raise _bad_cursor()
    try:
        return from_micros(micros), UUID(ident)
    except (ValueError, OverflowError) as exc:
        raise _bad_cursor() from exc


def int_cursor(value: int) -> str:
    return encode_cursor(value)


def read_int_cursor(cursor: str) -> int:
    (value,) = decode_cursor(cursor, 1)
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise _bad_cursor()
    return value


def text_cursor(value: str) -> str:
    return encode_cursor(value)


def read_text_cursor(cursor: str) -> str:
    (value,) = decode_cursor(cursor, 1)
    if not isinstance(value, str) or "\x00" in value:
        raise _bad_cursor()
    return value


def make_page(items: Sequence[T], limit: int, cursor_of: Callable[[T], str]) -> Page[T]:
    """A page from up to ``limit + 1`` fetched items (the extra one proves there is more)."""
    if len(items) > limit:
        kept = tuple(items[:limit])
        return Page(kept, cursor_of(kept[-1]))
    return Page(tuple(items))


# --------------------------------------------------------------------------- values

_MAX_KEY_CHARS = 200


def loose_text(value: Any) -> str | None:
    """The text a scalar is compared by in ``find_by_values``, or None if it matches nothing.

    Strings as they are, booleans ``true``/``false``, integers and finite floats as
    ``str()`` (the text ``transforms.text_of`` gives them too); then ``strip()`` and
    ``casefold()``.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = str(value)
    else:
        return None
    return text.strip().casefold()


def value_key(value: Any) -> str | None:
    """The stored (indexed) key of one scalar attribute value, or None if not indexable.

    Two values share a key exactly when their ``loose_text`` is the same: ``"John@X.org "``
    and ``"john@x.org"``, ``42`` and ``" 42"``, ``True`` and ``"TRUE"`` do; ``1`` and
    ``1.0`` do not. Long keys are replaced by their SHA-256 so that any value can be
    indexed. Changing this function changes stored keys: it needs a migration that
    rebuilds ``identity_values`` (see ``_sql.DATA_MIGRATIONS``).
    """
    text = loose_text(value)
    if text is None:
        return None
    key = "t:" + text
    if len(key) > _MAX_KEY_CHARS:
        return "h:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


def _elements(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def element_keys(value: Any) -> set[str]:
    """The keys of an attribute value: one per element of a list, else one."""
    keys = {value_key(v) for v in _elements(value)}
    keys.discard(None)
    return keys  # type: ignore[return-value]


def identity_value_rows(attributes: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (attribute, value_key) pairs an identity contributes to the value index."""
    return sorted((name, key) for name, value in attributes.items() for key in element_keys(value))


def keys_of_values(values: Iterable[Any]) -> dict[str, list[Any]]:
    """Map each value key to the requested values having it (distinct, in order)."""
    out: dict[str, list[Any]] = {}
    for value in values:
        key = value_key(value)
        if key is not None:
            wanted = out.setdefault(key, [])
            if not any(type(v) is type(value) and v == value for v in wanted):
                wanted.append(value)
    return out


def candidates_by_value(
    by_key: Mapping[str, Sequence[Any]], found: Iterable[tuple[str, T]], ident: Callable[[T], Any]
) -> dict[Any, list[T]]:
    """``find_by_values`` output from (value key, identity) pairs: per requested value, its
    identities, distinct and ordered by ``ident`` (values equal as dict keys merge)."""
    out: dict[Any, dict[Any, T]] = {}
    for key, item in found:
        for value in by_key[key]:
            out.setdefault(value, {})[ident(item)] = item
    return {value: [items[k] for k in sorted(items)] for value, items in out.items()}


def account_key(identity_id: UUID | None, uid: str | None) -> str:
    """The account an operation acts on (same as ``provisioning.account_key``).

    Operations with the same (tenant, connector, account key) are applied in order.
    """
    return f"i:{identity_id}" if identity_id is not None else f"u:{uid}"


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of up to ``size`` items of any iterable (read lazily)."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
