"""The ``sql`` connector type: one table or view in PostgreSQL or SQLite (SPEC §5).

Config (every key of SPEC §5, nothing else): ``url`` (``postgresql://user@host:port/db``,
or ``sqlite:///relative.db`` resolved inside the files root), ``password`` (secret),
``table`` (``schema.table`` on PostgreSQL, split at the first dot; a view is fine),
``uid_column``,
``name_column`` (default: the uid column), ``change_column``, ``tombstone_column``,
``enabled_column`` and ``timeout_seconds``.

How it behaves:

* **Schema** comes from the catalog (``pg_attribute``/``pg_index`` on PostgreSQL,
  ``pragma_table_xinfo`` on SQLite). The object class is named after the ``table``
  config value; its uid attribute is ``uid_column`` (which must be the primary key when
  the table has one) and its name attribute ``name_column``. Types map to SPEC §2:
  text-like, ``uuid``, ``json``/``jsonb``, enums and unknown types are strings; integer
  types and ``numeric(p, 0)`` are integers; ``numeric`` with a fractional scale (or none)
  and floating point columns are **strings**, so no precision is lost or invented;
  ``boolean`` is boolean; ``timestamp``/``timestamptz``/``date`` are datetimes (values as
  ISO 8601 UTC with ``Z``; dates as ``YYYY-MM-DD``; naive timestamps are taken as UTC);
  ``bytea``/``BLOB`` is binary (base64 strings); PostgreSQL arrays are multivalued
  attributes of their element type. SQLite uses declared-type affinity, refined by
  ``BOOL`` (boolean) and ``DATE``/``TIME`` (datetime); ``NUMERIC``/``DECIMAL``/``REAL``
  are strings. A ``NOT NULL`` column without default is required; identity, serial
  (``nextval`` default) and generated columns are neither creatable nor updateable; an
  SQLite ``INTEGER PRIMARY KEY`` (rowid alias) is not required. Views: PostgreSQL asks
  ``pg_column_is_updatable``; SQLite views are read-only.
* **Search** is keyset-paged on the uid column (``WHERE uid > last ORDER BY uid LIMIT
  n``), one query per page, so it streams; tombstoned rows are left out.
* **Writes** validate every attribute name against the discovered columns before any SQL
  is built; identifiers are quoted with ``psycopg.sql.Identifier`` (PostgreSQL) or
  double-quoted with embedded quotes doubled (SQLite); every value is a bound parameter.
  ``delete`` sets the tombstone instead of deleting when ``tombstone_column`` is set
  (boolean → true, integer → 1, timestamp → now), and ``create`` of a uid held by a
  tombstoned row revives that row with the given attributes (its other columns keep
  their last values). Writes by the connector bump ``change_column`` unless the caller
  sets it (timestamp → the database's current time; integer → ``DEFAULT`` for a
  sequence-backed column on PostgreSQL, else ``MAX + 1``).
* **Changes** (only with ``change_column``) are the rows with ``(change, uid)`` greater
  than the token, in that order; a tombstoned row is a ``DELETE``. The token is the JSON
  array ``[change_value, uid]`` of the last row seen, so rows sharing one timestamp are
  neither skipped nor repeated; a bare value (``"2024-05-01T00:00:00Z"`` or ``"41"``) is
  accepted as "after this value". Limitation: a row committed *later* with an *older*
  change value than one already read is missed (a long transaction writing ``now()``);
  a sequence assigned at commit time, or an overlap window, avoids it. Rows whose change
  value is NULL never appear.

Errors: connection refused, timeouts, ``database is locked`` and other operational
failures are ``TargetUnavailable``; missing tables or columns, constraint violations
(other than a duplicate uid on create, which is ``AccountExists``) and bad values are
``TargetRejected``. No message ever contains the password or a URL holding it. Drivers
are imported lazily (``psycopg`` only for PostgreSQL; ``sqlite3`` from the stdlib).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from itertools import repeat
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from attrs import frozen

from xavyo_connectors_core.config import resolve_in_root
from xavyo_connectors_core.errors import (
    AccountExists,
    AccountNotFound,
    FieldError,
    InvalidInput,
    TargetRejected,
)
from xavyo_connectors_core.model import (
    Attribute,
    AttributeDelta,
    AttributeType,
    Capability,
    DeltaOp,
    ObjectClass,
    Schema,
)
from xavyo_connectors_core.spi import (
    TIMEOUT_FIELD,
    Change,
    ChangeKind,
    ConfigField,
    ConnectorObject,
    OpenContext,
)

if TYPE_CHECKING:
    from xavyo_connectors_core.spi import ConnectorType, IncrementalConnection

__all__ = ["CONFIG_SPEC", "TYPE", "SqlConnection", "SqlType"]

CONFIG_SPEC: tuple[ConfigField, ...] = (
    ConfigField(
        "url",
        required=True,
        description=(
            "postgresql://user@host:port/db, or sqlite:///relative.db (inside the files "
            "root). Put the password in the `password` secret, never in the URL."
        ),
    ),
    ConfigField("password", secret=True, description="Database password (PostgreSQL)."),
    ConfigField("table", required=True, description="Table or view; `schema.table` on PostgreSQL."),
    ConfigField("uid_column", required=True, description="The stable unique id (the primary key)."),
    ConfigField("name_column", description="The human name; default: the uid column."),
    ConfigField(
        "change_column",
        description="A monotonic timestamp or sequence column; enables incremental sync.",
    ),
    ConfigField(
        "tombstone_column",
        description="A boolean, integer flag or nullable timestamp marking soft-deleted rows.",
    ),
    ConfigField("enabled_column", description="A column holding whether the account is enabled."),
    TIMEOUT_FIELD,
)

ALL_CAPABILITIES = frozenset(Capability)
CHANGES_PAGE_SIZE = 500

Fragment: TypeAlias = Any
"""A piece of SQL: a ``psycopg.sql.Composable`` on PostgreSQL, a ``str`` on SQLite."""


class DuplicateKey(TargetRejected):
    """A unique constraint refused a write (the caller decides whether it was the uid)."""


# --------------------------------------------------------------------------- catalog


@frozen
class Column:
    """One column as the catalog describes it, with the attribute it becomes."""

    attribute: Attribute
    db_type: str = ""
    """The catalog type name (of the element for arrays), lower case."""
    json: bool = False
    has_default: bool = False
    generated: bool = False
    """Computed by the database; it can never be written."""
    sequence: bool = False
    """Identity or ``nextval`` default: ``DEFAULT`` yields a fresh value."""

    @property
    def name(self) -> str:
        return self.attribute.name

    @property
    def kind(self) -> AttributeType:
        return self.attribute.type


@frozen
class TableInfo:
    """What the catalog says about the configured table or view."""

    kind: str
    """``table`` or ``view``."""
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()


class Dialect(Protocol):
    """What differs between PostgreSQL and SQLite: quoting, catalog, driver, errors.

    Query templates use ``{name}`` fields only; every field is a fragment made by the
    dialect (an identifier, a placeholder, or constant SQL text from this module), and
    every value travels as a bound parameter.
    """

    label: str

    def ping(self) -> None: ...

    def describe(self) -> TableInfo:
        """Read the table's columns from the catalog; raise ``TargetRejected`` if absent."""
        ...

    def compose(self, template: str, **parts: Fragment) -> Fragment: ...

    def ident(self, name: str) -> Fragment: ...

    def table(self) -> Fragment: ...

    def join(self, parts: Iterable[Fragment], sep: str = ", ") -> Fragment: ...

    def param(self) -> Fragment: ...

    def raw(self, text: str) -> Fragment:
        """Constant SQL text written in this package; never data."""
        ...

    def fetch(self, query: Fragment, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; translate driver errors (``DuplicateKey`` for uniqueness)."""
        ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def adapt(self, value: Any, column: Column) -> Any:
        """Turn a coerced value into what the driver binds for ``column``."""
        ...

    def now(self) -> Fragment:
        """SQL for the current time, as the column's type wants it."""
        ...

    def lock_clause(self) -> Fragment:
        """What locks a selected row for update inside a transaction (may be empty)."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- config


@frozen
class _Settings:
    table: str
    uid_column: str
    name_column: str
    change_column: str | None
    tombstone_column: str | None
    enabled_column: str | None
    timeout: float


@frozen
class _PostgresTarget:
    url: str
    password: str | None
    where: str
    """``host:port/db``, safe to show."""


@frozen
class _SqliteTarget:
    path: Path
    where: str


def _invalid(key: str, message: str) -> InvalidInput:
    return InvalidInput([FieldError(f"config.{key}", message)])


def _text(config: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = config.get(key)
    if value is None:
        if required:
            raise _invalid(key, "is required")
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(key, "must be a non-empty string")
    if "\x00" in value:
        raise _invalid(key, "must not contain NUL characters")
    return value


def _timeout(config: Mapping[str, Any]) -> float:
    value = config.get("timeout_seconds", TIMEOUT_FIELD.default)
    if value is None:
        value = TIMEOUT_FIELD.default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid("timeout_seconds", "must be a number")
    if not math.isfinite(value) or value <= 0:
        raise _invalid("timeout_seconds", "must be a positive number")
    return float(value)


def _settings(config: Mapping[str, Any]) -> _Settings:
    table = _text(config, "table", required=True)
    uid = _text(config, "uid_column", required=True)
    assert table is not None and uid is not None
    return _Settings(
        table=table,
        uid_column=uid,
        name_column=_text(config, "name_column") or uid,
        change_column=_text(config, "change_column"),
        tombstone_column=_text(config, "tombstone_column"),
        enabled_column=_text(config, "enabled_column"),
        timeout=_timeout(config),
    )


def _sqlite_path(url: str) -> str:
    """The relative file path of a ``sqlite:///relative.db`` URL (not yet resolved)."""
    rest = url.partition("://")[2]
    if not rest.startswith("/"):
        raise _invalid("url", "use sqlite:///relative/path.db (no host)")
    relative = unquote(rest[1:])
    if not relative or "?" in relative or "#" in relative:
        raise _invalid("url", "use sqlite:///relative/path.db (a file name, no query)")
    if relative.startswith("/"):
        raise _invalid("url", "must be a path relative to the files root, not an absolute path")
    if ".." in PurePosixPath(relative).parts:
        raise _invalid("url", "must not contain '..'")
    return relative


def _postgres_where(url: str) -> str:
    """``host:port/db`` of a ``postgresql://`` URL, which must not hold a password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _invalid("url", "is not a valid postgresql:// URL") from None
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise _invalid("url", "must not contain a password; put it in the `password` secret")
    return f"{parts.hostname or 'localhost'}:{port or 5432}/{parts.path.lstrip('/') or '-'}"


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    if sep and scheme.lower() == "sqlite":
        return "sqlite"
    if sep and scheme.lower() in ("postgresql", "postgres"):
        return "postgresql"
    raise _invalid("url", "must start with postgresql:// or sqlite:///")


def _target(
    config: Mapping[str, Any], secrets: Mapping[str, str], files_root: Path
) -> _PostgresTarget | _SqliteTarget:
    url = _text(config, "url", required=True)
    assert url is not None
    if _scheme(url) == "sqlite":
        relative = _sqlite_path(url)
        path = resolve_in_root(files_root, relative, field_path="config.url")
        return _SqliteTarget(path=path, where=relative)
    where = _postgres_where(url)
    return _PostgresTarget(url=url, password=secrets.get("password") or None, where=where)


# --------------------------------------------------------------------------- values


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC; a time that UTC cannot hold (0001-01-01T00:00+01:00) keeps its offset
    rather than failing the read of a whole table on one cell."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    try:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return value.isoformat()


def _datetime_out(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:  # seconds since the epoch
            return _iso(datetime.fromtimestamp(value, UTC))
        except (ValueError, OverflowError, OSError):
            return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text).isoformat()
            return _iso(datetime.fromisoformat(text))
        except ValueError:
            return value
    return _scalar_out(value, AttributeType.STRING, json_column=False)


_TRUE = frozenset({"true", "t", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "f", "0", "no", "n", "off"})


def _scalar_out(value: Any, kind: AttributeType, *, json_column: bool) -> Any:
    if value is None:
        return None
    if kind is AttributeType.DATETIME:
        return _datetime_out(value)
    if kind is AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float | Decimal):
            return value != 0
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
    if isinstance(value, bool):
        return value if kind is not AttributeType.STRING else ("true" if value else "false")
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if kind is AttributeType.INTEGER and value.is_finite() and value == value.to_integral():
            return int(value)
        return str(value)
    if isinstance(value, int):
        return value if kind is AttributeType.INTEGER else str(value)
    if isinstance(value, float):
        if kind is AttributeType.INTEGER and value.is_integer():
            return int(value)
        return value if kind is AttributeType.INTEGER else repr(value)
    if isinstance(value, dict | list) or json_column:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, str):
        return value
    return str(value)


def to_json_value(value: Any, column: Column) -> Any:
    """A database value as a JSON-friendly Python value of the column's attribute type."""
    if value is None:
        return None
    if column.attribute.multivalued and isinstance(value, list | tuple):
        return [_scalar_out(v, column.kind, json_column=column.json) for v in value]
    return _scalar_out(value, column.kind, json_column=column.json)


_Converter: TypeAlias = Callable[[Any], Any]
_NONE_TYPE = type(None)
_STR_ONLY = frozenset({str})


def _passthrough_type(column: Column) -> type | None:
    """The driver type whose values ``to_json_value`` returns unchanged for ``column``."""
    if column.attribute.multivalued:
        return None
    if column.kind is AttributeType.STRING:
        return None if column.json else str
    if column.kind is AttributeType.INTEGER:
        return int
    if column.kind is AttributeType.BOOLEAN:
        return bool
    return None


def _converter(column: Column) -> _Converter:
    """``to_json_value(value, column)`` for a non-None ``value``, without the dispatch."""
    if column.attribute.multivalued:
        return partial(to_json_value, column=column)
    if column.kind is AttributeType.DATETIME:
        return _datetime_out
    return partial(_scalar_out, kind=column.kind, json_column=column.json)


class _RowReader:
    """Turns fetched rows into ``ConnectorObject``s, exactly as ``to_json_value`` would.

    Made once per described table: every column gets the type its values pass through
    unchanged as (``str`` for text, ``int`` for integers, ``bool`` for booleans; none
    for JSON, dates, blobs, arrays) and a converter for every other value. A page is
    converted column by column: a column whose values all have the pass-through type
    (or are NULL) is not touched at all, so reading text and integer columns costs no
    Python code per cell.
    """

    __slots__ = ("_converters", "_name_pos", "_names", "_plans", "_uid_pos", "_width")

    def __init__(self, columns: Sequence[Column], uid_name: str, name_name: str) -> None:
        self._names = tuple(c.name for c in columns)
        self._width = len(columns)
        # the attribute dict keeps the last of equal names: read uid and name from there
        self._uid_pos = max(i for i, n in enumerate(self._names) if n == uid_name)
        self._name_pos = max(i for i, n in enumerate(self._names) if n == name_name)
        self._converters = tuple((_passthrough_type(c), _converter(c)) for c in columns)
        self._plans = tuple(
            (index, None if keep is None else frozenset({keep, _NONE_TYPE}), keep, convert)
            for index, (keep, convert) in enumerate(self._converters)
        )

    def one(self, row: Sequence[Any]) -> ConnectorObject:
        """The object of one row."""
        values = [
            v if v is None or type(v) is keep else convert(v)
            for (keep, convert), v in zip(self._converters, row, strict=True)
        ]
        uid = str(values[self._uid_pos])
        name = values[self._name_pos]
        return ConnectorObject(
            uid, uid if name is None else str(name), dict(zip(self._names, values, strict=True))
        )

    def page(self, rows: Sequence[Sequence[Any]]) -> Iterator[ConnectorObject]:
        """The objects of a page of rows, in order: ``one`` of each, faster.

        The values are converted for the whole page at once; the objects are made as
        they are consumed, so they die young (cheap for the garbage collector).
        """
        if not rows:
            return iter(())
        if set(map(len, rows)) != {self._width}:
            return map(self.one, rows)  # never from our own SELECT
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        changed = False
        names: Sequence[str]
        try:
            for index, allowed, keep, convert in self._plans:
                values = columns[index]
                if allowed is not None and allowed.issuperset(map(type, values)):
                    continue
                columns[index] = [v if v is None or type(v) is keep else convert(v) for v in values]
                changed = True
            uids = list(map(str, columns[self._uid_pos]))
            if self._name_pos == self._uid_pos:
                names = uids  # str(value) when not NULL; else the uid, which is str(None)
            else:
                given = columns[self._name_pos]
                if _STR_ONLY.issuperset(map(type, given)):
                    names = given
                else:
                    names = [u if n is None else str(n) for u, n in zip(uids, given, strict=True)]
        except Exception:
            # a value that does not convert (a DATETIME text out of range): convert row by
            # row instead, so the rows before it are still read before the error is raised
            return map(self.one, rows)
        converted = zip(*columns, strict=True) if changed else rows
        attributes = map(dict, map(zip, repeat(self._names), converted))
        return map(ConnectorObject, uids, names, attributes)


def _reject_value(column: Column, expected: str) -> TargetRejected:
    return TargetRejected(f"attribute {column.name!r} expects {expected}")


def _coerce_scalar(value: Any, column: Column) -> Any:
    if value is None:
        return None
    kind = column.kind
    if kind is AttributeType.INTEGER:
        if isinstance(value, int):
            return int(value)
        try:
            if isinstance(value, float | Decimal) and value == int(value):
                return int(value)
            if isinstance(value, str):
                return int(value.strip())
        except (ValueError, OverflowError):
            pass
        raise _reject_value(column, "an integer")
    if kind is AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _reject_value(column, "a boolean")
    if kind is AttributeType.DATETIME:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            text = value.strip()
            try:
                if len(text) == 10:
                    date.fromisoformat(text)
                else:
                    datetime.fromisoformat(text)
            except ValueError:
                raise _reject_value(column, "an ISO 8601 date or timestamp") from None
            return text
        raise _reject_value(column, "an ISO 8601 date or timestamp")
    if kind is AttributeType.BINARY:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise _reject_value(column, "base64 data") from None
        raise _reject_value(column, "base64 data")
    # strings (and every type we show as a string)
    if column.json:
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal | UUID):
        return str(value)
    if isinstance(value, datetime):
        return _iso(value)
    raise _reject_value(column, "a string")


def to_db_value(value: Any, column: Column) -> Any:
    """Check and convert an attribute value (as JSON gives it) for ``column``.

    Raises:
        TargetRejected: the value does not fit the column's type.
    """
    if value is None:
        return None
    if column.attribute.multivalued:
        items = list(value) if isinstance(value, list | tuple) else [value]
        return [_coerce_scalar(v, column) for v in items]
    if isinstance(value, list | tuple) and not column.json:
        raise TargetRejected(f"attribute {column.name!r} is single-valued")
    return _coerce_scalar(value, column)


def _token_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def encode_token(change_value: Any, uid_value: Any) -> str:
    """The sync token of a row: ``[change_value, uid]`` as compact JSON."""
    return json.dumps([_token_value(change_value), _token_value(uid_value)], separators=(",", ":"))


def decode_token(token: str) -> tuple[Any, Any] | tuple[Any]:
    """``(change_value, uid)`` from a token of ``encode_token``, or ``(value,)`` for a bare one.

    Raises:
        TargetRejected: the token is empty or malformed.
    """
    if not token.strip():
        raise TargetRejected("the sync token is empty")
    try:
        decoded = json.loads(token)
    except ValueError:
        return (token,)
    if isinstance(decoded, list):
        if len(decoded) == 2 and all(_token_scalar(v) for v in decoded):
            return (decoded[0], decoded[1])
        raise TargetRejected("the sync token is not a [change_value, uid] pair")
    if not _token_scalar(decoded):
        raise TargetRejected("the sync token is not a change value")
    return (decoded,)


def _token_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------- the type


class SqlType:
    """The ``sql`` connector type (SPEC §5): a table or view in PostgreSQL or SQLite."""

    key: str = "sql"
    description: str = "A table or view in PostgreSQL (psycopg) or SQLite."
    config_spec: tuple[ConfigField, ...] = CONFIG_SPEC
    capabilities: frozenset[Capability] = ALL_CAPABILITIES
    """Everything the type can do; ``capabilities_for`` tells what one config enables."""

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        """The object class of the accounts: the configured table name."""
        return str(config["table"])

    def can_disable(self, config: Mapping[str, Any]) -> bool:
        """Accounts can be disabled only through an ``enabled_column``."""
        return bool(config.get("enabled_column"))

    def enabled_attribute(self, config: Mapping[str, Any]) -> str | None:
        """The attribute that tells whether an account is enabled, if any."""
        value = config.get("enabled_column")
        return str(value) if value else None

    def check_config(self, config: Mapping[str, Any]) -> list[FieldError]:
        """Check what the field spec cannot say: the URL's form, names, the timeout.

        The SQLite path is checked for shape here (relative, no ``..``); it is resolved
        inside the files root, symlinks followed, when the config is validated
        (``config_files``) and again when the connection is opened.
        """
        errors: list[FieldError] = []
        checks: list[Callable[[], object]] = [lambda: _settings(config)]
        url = config.get("url")
        if isinstance(url, str) and url:
            checks.append(
                lambda: _sqlite_path(url) if _scheme(url) == "sqlite" else _postgres_where(url)
            )
        for check in checks:
            try:
                check()
            except InvalidInput as exc:
                errors.extend(exc.errors)
        return errors

    def config_files(self, config: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The SQLite database file a ``sqlite:///relative.db`` URL names (``FileNamer``)."""
        url = config.get("url")
        try:
            if isinstance(url, str) and url and _scheme(url) == "sqlite":
                return [("config.url", _sqlite_path(url))]
        except InvalidInput:
            pass  # check_config reports it
        return []

    def capabilities_for(self, config: Mapping[str, Any]) -> frozenset[Capability]:
        """The capabilities effective for ``config``.

        ``changes`` needs ``change_column`` and ``disable`` needs ``enabled_column``.
        """
        effective = set(ALL_CAPABILITIES)
        if not config.get("change_column"):
            effective.discard(Capability.CHANGES)
        if not config.get("enabled_column"):
            effective.discard(Capability.DISABLE)
        return frozenset(effective)

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> SqlConnection:
        """Check ``config`` and return an unopened connection (it connects on first use).

        Raises:
            InvalidInput: a config value is malformed, the URL holds a password, or the
                SQLite path escapes the files root.
        """
        unknown = sorted(set(config) - {f.name for f in CONFIG_SPEC if not f.secret})
        if unknown:
            raise InvalidInput([FieldError(f"config.{k}", "unknown key") for k in unknown])
        settings = _settings(config)
        target = _target(config, secrets, context.files_root)
        return SqlConnection(settings, target)


TYPE = SqlType()
"""The built-in ``sql`` type, as the registry loads it (``...types.sql:TYPE``)."""


class SqlConnection(AbstractContextManager["SqlConnection"]):
    """An open connection to one table; one database connection, opened on first use.

    Not thread-safe: use one per thread. Leave the ``with`` block to close it.
    """

    def __init__(self, settings: _Settings, target: _PostgresTarget | _SqliteTarget) -> None:
        self._settings = settings
        self._target = target
        self._dialect: Dialect | None = None
        self._info: TableInfo | None = None
        self._reader: tuple[TableInfo, _RowReader] | None = None

    # ------------------------------------------------------------------ lifecycle

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        if self._dialect is not None:
            dialect, self._dialect = self._dialect, None
            dialect.close()

    @property
    def _db(self) -> Dialect:
        if self._dialect is None:
            self._dialect = self._connect()
        return self._dialect

    def _connect(self) -> Dialect:
        settings, target = self._settings, self._target
        if isinstance(target, _PostgresTarget):
            from xavyo_connectors_core.types._sql_postgres import PostgresDialect

            return PostgresDialect.connect(
                target.url,
                password=target.password,
                where=target.where,
                table=settings.table,
                timeout=settings.timeout,
            )
        from xavyo_connectors_core.types._sql_sqlite import SqliteDialect

        return SqliteDialect.connect(
            target.path, where=target.where, table=settings.table, timeout=settings.timeout
        )

    # ------------------------------------------------------------------ what we know

    @property
    def supports_changes(self) -> bool:
        """Whether ``changes`` works: a ``change_column`` is configured."""
        return self._settings.change_column is not None

    @property
    def supports_disable(self) -> bool:
        """Whether ``set_enabled`` works: an ``enabled_column`` is configured."""
        return self._settings.enabled_column is not None

    @property
    def object_class_name(self) -> str:
        return self._settings.table

    def _table_info(self, *, refresh: bool = False) -> TableInfo:
        if self._info is None or refresh:
            self._info = self._checked(self._db.describe())
        return self._info

    def _checked(self, info: TableInfo) -> TableInfo:
        s = self._settings
        columns = list(info.columns)
        missing = [
            f"{key}={name!r}"
            for key, name in (
                ("uid_column", s.uid_column),
                ("name_column", s.name_column),
                ("change_column", s.change_column),
                ("tombstone_column", s.tombstone_column),
                ("enabled_column", s.enabled_column),
            )
            if name is not None and _find(columns, name) is None
        ]
        if missing:
            raise TargetRejected(f"table {s.table!r} has no column named by " + ", ".join(missing))
        uid = _find(columns, s.uid_column)
        assert uid is not None
        if info.primary_key and tuple(info.primary_key) != (uid.name,):
            raise TargetRejected(
                f"uid_column {s.uid_column!r} must be the primary key of {s.table!r} "
                f"(the primary key is {', '.join(info.primary_key)})"
            )
        if uid.attribute.multivalued or uid.kind is AttributeType.BINARY:
            raise TargetRejected(f"uid_column {s.uid_column!r} must be a scalar column")
        if s.tombstone_column is not None:
            tomb = _find(columns, s.tombstone_column)
            assert tomb is not None
            if tomb.attribute.multivalued or tomb.kind not in (
                AttributeType.BOOLEAN,
                AttributeType.INTEGER,
                AttributeType.DATETIME,
            ):
                raise TargetRejected(
                    "tombstone_column must be a boolean, integer or timestamp column"
                )
        if s.change_column is not None:
            change = _find(columns, s.change_column)
            assert change is not None
            if change.attribute.multivalued or change.kind is AttributeType.BINARY:
                raise TargetRejected("change_column must be a scalar timestamp or number")
        return info

    def _column(self, name: str) -> Column:
        column = _find(self._table_info().columns, name)
        assert column is not None, name
        return column

    def _columns_for(self, names: Iterable[str], *, creating: bool) -> list[Column]:
        info = self._table_info()
        unknown: list[str] = []
        readonly: list[str] = []
        found: list[Column] = []
        for name in names:
            column = _find(info.columns, name)
            if column is None:
                unknown.append(repr(name))
                continue
            flag = column.attribute.creatable if creating else column.attribute.updateable
            if not flag:
                readonly.append(repr(column.name))
            found.append(column)
        if unknown:
            raise TargetRejected(
                f"unknown attribute(s) of {self._settings.table!r}: {', '.join(unknown)}"
            )
        if readonly:
            verb = "creatable" if creating else "updateable"
            raise TargetRejected(f"attribute(s) not {verb}: {', '.join(readonly)}")
        if len({c.name for c in found}) != len(found):
            raise TargetRejected("an attribute is given more than once")
        return found

    def _check_object_class(self, object_class: str) -> None:
        if object_class.casefold() != self._settings.table.casefold():
            raise TargetRejected(
                f"unknown object class {object_class!r}; this connector serves "
                f"{self._settings.table!r}"
            )

    # ------------------------------------------------------------------ SQL pieces

    def _select_list(self) -> Fragment:
        db = self._db
        return db.join(db.ident(c.name) for c in self._table_info().columns)

    def _uid(self) -> Fragment:
        return self._db.ident(self._column(self._settings.uid_column).name)

    def _live(self) -> Fragment | None:
        if self._settings.tombstone_column is None:
            return None
        db = self._db
        tomb = self._column(self._settings.tombstone_column)
        if tomb.kind is AttributeType.BOOLEAN:
            return db.compose("{t} IS NOT TRUE", t=db.ident(tomb.name))
        if tomb.kind is AttributeType.INTEGER:
            return db.compose("({t} IS NULL OR {t} = 0)", t=db.ident(tomb.name))
        return db.compose("{t} IS NULL", t=db.ident(tomb.name))

    def _where(self, conditions: Sequence[Fragment | None]) -> Fragment:
        db = self._db
        present = [c for c in conditions if c is not None]
        if not present:
            return db.raw("")
        return db.compose(" WHERE {c}", c=db.join(present, " AND "))

    def _bump(self, *, creating: bool, given: Iterable[str]) -> tuple[Column, Fragment] | None:
        """SQL that advances the change column, when the caller does not set it."""
        name = self._settings.change_column
        if name is None:
            return None
        column = self._column(name)
        if column.name in set(given) or column.generated:
            return None
        if column.name == self._column(self._settings.uid_column).name:
            return None
        db = self._db
        if creating and (column.has_default or column.sequence):
            return None
        if column.kind is AttributeType.DATETIME:
            return column, db.now()
        if column.kind is AttributeType.INTEGER:
            if column.sequence:
                return column, db.raw("DEFAULT")
            return column, db.compose(
                "(SELECT COALESCE(MAX({c}), 0) + 1 FROM {t})",
                c=db.ident(column.name),
                t=db.table(),
            )
        return None

    def _key(self, uid: str) -> Any:
        """The uid as the uid column's type, or raise ``AccountNotFound``."""
        column = self._column(self._settings.uid_column)
        try:
            if column.kind is AttributeType.INTEGER:
                return int(uid)
            if column.db_type == "uuid":
                return str(UUID(uid))
        except ValueError:
            raise AccountNotFound(f"no account with uid {uid!r}") from None
        return uid

    def _row_reader(self) -> _RowReader:
        """The converter of rows of the current table description (made once per one)."""
        info = self._table_info()
        if self._reader is None or self._reader[0] is not info:
            reader = _RowReader(
                info.columns,
                uid_name=self._column(self._settings.uid_column).name,
                name_name=self._column(self._settings.name_column).name,
            )
            self._reader = (info, reader)
        return self._reader[1]

    def _object(self, row: Sequence[Any]) -> ConnectorObject:
        """A row as an object: attributes by ``to_json_value``, uid and name as text."""
        return self._row_reader().one(row)

    def _index(self, name: str) -> int:
        column = self._column(name)
        return self._table_info().columns.index(column)

    def _tombstoned(self, row: Sequence[Any]) -> bool:
        name = self._settings.tombstone_column
        if name is None:
            return False
        column = self._column(name)
        value = to_json_value(row[self._index(name)], column)
        if column.kind is AttributeType.BOOLEAN:
            return value is True
        if column.kind is AttributeType.INTEGER:
            return value not in (None, 0)
        return value is not None

    # ------------------------------------------------------------------ the SPI

    def test(self) -> str:
        """Connect, then check the table and the configured columns in the catalog.

        Raises:
            TargetUnavailable: the database cannot be reached.
            TargetRejected: the table or a configured column does not exist.
        """
        self._db.ping()
        info = self._table_info(refresh=True)
        return (
            f"ok: {info.kind} {self._settings.table!r} with {len(info.columns)} columns "
            f"on {self._db.label} {self._target.where}"
        )

    def schema(self) -> Schema:
        """Discover the table's one object class from the catalog."""
        info = self._table_info(refresh=True)
        oc = ObjectClass(
            name=self._settings.table,
            uid_attribute=self._column(self._settings.uid_column).name,
            name_attribute=self._column(self._settings.name_column).name,
            attributes=tuple(c.attribute for c in info.columns),
        )
        return Schema(object_classes=(oc,), discovered_at=datetime.now(UTC))

    def _search_plan(self) -> tuple[Fragment, Fragment, int, _RowReader]:
        """The first-page and next-page queries of ``search``, the uid's index, the reader."""
        db = self._db
        uid = self._uid()
        not_null = db.compose("{u} IS NOT NULL", u=uid)
        first, following = (
            db.compose(
                "SELECT {cols} FROM {t}{where} ORDER BY {u} LIMIT {p}",
                cols=self._select_list(),
                t=db.table(),
                where=self._where([not_null, self._live(), keyset]),
                u=uid,
                p=db.param(),
            )
            for keyset in (None, db.compose("{u} > {p}", u=uid, p=db.param()))
        )
        return first, following, self._index(self._settings.uid_column), self._row_reader()

    def search(self, object_class: str, page_size: int) -> Iterator[ConnectorObject]:
        """Stream every live row in uid order, one keyset-paged query per page."""
        self._check_object_class(object_class)
        if page_size < 1:
            raise TargetRejected("page_size must be at least 1")
        db = self._db
        after: tuple[Any] | None = None
        described: TableInfo | None = None
        while True:
            info = self._table_info()
            if info is not described:  # once, unless the table is described again meanwhile
                described = info
                first, following, uid_index, reader = self._search_plan()
            query = first if after is None else following
            rows = db.fetch(query, [*(after or ()), page_size])
            yield from reader.page(rows)
            if len(rows) < page_size:
                return
            after = (rows[-1][uid_index],)

    def _fetch_one(self, key: Any, *, live: bool = True, lock: bool = False) -> tuple[Any, ...]:
        db = self._db
        query = db.compose(
            "SELECT {cols} FROM {t}{where}{lock}",
            cols=self._select_list(),
            t=db.table(),
            where=self._where(
                [
                    db.compose("{u} = {p}", u=self._uid(), p=db.param()),
                    self._live() if live else None,
                ]
            ),
            lock=db.lock_clause() if lock else db.raw(""),
        )
        rows = db.fetch(query, [key])
        if not rows:
            raise AccountNotFound(f"no account with uid {str(key)[:200]!r}")
        return rows[0]

    def get(self, object_class: str, uid: str) -> ConnectorObject:
        """The live row with this uid.

        Raises:
            AccountNotFound: no such row, or it is tombstoned.
        """
        self._check_object_class(object_class)
        return self._object(self._fetch_one(self._key(uid)))

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        """Insert one row and return it as stored (generated uid and defaults included).

        Raises:
            AccountExists: a row with this uid exists (and is not tombstoned).
            TargetRejected: unknown or read-only attribute, bad value, constraint failed.
        """
        self._check_object_class(object_class)
        columns = self._columns_for(attributes, creating=True)
        values = {c.name: to_db_value(attributes[_given_key(attributes, c)], c) for c in columns}
        db = self._db
        names = [db.ident(c.name) for c in columns]
        exprs: list[Fragment] = [db.param() for _ in columns]
        bump = self._bump(creating=True, given=values)
        if bump is not None:
            names.append(db.ident(bump[0].name))
            exprs.append(bump[1])
        if names:
            query = db.compose(
                "INSERT INTO {t} ({names}) VALUES ({exprs}) RETURNING {cols}",
                t=db.table(),
                names=db.join(names),
                exprs=db.join(exprs),
                cols=self._select_list(),
            )
        else:
            query = db.compose(
                "INSERT INTO {t} DEFAULT VALUES RETURNING {cols}",
                t=db.table(),
                cols=self._select_list(),
            )
        params = [db.adapt(values[c.name], c) for c in columns]
        try:
            rows = db.fetch(query, params)
        except DuplicateKey as exc:
            return self._on_duplicate(values, exc)
        if not rows:
            raise TargetRejected(f"{db.label} returned no row for the insert")
        return self._object(rows[0])

    def _on_duplicate(self, values: Mapping[str, Any], exc: DuplicateKey) -> ConnectorObject:
        uid_column = self._column(self._settings.uid_column)
        if uid_column.name not in values or values[uid_column.name] is None:
            raise TargetRejected(exc.detail) from exc
        key = values[uid_column.name]
        try:
            row = self._fetch_one(key, live=False)
        except AccountNotFound:
            raise TargetRejected(exc.detail) from exc
        uid = str(to_json_value(row[self._index(uid_column.name)], uid_column))
        if not self._tombstoned(row):
            raise AccountExists(f"an account with uid {uid!r} exists", uid=uid) from exc
        # revive the soft-deleted row with the given attributes
        tomb = self._column(self._settings.tombstone_column or "")
        sets = {k: v for k, v in values.items() if k != uid_column.name}
        revived = self._write(key, sets, live=False, extra=[(tomb, self._tombstone_clear(tomb))])
        if revived is None:
            raise AccountExists(f"an account with uid {uid!r} exists", uid=uid) from exc
        return revived

    def _tombstone_clear(self, column: Column) -> Fragment:
        return self._db.raw("FALSE" if column.kind is AttributeType.BOOLEAN else "NULL")

    def _write(
        self,
        key: Any,
        sets: Mapping[str, Any],
        *,
        live: bool = True,
        extra: Sequence[tuple[Column, Fragment]] = (),
    ) -> ConnectorObject | None:
        """``UPDATE ... SET`` the coerced ``sets`` (+ ``extra`` SQL) of one row; None if absent."""
        db = self._db
        assignments: list[Fragment] = []
        params: list[Any] = []
        for name, value in sets.items():
            column = self._column(name)
            assignments.append(db.compose("{c} = {p}", c=db.ident(column.name), p=db.param()))
            params.append(db.adapt(value, column))
        given = [*sets, *(c.name for c, _ in extra)]
        bump = self._bump(creating=False, given=given) if given else None
        for column, expr in [*extra, *([bump] if bump else [])]:
            assignments.append(db.compose("{c} = {e}", c=db.ident(column.name), e=expr))
        if not assignments:
            rows = [self._fetch_one(key, live=live)]
        else:
            query = db.compose(
                "UPDATE {t} SET {sets}{where} RETURNING {cols}",
                t=db.table(),
                sets=db.join(assignments),
                where=self._where(
                    [
                        db.compose("{u} = {p}", u=self._uid(), p=db.param()),
                        self._live() if live else None,
                    ]
                ),
                cols=self._select_list(),
            )
            rows = db.fetch(query, [*params, key])
        return self._object(rows[0]) if rows else None

    def update(
        self, object_class: str, uid: str, deltas: Sequence[AttributeDelta]
    ) -> ConnectorObject:
        """Apply attribute deltas to one live row and return it as stored.

        ``replace`` sets a column (no value: NULL); ``add``/``remove`` change the values of
        an array column (PostgreSQL), read and written in one transaction.

        Raises:
            AccountNotFound: no such live row.
            TargetRejected: unknown or read-only attribute, bad value, constraint failed.
        """
        self._check_object_class(object_class)
        key = self._key(uid)
        columns = {
            c.name: c
            for c in self._columns_for(dict.fromkeys(d.attribute for d in deltas), creating=False)
        }
        by_name = [(columns[_column_name(columns, d.attribute)], d) for d in deltas]
        for column, delta in by_name:
            if delta.op is not DeltaOp.REPLACE and not column.attribute.multivalued:
                raise TargetRejected(
                    f"{delta.op.value} needs a multivalued attribute; {column.name!r} is not"
                )
            if (
                delta.op is DeltaOp.REPLACE
                and not column.attribute.multivalued
                and len(delta.values) > 1
            ):
                raise TargetRejected(f"attribute {column.name!r} is single-valued")
        needs_current = any(d.op is not DeltaOp.REPLACE for _, d in by_name)
        if not needs_current:
            sets = {c.name: _replaced(c, d.values) for c, d in by_name}
            written = self._write(key, sets)
            if written is None:
                raise AccountNotFound(f"no account with uid {uid!r}")
            return written
        with self._db.transaction():
            row = self._fetch_one(key, lock=True)
            sets = {}
            for column, delta in by_name:
                if column.name not in sets:
                    sets[column.name] = list(row[self._index(column.name)] or [])
                sets[column.name] = _applied(column, sets[column.name], delta)
            written = self._write(key, sets)
        if written is None:
            raise AccountNotFound(f"no account with uid {uid!r}")
        return written

    def delete(self, object_class: str, uid: str) -> None:
        """Delete one live row, or set its tombstone when ``tombstone_column`` is set.

        Raises:
            AccountNotFound: no such live row.
        """
        self._check_object_class(object_class)
        key = self._key(uid)
        db = self._db
        if self._settings.tombstone_column is not None:
            tomb = self._column(self._settings.tombstone_column)
            mark = {
                AttributeType.BOOLEAN: db.raw("TRUE"),
                AttributeType.INTEGER: db.raw("1"),
            }.get(tomb.kind, db.now())
            if self._write(key, {}, extra=[(tomb, mark)]) is None:
                raise AccountNotFound(f"no account with uid {uid!r}")
            return
        query = db.compose(
            "DELETE FROM {t}{where} RETURNING {u}",
            t=db.table(),
            where=self._where([db.compose("{u} = {p}", u=self._uid(), p=db.param())]),
            u=self._uid(),
        )
        if not db.fetch(query, [key]):
            raise AccountNotFound(f"no account with uid {uid!r}")

    def set_enabled(self, object_class: str, uid: str, enabled: bool) -> ConnectorObject:
        """Enable or disable an account through ``enabled_column``.

        Raises:
            TargetRejected: no ``enabled_column`` is configured.
            AccountNotFound: no such live row.
        """
        if self._settings.enabled_column is None:
            raise TargetRejected("this connector has no enabled_column: it cannot disable")
        column = self._column(self._settings.enabled_column)
        value: Any = enabled
        if column.kind is AttributeType.INTEGER:
            value = int(enabled)
        elif column.kind is not AttributeType.BOOLEAN:
            value = "true" if enabled else "false"
        return self.update(
            object_class, uid, [AttributeDelta(column.name, DeltaOp.REPLACE, (value,))]
        )

    def changes(self, object_class: str, token: str | None) -> Iterator[Change]:
        """Stream the rows changed after ``token`` in ``(change_column, uid)`` order.

        Each change carries the token of its own row; a tombstoned row is a ``DELETE``.

        Raises:
            TargetRejected: no ``change_column`` is configured, or the token is malformed.
        """
        self._check_object_class(object_class)
        if self._settings.change_column is None:
            raise TargetRejected("this connector has no change_column: it cannot list changes")
        after = None if token is None else decode_token(token)
        db = self._db
        change = db.ident(self._column(self._settings.change_column).name)
        uid = self._uid()
        change_index = self._index(self._settings.change_column)
        uid_index = self._index(self._settings.uid_column)
        uid_column = self._column(self._settings.uid_column)
        not_null = db.compose("{c} IS NOT NULL AND {u} IS NOT NULL", c=change, u=uid)
        while True:
            if after is None:
                keyset = None
            elif len(after) == 2:
                keyset = db.compose("({c}, {u}) > ({p}, {p})", c=change, u=uid, p=db.param())
            else:
                keyset = db.compose("{c} > {p}", c=change, p=db.param())
            query = db.compose(
                "SELECT {cols} FROM {t}{where} ORDER BY {c}, {u} LIMIT {p}",
                cols=self._select_list(),
                t=db.table(),
                where=self._where([not_null, keyset]),
                c=change,
                u=uid,
                p=db.param(),
            )
            rows = db.fetch(query, [*(after or ()), CHANGES_PAGE_SIZE])
            for row in rows:
                row_token = encode_token(row[change_index], row[uid_index])
                if self._tombstoned(row):
                    row_uid = str(to_json_value(row[uid_index], uid_column))
                    yield Change(ChangeKind.DELETE, row_uid, None, row_token)
                else:
                    obj = self._object(row)
                    yield Change(ChangeKind.UPSERT, obj.uid, obj, row_token)
            if len(rows) < CHANGES_PAGE_SIZE:
                return
            last = rows[-1]
            after = (_token_value(last[change_index]), _token_value(last[uid_index]))

    def latest_token(self, object_class: str) -> str | None:
        """The token of the newest row (None for an empty table): changes after it are new.

        Raises:
            TargetRejected: no ``change_column`` is configured.
        """
        self._check_object_class(object_class)
        if self._settings.change_column is None:
            raise TargetRejected("this connector has no change_column: it has no token")
        db = self._db
        change = db.ident(self._column(self._settings.change_column).name)
        uid = self._uid()
        query = db.compose(
            "SELECT {c}, {u} FROM {t} WHERE {c} IS NOT NULL AND {u} IS NOT NULL "
            "ORDER BY {c} DESC, {u} DESC LIMIT 1",
            c=change,
            u=uid,
            t=db.table(),
        )
        rows = db.fetch(query)
        return encode_token(rows[0][0], rows[0][1]) if rows else None


# --------------------------------------------------------------------------- helpers


def _find(columns: Sequence[Column], name: str) -> Column | None:
    """The column called exactly ``name``, else the only one equal to it ignoring case."""
    for column in columns:
        if column.name == name:
            return column
    folded = [c for c in columns if c.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _given_key(attributes: Mapping[str, Any], column: Column) -> str:
    if column.name in attributes:
        return column.name
    return next(k for k in attributes if k.casefold() == column.name.casefold())


def _column_name(columns: Mapping[str, Column], attribute: str) -> str:
    if attribute in columns:
        return attribute
    return next(n for n in columns if n.casefold() == attribute.casefold())


def _replaced(column: Column, values: Sequence[Any]) -> Any:
    if column.attribute.multivalued:
        return to_db_value(list(values), column)
    return to_db_value(values[0] if values else None, column)


def _applied(column: Column, current: list[Any], delta: AttributeDelta) -> list[Any]:
    incoming = to_db_value(list(delta.values), column)
    if delta.op is DeltaOp.REPLACE:
        return list(incoming)
    if delta.op is DeltaOp.ADD:
        return current + [v for v in incoming if v not in current]
    return [v for v in current if v not in incoming]


if TYPE_CHECKING:
    _type_conforms: ConnectorType = SqlType()
    _connection_conforms: IncrementalConnection = SqlConnection(
        _Settings("t", "id", "id", None, None, None, 1.0),
        _SqliteTarget(Path("t.db"), "t.db"),
    )
