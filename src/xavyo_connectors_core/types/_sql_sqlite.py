"""SQLite dialect of the ``sql`` connector type (stdlib ``sqlite3``).

The database file must exist (it is opened ``mode=rw``; a connector never creates an
empty database). Identifiers are double-quoted with embedded quotes doubled; values are
``?`` parameters; the catalog is read through ``pragma_table_xinfo(?)`` with the table
name bound. The table name is one identifier (a dot is part of the name). Types follow
SQLite's declared-type affinity, refined: ``BOOL`` → boolean, ``DATE``/``TIME`` →
datetime, ``REAL``/``NUMERIC``/``DECIMAL`` → string. Views are read-only. Timestamps
written by the connector are ISO 8601 UTC text (``YYYY-MM-DDTHH:MM:SS.SSSZ``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from xavyo_connectors_core.errors import TargetRejected, TargetUnavailable
from xavyo_connectors_core.model import Attribute, AttributeType
from xavyo_connectors_core.types.sql import Column, DuplicateKey, Fragment, TableInfo, _iso

_UNIQUE = frozenset({"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"})
_TRANSIENT = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_FULL",
    "SQLITE_PROTOCOL",
    "SQLITE_NOMEM",
    "SQLITE_INTERRUPT",
)


def quote_identifier(name: str) -> str:
    """``name`` as an SQLite identifier: double-quoted, embedded quotes doubled."""
    if "\x00" in name:
        raise TargetRejected("an SQL identifier must not contain NUL characters")
    return '"' + name.replace('"', '""') + '"'


def affinity_type(declared: str) -> tuple[AttributeType, bool]:
    """The attribute type of a declared column type, and whether it holds JSON."""
    upper = declared.upper()
    if "INT" in upper:
        return AttributeType.INTEGER, False
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return AttributeType.STRING, "JSON" in upper
    if "BLOB" in upper:
        return AttributeType.BINARY, False
    if "BOOL" in upper:
        return AttributeType.BOOLEAN, False
    if "DATE" in upper or "TIME" in upper:
        return AttributeType.DATETIME, False
    return AttributeType.STRING, "JSON" in upper


class SqliteDialect:
    """SQL composition, catalog reads and error translation for SQLite."""

    label = "SQLite"

    def __init__(self, conn: sqlite3.Connection, *, table: str) -> None:
        self._conn = conn
        self._table = table

    @classmethod
    def connect(cls, path: Path, *, where: str, table: str, timeout: float) -> SqliteDialect:
        """Open an existing database file; wait up to ``timeout`` s for locks.

        Raises:
            TargetUnavailable: the file does not exist or cannot be opened.
        """
        if not path.is_file():
            raise TargetUnavailable(f"SQLite database file {where!r} does not exist")
        try:
            conn = sqlite3.connect(
                f"{path.as_uri()}?mode=rw",
                uri=True,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise TargetUnavailable(f"cannot open SQLite database {where!r}: {exc}") from None
        return cls(conn, table=table)

    # ------------------------------------------------------------------ composition

    def compose(self, template: str, **parts: Fragment) -> Fragment:
        return template.format(**parts)

    def ident(self, name: str) -> Fragment:
        return quote_identifier(name)

    def table(self) -> Fragment:
        return quote_identifier(self._table)

    def join(self, parts: Iterable[Fragment], sep: str = ", ") -> Fragment:
        return sep.join(parts)

    def param(self) -> Fragment:
        return "?"

    def raw(self, text: str) -> Fragment:
        return text

    def now(self) -> Fragment:
        return "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

    def lock_clause(self) -> Fragment:
        return ""  # the transaction is BEGIN IMMEDIATE: the whole database is locked

    def adapt(self, value: Any, column: Column) -> Any:
        if isinstance(value, datetime):
            return _iso(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal | UUID):
            return str(value)
        if isinstance(value, list | tuple | dict):
            raise TargetRejected(f"attribute {column.name!r} cannot hold a list in SQLite")
        return value

    # ------------------------------------------------------------------ execution

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            name = getattr(exc, "sqlite_errorname", "") or ""
            message = f"SQLite: {exc}"
            if isinstance(exc, sqlite3.IntegrityError) and name in _UNIQUE:
                raise DuplicateKey(message) from None
            if name.startswith(_TRANSIENT):
                raise TargetUnavailable(message) from None
            raise TargetRejected(message) from None

    def fetch(self, query: Fragment, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._translated():
            return list(self._conn.execute(query, tuple(params)).fetchall())

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._translated():
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with self._translated():
                self._conn.execute("ROLLBACK")
            raise
        with self._translated():
            self._conn.execute("COMMIT")

    def ping(self) -> None:
        self.fetch("SELECT 1")

    def describe(self) -> TableInfo:
        found = self.fetch(
            "SELECT type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name = ? COLLATE NOCASE",
            [self._table],
        )
        if not found:
            raise TargetRejected(f"table {self._table!r} not found in SQLite")
        kind = str(found[0][0])
        rows = self.fetch(
            'SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)',
            [self._table],
        )
        pk_index = self.fetch(
            "SELECT 1 FROM pragma_index_list(?) WHERE origin = 'pk'", [self._table]
        )
        pk_columns = [r[0] for r in sorted((r for r in rows if r[4]), key=lambda r: r[4])]
        rowid_alias = (
            kind == "table"
            and len(pk_columns) == 1
            and not pk_index
            and next(str(r[1]) for r in rows if r[0] == pk_columns[0]).upper() == "INTEGER"
        )
        columns = []
        for name, declared, not_null, default, pk, hidden in rows:
            if hidden == 1:  # a hidden column of a virtual table
                continue
            generated = hidden in (2, 3)
            is_alias = rowid_alias and pk > 0
            writable = kind == "table" and not generated
            in_pk = pk > 0 and kind == "table"
            attribute_type, is_json = affinity_type(str(declared or ""))
            required = writable and not is_alias and default is None and (bool(not_null) or in_pk)
            columns.append(
                Column(
                    attribute=Attribute(
                        name=str(name),
                        type=attribute_type,
                        required=required,
                        creatable=writable,
                        updateable=writable,
                    ),
                    db_type=str(declared or "").lower(),
                    json=is_json,
                    has_default=default is not None or is_alias,
                    generated=generated,
                )
            )
        return TableInfo(kind=kind, columns=tuple(columns), primary_key=tuple(pk_columns))

    def close(self) -> None:
        self._conn.close()
