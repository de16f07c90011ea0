"""The ``csv`` connector type: one CSV file with a header row is one object class.

Every line after the header is an account of the object class ``account``; the
``uid_column`` holds its uid and the ``name_column`` (default: the uid column) its name.
Cells are typed by ``columns`` (``{"age": "integer", "groups": "string[]"}``; a column not
listed is a string, the ``enabled_column`` a boolean): ``integer`` cells become ints,
``boolean`` cells accept ``true/false/1/0/yes/no`` (any case), ``datetime``, ``binary``
(base64) and ``reference`` cells are kept as text. A type ending in ``[]`` marks a
multivalued column whose values are separated by ``multivalue_delimiter`` inside one cell.
An empty cell is an absent attribute.

Reads stream the file: ``search`` never holds more than one row. Writes rewrite the file
atomically: the new content goes to a temporary file in the same directory, which then
replaces the original with ``os.replace``, so a reader always sees the old or the new file,
never a half-written one. Writers of one file are serialized, inside a process by a lock
per path and across processes by ``flock`` on a hidden ``.<name>.lock`` file next to it.

The ``disable`` capability works through the ``enabled_column``: disabling an account is
an update that replaces that column with ``false``. Without an ``enabled_column`` the type
cannot disable accounts (``can_disable`` is false, so leaving scope deletes instead).

The file is named relative to the files root and must stay inside it (SPEC §3.8).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import itertools
import os
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from attrs import frozen

from xavyo_connectors_core.config import resolve_in_root, validate_config
from xavyo_connectors_core.errors import (
    AccountExists,
    AccountNotFound,
    FieldError,
    InvalidInput,
    TargetRejected,
    TargetUnavailable,
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
    ConfigField,
    ConfigType,
    ConnectorObject,
    OpenContext,
)

if sys.platform != "win32":
    import fcntl

if TYPE_CHECKING:
    from xavyo_connectors_core.spi import Connection, ConnectorType

__all__ = ["ACCOUNT", "TYPE", "ColumnType", "CsvConnection", "CsvType", "parse_column_type"]

ACCOUNT = "account"
"""The one object class of a CSV file."""

_MULTI_SUFFIX = "[]"
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_TYPE_NAMES = ", ".join(t.value for t in AttributeType)


@frozen
class ColumnType:
    """The type of one column: an attribute type, and whether it holds several values."""

    type: AttributeType = AttributeType.STRING
    multivalued: bool = False


def parse_column_type(text: str) -> ColumnType | None:
    """``"integer"`` -> integer, ``"string[]"`` -> multivalued string; None if unknown."""
    multivalued = text.endswith(_MULTI_SUFFIX)
    base = text[: -len(_MULTI_SUFFIX)] if multivalued else text
    try:
        return ColumnType(AttributeType(base), multivalued)
    except ValueError:
        return None


CONFIG_SPEC: tuple[ConfigField, ...] = (
    ConfigField(
        "path",
        ConfigType.STRING,
        required=True,
        path=True,
        description="The CSV file, relative to the files root; it must stay inside it.",
    ),
    ConfigField(
        "uid_column",
        ConfigType.STRING,
        required=True,
        description="The column holding each account's stable unique id.",
    ),
    ConfigField(
        "name_column",
        ConfigType.STRING,
        description="The column holding each account's name (default: the uid column).",
    ),
    ConfigField(
        "delimiter",
        ConfigType.STRING,
        default=",",
        description="The one character separating cells.",
    ),
    ConfigField(
        "encoding",
        ConfigType.STRING,
        default="utf-8",
        description="The file's text encoding (a Python codec name, e.g. utf-8, latin-1).",
    ),
    ConfigField(
        "columns",
        ConfigType.OBJECT,
        default={},
        description=(
            'Column types, {"column": "type"}: one of string, integer, boolean, datetime, '
            'binary, reference; append [] for a multivalued column ("groups": "string[]"), '
            "whose values are separated by multivalue_delimiter. Unlisted columns are "
            "strings; the enabled column is a boolean."
        ),
    ),
    ConfigField(
        "multivalue_delimiter",
        ConfigType.STRING,
        description="Separates the values of a multivalued column inside one cell (e.g. ;).",
    ),
    ConfigField(
        "enabled_column",
        ConfigType.STRING,
        description=(
            "A boolean column telling whether the account is enabled; needed to disable "
            "accounts instead of deleting them."
        ),
    ),
    TIMEOUT_FIELD,
)


# --------------------------------------------------------------------------- settings


@frozen
class _Settings:
    path: str
    uid_column: str
    name_column: str
    delimiter: str
    encoding: str
    columns: Mapping[str, ColumnType]
    multivalue_delimiter: str | None
    enabled_column: str | None
    timeout_seconds: float

    def column_type(self, name: str) -> ColumnType:
        found = self.columns.get(name)
        if found is not None:
            return found
        if name == self.enabled_column:
            return ColumnType(AttributeType.BOOLEAN)
        return ColumnType()


def _check(config: Mapping[str, Any]) -> list[FieldError]:
    """Checks beyond the field spec; ``config`` is normalized and well-typed."""
    errors: list[FieldError] = []
    delimiter = config.get("delimiter", ",")
    if len(delimiter) != 1 or delimiter in '"\r\n':
        errors.append(
            FieldError("config.delimiter", "must be one character other than a quote or newline")
        )
    try:
        codecs.lookup(config.get("encoding", "utf-8"))
    except LookupError:
        errors.append(FieldError("config.encoding", "is not a known text encoding"))
    mvd = config.get("multivalue_delimiter")
    if mvd is not None and (mvd == "" or "\r" in mvd or "\n" in mvd):
        errors.append(
            FieldError("config.multivalue_delimiter", "must be non-empty and without newlines")
        )
    uid = config.get("uid_column")
    name = config.get("name_column") or uid
    enabled = config.get("enabled_column")
    for key in ("name_column", "enabled_column"):
        if config.get(key) is not None and not str(config[key]).strip():
            errors.append(FieldError(f"config.{key}", "must not be empty"))
    if enabled is not None and enabled == uid:
        errors.append(FieldError("config.enabled_column", "must not be the uid column"))
    for column, text in config.get("columns", {}).items():
        path = f"config.columns.{column}"
        parsed = parse_column_type(text) if isinstance(text, str) else None
        if parsed is None:
            errors.append(
                FieldError(path, f"must be one of {_TYPE_NAMES}, optionally followed by []")
            )
            continue
        if parsed.multivalued and mvd is None:
            errors.append(FieldError(path, "a multivalued column needs multivalue_delimiter"))
        if parsed.multivalued and column in (uid, name):
            errors.append(FieldError(path, "the uid and name columns cannot be multivalued"))
        if column == enabled and parsed != ColumnType(AttributeType.BOOLEAN):
            errors.append(FieldError(path, "the enabled column must be a single boolean"))
    return errors


def _settings(config: Mapping[str, Any]) -> _Settings:
    normalized, errors = validate_config(TYPE, config, {}, files_root=None)
    if errors:
        raise TargetRejected(
            "invalid csv config: " + "; ".join(f"{e.path} {e.message}" for e in errors)
        )
    columns = {k: parse_column_type(v) for k, v in normalized.get("columns", {}).items()}
    return _Settings(
        path=normalized["path"],
        uid_column=normalized["uid_column"],
        name_column=normalized.get("name_column") or normalized["uid_column"],
        delimiter=normalized["delimiter"],
        encoding=normalized["encoding"],
        columns={k: v for k, v in columns.items() if v is not None},
        multivalue_delimiter=normalized.get("multivalue_delimiter"),
        enabled_column=normalized.get("enabled_column"),
        timeout_seconds=float(normalized["timeout_seconds"]),
    )


# --------------------------------------------------------------------------- the type


class CsvType:
    """The ``csv`` connector type (SPEC §5)."""

    key: str = "csv"
    description: str = (
        "A CSV file with a header row inside the files root; one line per account. "
        "Writes are atomic (temporary file + rename)."
    )
    config_spec: tuple[ConfigField, ...] = CONFIG_SPEC
    capabilities: frozenset[Capability] = frozenset(
        {
            Capability.SCHEMA,
            Capability.SEARCH,
            Capability.CREATE,
            Capability.UPDATE,
            Capability.DELETE,
            Capability.DISABLE,
        }
    )

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        """Always ``account``."""
        return ACCOUNT

    def can_disable(self, config: Mapping[str, Any]) -> bool:
        """Accounts can be disabled only through an ``enabled_column``."""
        return bool(config.get("enabled_column"))

    def enabled_attribute(self, config: Mapping[str, Any]) -> str | None:
        """The attribute that tells whether an account is enabled, if any."""
        value = config.get("enabled_column")
        return str(value) if value else None

    def check_config(self, config: Mapping[str, Any]) -> list[FieldError]:
        """Delimiters, encoding and column types (called by ``config.validate_config``)."""
        return _check(config)

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> CsvConnection:
        """Open the file named by ``config``; nothing is read until the first call.

        Raises:
            TargetRejected: the config is invalid or its path leaves the files root.
        """
        settings = _settings(config)
        try:
            file = resolve_in_root(context.files_root, settings.path, field_path="config.path")
        except InvalidInput as exc:
            raise TargetRejected("; ".join(f"{e.path} {e.message}" for e in exc.errors)) from None
        return CsvConnection(settings, file)

    def __repr__(self) -> str:
        return "CsvType()"


TYPE = CsvType()
"""The registered instance."""


# --------------------------------------------------------------------------- layout


@frozen
class _Column:
    index: int
    name: str
    type: ColumnType


_Parser = Callable[[str], Any]


def _scalar_parser(kind: AttributeType) -> _Parser | None:
    if kind is AttributeType.INTEGER:

        def parse_int(cell: str) -> int:
            try:
                return int(cell.strip())
            except ValueError:
                raise ValueError("is not an integer") from None

        return parse_int
    if kind is AttributeType.BOOLEAN:

        def parse_bool(cell: str) -> bool:
            value = _BOOLEANS.get(cell.strip().lower())
            if value is None:
                raise ValueError("is not a boolean (true/false/1/0/yes/no)")
            return value

        return parse_bool
    return None  # kept as text


def _parser(column_type: ColumnType, mvd: str | None) -> _Parser:
    scalar = _scalar_parser(column_type.type)
    if column_type.multivalued and mvd is not None:
        if scalar is None:
            return lambda cell: [p for p in cell.split(mvd) if p] or None
        convert = scalar
        return lambda cell: [convert(p) for p in cell.split(mvd) if p] or None
    return scalar if scalar is not None else str


class _Layout:
    """The header of one file, matched against the config."""

    def __init__(self, header: Sequence[str], settings: _Settings) -> None:
        self.width = len(header)
        self.settings = settings
        columns: list[_Column] = []
        seen: set[str] = set()
        for index, name in enumerate(header):
            if name == "":
                continue  # a trailing delimiter: cells of unnamed columns are kept, unread
            if name in seen:
                raise TargetRejected(f"the header repeats the column {name!r}")
            seen.add(name)
            columns.append(_Column(index, name, settings.column_type(name)))
        self.columns = tuple(columns)
        self.by_name = {c.name: c for c in columns}
        self.by_fold: dict[str, _Column] = {}
        for c in columns:
            self.by_fold.setdefault(c.name.casefold(), c)
        configured: tuple[tuple[str, str | None], ...] = (
            ("uid_column", settings.uid_column),
            ("name_column", settings.name_column),
            ("enabled_column", settings.enabled_column),
        )
        for key, wanted in configured:
            if wanted is not None and wanted not in self.by_name:
                raise TargetRejected(f"config.{key} names {wanted!r}, which is not in the header")
        for name in settings.columns:
            if name not in self.by_name:
                raise TargetRejected(f"config.columns names {name!r}, which is not in the header")
        self.uid = self.by_name[settings.uid_column]
        self.name = self.by_name[settings.name_column]
        self.enabled = self.by_name.get(settings.enabled_column or "")
        mvd = settings.multivalue_delimiter
        self.parsers = tuple((c.index, c.name, _parser(c.type, mvd)) for c in columns)
        # what ``to_object`` needs per row, worked out once: the names in header order,
        # which cells they read (all of them, in order, unless the header has unnamed
        # columns), and the columns whose text is parsed (not kept as it is)
        self.attribute_names = tuple(c.name for c in columns)
        self._indices = tuple(c.index for c in columns)
        self._every_cell = self._indices == tuple(range(self.width))
        self._typed = tuple((name, parse) for _i, name, parse in self.parsers if parse is not str)
        self._padding = [""] * self.width
        self.plain_text = self._every_cell and not self._typed
        """Every column is named and kept as text: a full row's cells are its attributes."""

    def lookup(self, attribute: str) -> _Column:
        column = self.by_name.get(attribute) or self.by_fold.get(attribute.casefold())
        if column is None:
            raise TargetRejected(f"unknown attribute {attribute!r}: the file has no such column")
        return column

    def uid_of(self, row: Sequence[str]) -> str:
        index = self.uid.index
        return row[index] if index < len(row) else ""

    def to_object(self, row: Sequence[str], line: int) -> ConnectorObject:
        """The account of one row: its non-empty cells, typed; the uid and name as text.

        Raises:
            TargetRejected: too many cells, a cell that does not parse, no uid.
        """
        width = self.width
        if len(row) != width:
            if len(row) > width:
                raise TargetRejected(f"line {line} has more cells than the header")
            row = [*row, *self._padding[len(row) :]]  # missing cells read as empty ones
        cells = row if self._every_cell else [row[i] for i in self._indices]
        attributes: dict[str, Any] = dict(zip(self.attribute_names, cells, strict=True))
        if "" in cells:  # an empty cell is an absent attribute
            attributes = {k: v for k, v in attributes.items() if v}
        if self._typed:
            name = ""
            try:
                for name, parse in self._typed:
                    cell = attributes.get(name)
                    if cell is not None:
                        value = parse(cell)
                        if value is None:
                            del attributes[name]
                        else:
                            attributes[name] = value
            except ValueError as exc:
                raise TargetRejected(f"line {line}, column {name!r} {exc}") from None
        uid = row[self.uid.index]
        if not uid:
            raise TargetRejected(f"line {line} has no value in the uid column")
        return ConnectorObject(uid, row[self.name.index] or uid, attributes)

    # ------------------------------------------------------------------ writing

    def format_value(self, column: _Column, value: Any) -> str:
        """The cell text of ``value`` for ``column``."""
        if value is None:
            return ""
        if column.type.multivalued:
            values = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
            mvd = self.settings.multivalue_delimiter or ""
            cells = [self._format_scalar(column, v) for v in values if v is not None]
            for cell in cells:
                if cell == "" or mvd in cell:
                    raise TargetRejected(
                        f"attribute {column.name!r}: a value is empty or contains the "
                        "multivalue delimiter"
                    )
            return mvd.join(dict.fromkeys(cells))
        if isinstance(value, list | tuple):
            if len(value) > 1:
                raise TargetRejected(f"attribute {column.name!r} is single-valued")
            return self._format_scalar(column, value[0]) if value else ""
        return self._format_scalar(column, value)

    def _format_scalar(self, column: _Column, value: Any) -> str:
        kind = column.type.type
        if kind is AttributeType.INTEGER:
            if isinstance(value, int) and not isinstance(value, bool):
                text = str(value)
            elif isinstance(value, str):
                try:
                    text = str(int(value.strip()))
                except ValueError:
                    raise TargetRejected(f"attribute {column.name!r} must be an integer") from None
            else:
                raise TargetRejected(f"attribute {column.name!r} must be an integer")
        elif kind is AttributeType.BOOLEAN:
            flag = value if isinstance(value, bool) else None
            if isinstance(value, str):
                flag = _BOOLEANS.get(value.strip().lower())
            elif isinstance(value, int) and value in (0, 1) and not isinstance(value, bool):
                flag = bool(value)
            if flag is None:
                raise TargetRejected(f"attribute {column.name!r} must be a boolean")
            text = "true" if flag else "false"
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = value
        elif isinstance(value, int | float):
            text = str(value)
        else:
            raise TargetRejected(f"attribute {column.name!r} must be text")
        if "\x00" in text:
            raise TargetRejected(f"attribute {column.name!r} must not contain NUL")
        return text

    def parse_cell(self, column: _Column, cell: str) -> Any:
        """The typed value of one cell (None for an empty one)."""
        if not cell:
            return None
        for index, _name, parse in self.parsers:
            if index == column.index:
                try:
                    return parse(cell)
                except ValueError as exc:
                    raise TargetRejected(f"column {column.name!r} {exc}") from None
        return cell

    def canonical(self, column: _Column, value: Any) -> Any:
        """``value`` as it reads back from the file (typed, one value)."""
        single = _Column(column.index, column.name, ColumnType(column.type.type))
        cell = self._format_scalar(single, value)
        parse = _scalar_parser(column.type.type) or str
        return parse(cell) if cell else None


# --------------------------------------------------------------------------- locking

_PATH_LOCKS: dict[str, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(str(path), threading.Lock())


@contextlib.contextmanager
def _write_lock(path: Path, display: str, timeout: float) -> Iterator[None]:
    """Serialize writers of ``path``: a lock per path in this process, ``flock`` across."""
    busy = f"the file {display!r} is being written by another writer; try again"
    deadline = time.monotonic() + timeout
    lock = _thread_lock(path)
    if not lock.acquire(timeout=timeout):
        raise TargetUnavailable(busy, retry_after=1.0)
    try:
        if sys.platform == "win32":  # pragma: no cover - no flock; one process only
            yield
            return
        lock_path = path.with_name(f".{path.name}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise TargetUnavailable(
                f"cannot create the lock file of {display!r}: {exc.strerror}"
            ) from None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TargetUnavailable(busy, retry_after=1.0) from None
                    time.sleep(0.005)
            yield
        finally:
            os.close(fd)  # releases the flock
    finally:
        lock.release()


# --------------------------------------------------------------------------- connection


@frozen
class _FileFormat:
    lineterminator: str
    bom: bool


_Rows = Iterator[tuple[int, list[str]]]


class CsvConnection:
    """An open ``csv`` connector: reads stream the file, writes replace it atomically."""

    def __init__(self, settings: _Settings, file: Path) -> None:
        self._settings = settings
        self._file = file
        self._display = settings.path

    def __repr__(self) -> str:
        return f"CsvConnection(path={self._display!r})"

    def __enter__(self) -> CsvConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    # ------------------------------------------------------------------ reading

    @contextlib.contextmanager
    def _reader(self) -> Iterator[tuple[_Layout, _Rows, _FileFormat]]:
        with self._csv_reader() as (layout, reader, fmt):
            yield layout, self._rows(reader, layout), fmt

    @contextlib.contextmanager
    def _csv_reader(self) -> Iterator[tuple[_Layout, Any, _FileFormat]]:
        """The file's layout, a ``csv.reader`` positioned after the header, its format."""
        try:
            handle = open(self._file, encoding=self._settings.encoding, newline="")  # noqa: SIM115
        except FileNotFoundError:
            raise TargetUnavailable(
                f"the file {self._display!r} does not exist in the files root"
            ) from None
        except IsADirectoryError:
            raise TargetRejected(f"{self._display!r} is a directory, not a file") from None
        except OSError as exc:
            raise TargetUnavailable(f"cannot open {self._display!r}: {exc.strerror}") from None
        with handle:
            first = self._read_guarded(handle.readline)
            bom = first.startswith("\ufeff")
            if bom:
                first = first[1:]
            if not first.strip():
                raise TargetRejected(f"the file {self._display!r} has no header row")
            lineterminator = "\r\n" if first.endswith("\r\n") else "\n"
            reader = csv.reader(
                itertools.chain([first], handle), delimiter=self._settings.delimiter, strict=True
            )
            header = self._read_guarded(lambda: next(reader))
            layout = _Layout(header, self._settings)
            yield layout, reader, _FileFormat(lineterminator, bom)

    def _read_guarded(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except UnicodeDecodeError:
            raise TargetRejected(
                f"the file {self._display!r} is not valid {self._settings.encoding} text"
            ) from None
        except csv.Error:
            raise TargetRejected(f"the header of {self._display!r} is malformed CSV") from None
        except OSError as exc:
            raise TargetUnavailable(f"cannot read {self._display!r}: {exc.strerror}") from None

    def _rows(self, reader: Any, layout: _Layout) -> _Rows:
        uid_index = layout.uid.index
        read = reader.__next__
        while True:
            try:
                row: list[str] = read()
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error, OSError) as exc:
                raise self._read_error(exc, reader) from None
            if not row:
                continue
            if (uid_index >= len(row) or not row[uid_index]) and not any(row):
                continue  # a blank line
            yield reader.line_num, row

    def _objects(self, reader: Any, layout: _Layout) -> Iterator[ConnectorObject]:
        """``layout.to_object`` of each row of ``_rows``, without the intermediate tuples.

        A row of text columns only with every cell filled (the common case) is turned
        into its object right here: its cells are its attributes, in header order.
        """
        uid_index = layout.uid.index
        name_index = layout.name.index
        to_object = layout.to_object
        names = layout.attribute_names
        width = layout.width if layout.plain_text else -1
        read = reader.__next__
        while True:
            try:
                row: list[str] = read()
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error, OSError) as exc:
                raise self._read_error(exc, reader) from None
            if len(row) == width and "" not in row:
                yield ConnectorObject(
                    row[uid_index], row[name_index], dict(zip(names, row, strict=True))
                )
                continue
            if not row:
                continue
            if (uid_index >= len(row) or not row[uid_index]) and not any(row):
                continue  # a blank line
            yield to_object(row, reader.line_num)

    def _read_error(self, exc: Exception, reader: Any) -> TargetRejected | TargetUnavailable:
        """What a failed read of the row after ``reader.line_num`` is reported as."""
        if isinstance(exc, UnicodeDecodeError):
            return TargetRejected(
                f"line {reader.line_num + 1} of {self._display!r} is not valid "
                f"{self._settings.encoding} text"
            )
        if isinstance(exc, OSError):
            return TargetUnavailable(f"cannot read {self._display!r}: {exc.strerror}")
        return TargetRejected(f"line {reader.line_num} of {self._display!r} is malformed CSV")

    def test(self) -> str:
        """Open the file and read its header.

        Raises:
            TargetUnavailable: the file is missing or unreadable.
            TargetRejected: the header does not fit the config.
        """
        with self._reader() as (layout, _rows, _format):
            return f"ok: {len(layout.columns)} columns"

    def schema(self) -> Schema:
        """The object class ``account``, from the header and the configured column types."""
        with self._reader() as (layout, _rows, _format):
            attributes = tuple(
                Attribute(
                    name=c.name,
                    type=c.type.type,
                    multivalued=c.type.multivalued,
                    required=c is layout.uid,
                    updateable=c is not layout.uid,
                )
                for c in layout.columns
            )
            object_class = ObjectClass(
                name=ACCOUNT,
                uid_attribute=layout.uid.name,
                name_attribute=layout.name.name,
                attributes=attributes,
            )
        return Schema(object_classes=(object_class,), discovered_at=datetime.now(UTC))

    def _check_class(self, object_class: str) -> None:
        if object_class.casefold() != ACCOUNT:
            raise TargetRejected(f"unknown object class {object_class!r}: csv has only account")

    def search(self, object_class: str, page_size: int) -> Iterator[ConnectorObject]:
        """Every account, one row at a time; the file is opened on the first ``next``."""
        self._check_class(object_class)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        return self._stream()

    def _stream(self) -> Iterator[ConnectorObject]:
        with self._csv_reader() as (layout, reader, _format):
            yield from self._objects(reader, layout)

    def get(self, object_class: str, uid: str) -> ConnectorObject:
        """Raises ``AccountNotFound``."""
        self._check_class(object_class)
        with self._reader() as (layout, rows, _format):
            for line, row in rows:
                if layout.uid_of(row) == uid:
                    return layout.to_object(row, line)
        raise AccountNotFound(f"no account with uid {uid!r} in {self._display!r}")

    # ------------------------------------------------------------------ writing

    def _rewrite(self, edit: Callable[[_Layout, _Rows], Iterable[list[str]]]) -> None:
        """Replace the file by ``edit``'s rows (after the header), atomically, locked."""
        with _write_lock(self._file, self._display, self._settings.timeout_seconds):
            with self._reader() as (layout, rows, fmt):
                header = self._header_of(layout)
                fd, tmp_name = self._temp_file()
                tmp = Path(tmp_name)
                try:
                    with os.fdopen(fd, "w", encoding=self._settings.encoding, newline="") as out:
                        self._write_rows(out, fmt, header, edit(layout, rows))
                        out.flush()
                        os.fsync(out.fileno())
                    os.replace(tmp, self._file)
                except OSError as exc:
                    tmp.unlink(missing_ok=True)
                    raise TargetUnavailable(
                        f"cannot write {self._display!r}: {exc.strerror}"
                    ) from None
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
            self._fsync_directory()

    def _header_of(self, layout: _Layout) -> list[str]:
        header = [""] * layout.width
        for column in layout.columns:
            header[column.index] = column.name
        return header

    def _temp_file(self) -> tuple[int, str]:
        try:
            fd, name = tempfile.mkstemp(
                dir=self._file.parent, prefix=f".{self._file.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise TargetUnavailable(
                f"cannot write next to {self._display!r}: {exc.strerror}"
            ) from None
        with contextlib.suppress(OSError):
            os.fchmod(fd, stat.S_IMODE(os.stat(self._file).st_mode))
        return fd, name

    def _write_rows(
        self, out: TextIO, fmt: _FileFormat, header: list[str], rows: Iterable[list[str]]
    ) -> None:
        if fmt.bom:
            out.write("\ufeff")
        writer = csv.writer(
            out, delimiter=self._settings.delimiter, lineterminator=fmt.lineterminator
        )
        writer.writerow(header)
        writer.writerows(rows)

    def _fsync_directory(self) -> None:
        with contextlib.suppress(OSError):
            fd = os.open(self._file.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        """Append a new row.

        Raises:
            AccountExists: a row with the same uid exists.
            TargetRejected: the uid is missing, or an attribute has no column or a bad value.
        """
        self._check_class(object_class)
        created: list[ConnectorObject] = []

        def edit(layout: _Layout, rows: _Rows) -> Iterator[list[str]]:
            new = [""] * layout.width
            for attribute, value in attributes.items():
                column = layout.lookup(attribute)
                new[column.index] = layout.format_value(column, value)
            uid = new[layout.uid.index]
            if not uid:
                raise TargetRejected(f"the uid attribute {layout.uid.name!r} is required")
            obj = layout.to_object(new, 0)
            for _line, row in rows:
                if layout.uid_of(row) == uid:
                    raise AccountExists(f"an account with uid {uid!r} exists", uid=uid)
                yield row
            created.append(obj)
            yield new

        self._rewrite(edit)
        return created[0]

    def update(
        self, object_class: str, uid: str, deltas: Sequence[AttributeDelta]
    ) -> ConnectorObject:
        """Apply attribute deltas (replace / add / remove values) to one row.

        Raises:
            AccountNotFound: no row has this uid.
            TargetRejected: an attribute has no column, is the uid, or gets a bad value.
        """
        self._check_class(object_class)
        updated: list[ConnectorObject] = []

        def edit(layout: _Layout, rows: _Rows) -> Iterator[list[str]]:
            for line, row in rows:
                if not updated and layout.uid_of(row) == uid:
                    row = _apply_deltas(layout, row, deltas)
                    updated.append(layout.to_object(row, line))
                yield row
            if not updated:
                raise AccountNotFound(f"no account with uid {uid!r} in {self._display!r}")

        self._rewrite(edit)
        return updated[0]

    def delete(self, object_class: str, uid: str) -> None:
        """Remove one row.

        Raises:
            AccountNotFound: no row has this uid.
        """
        self._check_class(object_class)

        def edit(layout: _Layout, rows: _Rows) -> Iterator[list[str]]:
            found = False
            for _line, row in rows:
                if not found and layout.uid_of(row) == uid:
                    found = True
                    continue
                yield row
            if not found:
                raise AccountNotFound(f"no account with uid {uid!r} in {self._display!r}")

        self._rewrite(edit)


def _apply_deltas(layout: _Layout, row: list[str], deltas: Sequence[AttributeDelta]) -> list[str]:
    row = row + [""] * (layout.width - len(row))
    for delta in deltas:
        column = layout.lookup(delta.attribute)
        current = layout.parse_cell(column, row[column.index])
        values = [layout.canonical(column, v) for v in delta.values if v is not None]
        values = [v for v in values if v is not None]
        if column is layout.uid:
            if delta.op is DeltaOp.REPLACE and values == [current]:
                continue
            raise TargetRejected(f"the uid attribute {column.name!r} cannot be updated")
        new: Any
        if column.type.multivalued:
            have = list(current or [])
            if delta.op is DeltaOp.REPLACE:
                new = list(dict.fromkeys(values))
            elif delta.op is DeltaOp.ADD:
                new = have + [v for v in dict.fromkeys(values) if v not in have]
            else:
                new = [v for v in have if v not in values] if values else []
            new = new or None
        elif delta.op is DeltaOp.REPLACE:
            if len(values) > 1:
                raise TargetRejected(f"attribute {column.name!r} is single-valued")
            new = values[0] if values else None
        elif delta.op is DeltaOp.ADD:
            if len(values) > 1 or (values and current is not None and current != values[0]):
                raise TargetRejected(f"attribute {column.name!r} is single-valued")
            new = values[0] if values else current
        else:
            new = None if not values or current in values else current
        row[column.index] = layout.format_value(column, new)
    return row


if TYPE_CHECKING:  # the type and its connection satisfy the SPI Protocols

    def _conforms(ctype: CsvType, connection: CsvConnection) -> tuple[ConnectorType, Connection]:
        return ctype, connection
