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
import inspect
import itertools
import json
import json.encoder
import math
import operator
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


_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))
"""What ``json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))``
builds on every call (``json.dumps`` caches an encoder only for its default options)."""


def _unchecked_encoder() -> Callable[[Any, int], Sequence[str]] | None:
    """The C encoder ``_ENCODER.encode`` makes on every call, made once, without the dict
    of containers being encoded that detects cycles (which would make it unsafe to share
    between threads); None without the C accelerator. Same text, same errors, except
    that a cycle raises ``RecursionError`` instead of ``ValueError``."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    return cast(
        Callable[[Any, int], Sequence[str]],
        make(  # the arguments of ``JSONEncoder.iterencode``'s call
            None,  # markers
            _ENCODER.default,
            json.encoder.encode_basestring,  # as ensure_ascii=False
            _ENCODER.indent,
            _ENCODER.key_separator,
            _ENCODER.item_separator,
            _ENCODER.sort_keys,
            _ENCODER.skipkeys,
            _ENCODER.allow_nan,
        ),
    )


_UNCHECKED = _unchecked_encoder()


scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The scanner ``json.loads`` runs on a text: ``scan_json(text, 0)`` is ``(json.loads(text),
len(text))`` for a text with no whitespace around the value (what ``dump_json`` writes)."""


def dump_json(value: Any, path: str) -> str:
    """Encode a JSON-shaped value; anything else (NaN, sets, objects) is ``InvalidInput``."""
    try:
        if _UNCHECKED is not None:
            try:
                return "".join(_UNCHECKED(value, 0))
            except RecursionError:
                pass  # a cycle (ValueError below) or a value too deep (RecursionError)
        return _ENCODER.encode(value)
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
    """How one database stores the column kinds that differ between databases.

    ``load_json`` of JSON text returns what ``json.loads`` returns (so a dict it makes
    has str keys); of anything else, what the driver made of a JSON column.
    """

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


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_KEY_SCALARS = frozenset({str, int, float})
"""The (hashable) classes of column values looked up among an enum's values."""


def _plain_json(value: Any) -> bool:
    """Whether ``value`` is made only of exact ``dict`` (``str`` keys), ``list``, ``tuple``,
    ``str``, ``int``, ``float``, ``bool`` and ``None``.

    The converter's unstructuring of such a value (to a ``Mapping[str, Any]`` or as
    ``Any``) is an equal copy with tuples as lists, which ``json`` writes as the same text:
    ``dump_json`` of the value itself is ``dump_json`` of the unstructured copy.
    """
    try:
        return _plain(value)
    except RecursionError:
        return False


def _plain(value: Any) -> bool:
    # loops, not all(...) over generators: this runs for every stored attributes dict
    cls = value.__class__
    if cls is dict:
        for key, item in value.items():
            if key.__class__ is not str:
                return False
            if item.__class__ not in _JSON_SCALARS and not _plain(item):
                return False
        return True
    if cls is list or cls is tuple:
        for item in value:  # noqa: SIM110
            if item.__class__ not in _JSON_SCALARS and not _plain(item):
                return False
        return True
    return cls in _JSON_SCALARS


def _optional_of(annotation: Any) -> Any:
    """``X`` for ``X | None`` (or ``Optional[X]``), else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if len(args) == 2 and type(None) in args:
            return args[0] if args[1] is type(None) else args[1]
    return None


_STRING_MAPPINGS = (Mapping, dict)
_FAST_MAPPING_VALUES = (Any, str, int, bool)
"""Value types of a ``Mapping[str, V]`` whose structure hook is the identity on values of
exactly that class (``Any``: on every value). ``float`` is not: it turns ints to floats."""


def _string_mapping_values(annotation: Any) -> Any:
    """``V`` of a ``Mapping[str, V]`` or ``dict[str, V]`` with ``V`` in
    ``_FAST_MAPPING_VALUES``, else None.

    The converter structures such a mapping into a new ``dict`` holding the same keys
    (each must be exactly ``str``) and values (each exactly ``V`` unless ``V`` is ``Any``),
    in the same order, and unstructures it into an equal ``dict``.
    """
    if typing.get_origin(annotation) not in _STRING_MAPPINGS:
        return None
    args = typing.get_args(annotation)
    if len(args) != 2 or args[0] is not str or args[1] not in _FAST_MAPPING_VALUES:
        return None
    return args[1]


Loader = Callable[[Any], Any]


def _field_loader(kind: Kind, annotation: Any, dialect: Dialect) -> Loader:
    """What ``Codec.load`` makes of one column value: the dialect's decoding, then what the
    converter's structure hook for ``annotation`` returns, computed directly where that is
    known and by the hook itself otherwise (``fallback``), so the result is always the
    hook's."""
    hook = converter.get_structure_hook(annotation)

    def fallback(value: Any) -> Any:
        return hook(value, annotation)

    inner = _optional_of(annotation)
    nullable = inner is not None
    base = inner if nullable else annotation
    if kind is Kind.UUID:
        return _uuid_loader(fallback, nullable)
    if kind is Kind.TIME:
        return _time_loader(dialect.load_time, fallback, nullable)
    if kind is Kind.BOOL:
        return _bool_loader(dialect.load_bool, fallback, nullable)
    if kind is Kind.PLAIN:
        if issubclass(base, enum.Enum):
            return _enum_loader(base, fallback, nullable)
        return _scalar_loader(base, fallback, nullable)
    values = _string_mapping_values(base)
    if values is not None:
        return _mapping_loader(dialect.load_json, values, fallback, nullable)
    return _json_loader(dialect.load_json, fallback, nullable)


# Each loader handles the common case inline and hands anything else (None included,
# when the field is not optional) to ``fallback``: the converter's own hook.


def _uuid_loader(fallback: Loader, nullable: bool) -> Loader:
    # The last text and its UUID: tenant, connector and run ids repeat row after row.
    # One tuple, replaced whole, so concurrent loads never see a torn pair.
    last: tuple[Any, Any] = (None, None)

    def load(value: Any) -> Any:
        nonlocal last
        cls = value.__class__
        if cls is str:
            memo = last
            if value == memo[0]:
                return memo[1]
            result = UUID(value)
            last = (value, result)
            return result
        if cls is UUID:  # psycopg's
            return value
        if value is None and nullable:
            return None
        return fallback(value)

    return load


def _time_loader(load_time: Callable[[Any], datetime], fallback: Loader, nullable: bool) -> Loader:
    # The converter's datetime hook is ``value.astimezone(UTC)`` (after checks), which is
    # ``value`` itself for a datetime in UTC: dialects return those.
    last: tuple[Any, Any] = (None, None)

    def load(value: Any) -> Any:
        nonlocal last
        if value.__class__ is int:  # SQLite's microseconds; the same instant row after row
            memo = last
            if value == memo[0]:
                return memo[1]
            result = load_time(value)
            if result.__class__ is not datetime or result.tzinfo is not UTC:
                return fallback(result)
            last = (value, result)
            return result
        if value is None:
            return None if nullable else fallback(None)
        result = load_time(value)
        if result.__class__ is datetime and result.tzinfo is UTC:
            return result
        return fallback(result)

    return load


def _bool_loader(load_bool: Callable[[Any], bool], fallback: Loader, nullable: bool) -> Loader:
    def load(value: Any) -> Any:
        if value is None:
            return None if nullable else fallback(None)
        result = load_bool(value)
        return result if result.__class__ is bool else fallback(result)

    return load


def _scalar_loader(cls: type, fallback: Loader, nullable: bool) -> Loader:
    # str, int and float hooks return a value of exactly their class as it is
    def load(value: Any) -> Any:
        if value.__class__ is cls:
            return value
        if value is None and nullable:
            return None
        return fallback(value)

    return load


def _enum_loader(cls: type[enum.Enum], fallback: Loader, nullable: bool) -> Loader:
    # ``cls(value)`` (the enum hook) looks ``value`` up in this map before anything else
    members = cls._value2member_map_

    def load(value: Any) -> Any:
        if value.__class__ in _KEY_SCALARS:
            member = members.get(value)
            if member is not None:
                return member
        if value is None and nullable:
            return None
        return fallback(value)

    return load


def _json_loader(load_json: Loader, fallback: Loader, nullable: bool) -> Loader:
    def load(value: Any) -> Any:
        if value is None:
            return None if nullable else fallback(None)
        return fallback(load_json(value))

    return load


def _mapping_loader(load_json: Loader, values: Any, fallback: Loader, nullable: bool) -> Loader:
    # The hook builds a new dict of the same items after checking that each key is
    # exactly str (and each value exactly ``values``). A dict the dialect decoded from
    # JSON text (SQLite's) is new and its keys are str: it needs no copy and no key
    # check. A dict that was in the row already (psycopg's) is checked and copied.
    def load(value: Any) -> Any:
        if value is None:
            return None if nullable else fallback(None)
        data = load_json(value)
        if data.__class__ is dict and (values is Any or _all_of(values, data.values())):
            if data is not value:
                return data
            if _all_of(str, data):
                return dict(data)
        return fallback(data)

    return load


def _all_of(cls: type, items: Iterable[Any]) -> bool:
    """Whether every item is exactly a ``cls``."""
    return all(item.__class__ is cls for item in items)


Dumper = Callable[[Any], Any]


def _field_dumper(name: str, kind: Kind, annotation: Any, dialect: Dialect) -> Dumper:
    """What ``Codec.params`` makes of one attribute value (None stays None)."""
    if kind is Kind.UUID:
        return _memo_dumper(dialect.dump_uuid)
    if kind is Kind.TIME:
        return _memo_dumper(dialect.dump_time)
    if kind is Kind.BOOL:
        return _bool_dumper
    if kind is Kind.PLAIN:
        base = _optional_of(annotation) or annotation
        if issubclass(base, enum.Enum) and _plain_value(base):
            return _enum_dumper(base)
        return _plain_dumper
    unstructure = converter.get_unstructure_hook(annotation)
    fast = _string_mapping_values(_optional_of(annotation) or annotation) is not None

    def dump(value: Any) -> Any:
        if value is None:
            return None
        if fast and value.__class__ is dict and _plain_json(value):
            return dump_json(value, name)
        return dump_json(unstructure(value), name)

    return dump


def _memo_dumper(dump: Callable[[Any], Any]) -> Dumper:
    # The last object and its column value: the same UUID and datetime objects (a
    # connector's id, a batch's "now") are stored row after row. Keyed by identity; the
    # memo holds the object, so its id cannot be reused.
    last: tuple[Any, Any] = (None, None)

    def dumper(value: Any) -> Any:
        nonlocal last
        memo = last
        if value is memo[0]:
            return memo[1]
        if value is None:
            return None
        result = dump(value)
        last = (value, result)
        return result

    return dumper


def _bool_dumper(value: Any) -> Any:
    return None if value is None else bool(value)


def _plain_dumper(value: Any) -> Any:
    if value.__class__ in _JSON_SCALARS:
        return value
    return value.value if isinstance(value, enum.Enum) else value


def _plain_value(cls: type[enum.Enum]) -> bool:
    """Whether ``member.value`` of ``cls`` is ``Enum.value``: ``member._value_``."""
    return inspect.getattr_static(cls, "value") is inspect.getattr_static(enum.Enum, "value")


def _enum_dumper(cls: type[enum.Enum]) -> Dumper:
    # ``.value`` is a Python-level property returning ``_value_``
    def dump(value: Any) -> Any:
        if value.__class__ is cls:
            return value._value_
        return _plain_dumper(value)

    return dump


class Codec(Generic[T]):
    """Turns objects of one attrs class into column values and rows back into objects.

    ``load`` gives what structuring the row's decoded values with *the* converter gives,
    and ``params`` what the converter's unstructuring gives, but both are compiled once
    per class: one loader and one dumper per field (``_field_loader``, ``_field_dumper``)
    that handle the values stores return and hand anything else to the converter's hook
    for the field; then ``cls(*values)`` (attrs validators run) instead of the
    converter's generated function. A codec is shared by a store's threads: the only
    state, each field's last value and result, is one tuple replaced whole.
    """

    def __init__(self, cls: type[T], dialect: Dialect) -> None:
        self.cls = cls
        self.dialect = dialect
        hints = typing.get_type_hints(cls)
        fields = attrs.fields(cast(Any, cls))
        self.kinds: dict[str, Kind] = {f.name: _kind_of(hints[f.name]) for f in fields}
        self._names = tuple(self.kinds)
        self._get = operator.attrgetter(*self._names) if len(self._names) > 1 else None
        self._dumpers = tuple(
            _field_dumper(name, kind, hints[name], dialect) for name, kind in self.kinds.items()
        )
        self._loaders = tuple(
            (name, _field_loader(kind, hints[name], dialect)) for name, kind in self.kinds.items()
        )
        if not all(f.init for f in fields):
            raise TypeError(f"{cls.__name__} has a field that __init__ does not take")
        self._positional = all(not f.kw_only and f.alias == f.name for f in fields)
        self._aliases = tuple(f.alias for f in fields)

    def params(self, obj: T) -> dict[str, Any]:
        """Column values for ``obj``, keyed by attribute name."""
        values = self._get(obj) if self._get is not None else (getattr(obj, self._names[0]),)
        return {
            name: dump(value)
            for name, dump, value in zip(self._names, self._dumpers, values, strict=True)
        }

    def load(self, row: Mapping[str, Any]) -> T:
        """The object a row (a mapping of column name to value) stores."""
        values = [load(row[name]) for name, load in self._loaders]
        if self._positional:
            return self.cls(*values)
        return self.cls(**dict(zip(self._aliases, values, strict=True)))


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
