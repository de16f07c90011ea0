"""PostgreSQL dialect of the ``sql`` connector type (psycopg 3, imported lazily).

Identifiers are ``psycopg.sql.Identifier``; values are bound (server-side) parameters;
catalog lookups bind the quoted table name to ``to_regclass``. One connection in
autocommit mode, with ``statement_timeout`` and ``TimeZone=UTC`` set per session, so
timestamps without a time zone are read and written as UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from xavyo_connectors_core.errors import ConnectorError, TargetRejected, TargetUnavailable
from xavyo_connectors_core.model import Attribute, AttributeType
from xavyo_connectors_core.types.sql import Column, DuplicateKey, Fragment, TableInfo

if TYPE_CHECKING:
    import psycopg

_TYPES: dict[str, AttributeType] = {
    "bool": AttributeType.BOOLEAN,
    "int2": AttributeType.INTEGER,
    "int4": AttributeType.INTEGER,
    "int8": AttributeType.INTEGER,
    "oid": AttributeType.INTEGER,
    "timestamp": AttributeType.DATETIME,
    "timestamptz": AttributeType.DATETIME,
    "date": AttributeType.DATETIME,
    "bytea": AttributeType.BINARY,
}
_JSON = frozenset({"json", "jsonb"})
_RELKINDS = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view"}

_TABLE_QUERY = "SELECT c.oid, c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)"
_COLUMNS_QUERY = """
SELECT a.attname,
       bt.typname,
       bt.typcategory,
       et.typname AS element_type,
       a.atttypmod,
       a.attnotnull,
       a.atthasdef,
       a.attidentity,
       a.attgenerated,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       pg_column_is_updatable(a.attrelid, a.attnum, false) AS updatable,
       COALESCE(a.attnum = ANY (i.indkey), false) AS in_primary_key
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
  LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
 WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""


def _numeric_scale(typmod: int) -> int | None:
    return None if typmod < 4 else (typmod - 4) & 0xFFFF


def _attribute_type(type_name: str, typmod: int) -> AttributeType:
    if type_name == "numeric":
        # numeric(p, 0) holds integers; any other numeric is shown as an exact string
        return AttributeType.INTEGER if _numeric_scale(typmod) == 0 else AttributeType.STRING
    return _TYPES.get(type_name, AttributeType.STRING)


def _column(row: Sequence[Any]) -> tuple[Column, bool]:
    (
        name,
        type_name,
        category,
        element_type,
        typmod,
        not_null,
        has_default,
        identity,
        generated,
        default_expr,
        updatable,
        in_primary_key,
    ) = row
    multivalued = category == "A" and element_type is not None
    base = element_type if multivalued else type_name
    is_identity = identity in ("a", "d")
    is_generated = generated == "s"
    is_serial = bool(default_expr) and str(default_expr).startswith("nextval(")
    auto = is_identity or is_generated or is_serial
    writable = bool(updatable) and not auto
    attribute = Attribute(
        name=name,
        type=_attribute_type(base, -1 if multivalued else typmod),
        multivalued=multivalued,
        required=bool(not_null) and not has_default and not auto,
        creatable=writable,
        updateable=writable,
    )
    column = Column(
        attribute=attribute,
        db_type=base,
        json=base in _JSON,
        has_default=bool(has_default) or is_identity,
        generated=is_generated,
        sequence=is_identity or is_serial,
    )
    return column, bool(in_primary_key)


def _scrub(message: str, secret: str | None) -> str:
    if secret:
        message = message.replace(secret, "***")
    return " ".join(message.split())


def _unavailable(message: str) -> bool:
    lowered = message.lower()
    return any(
        needle in lowered
        for needle in ("connection", "timeout", "timed out", "terminat", "server closed")
    )


class PostgresDialect:
    """SQL composition, catalog reads and error translation for PostgreSQL."""

    label = "PostgreSQL"

    def __init__(
        self, conn: psycopg.Connection[tuple[Any, ...]], *, table: str, secret: str | None
    ) -> None:
        self._conn = conn
        self._table_parts = tuple(table.split(".", 1))
        self._secret = secret

    @classmethod
    def connect(
        cls, url: str, *, password: str | None, where: str, table: str, timeout: float
    ) -> PostgresDialect:
        """Connect within ``timeout`` seconds.

        Raises:
            TargetUnavailable: the server cannot be reached (the message names
                ``where``, never the password).
            TargetRejected: psycopg is not installed.
        """
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg is a declared extra
            raise TargetRejected(
                "PostgreSQL needs psycopg: pip install 'xavyo-connectors[postgres]'"
            ) from None
        extra: dict[str, Any] = {} if password is None else {"password": password}
        try:
            conn = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=max(2, math.ceil(timeout)),
                application_name="xavyo-connectors",
                **extra,
            )
        except psycopg.Error as exc:
            detail = _scrub(str(exc), password)
            raise TargetUnavailable(f"cannot connect to PostgreSQL at {where}: {detail}") from None
        dialect = cls(conn, table=table, secret=password)
        try:
            dialect.fetch(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('TimeZone', 'UTC', false)",
                [str(max(1, int(timeout * 1000)))],
            )
        except ConnectorError:
            conn.close()
            raise
        return dialect

    # ------------------------------------------------------------------ composition

    def compose(self, template: str, **parts: Fragment) -> Fragment:
        from psycopg import sql

        return sql.SQL(template).format(**parts)

    def ident(self, name: str) -> Fragment:
        from psycopg import sql

        return sql.Identifier(name)

    def table(self) -> Fragment:
        from psycopg import sql

        return sql.Identifier(*self._table_parts)

    def join(self, parts: Iterable[Fragment], sep: str = ", ") -> Fragment:
        from psycopg import sql

        return sql.SQL(sep).join(list(parts))

    def param(self) -> Fragment:
        from psycopg import sql

        return sql.Placeholder()

    def raw(self, text: str) -> Fragment:
        from psycopg import sql

        return sql.SQL(text)

    def now(self) -> Fragment:
        return self.raw("clock_timestamp()")

    def lock_clause(self) -> Fragment:
        return self.raw(" FOR UPDATE")

    def adapt(self, value: Any, column: Column) -> Any:
        return value

    # ------------------------------------------------------------------ execution

    @contextmanager
    def _translated(self) -> Iterator[None]:
        import psycopg
        from psycopg import errors

        try:
            yield
        except errors.UniqueViolation as exc:
            raise DuplicateKey(self._message(exc)) from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise TargetUnavailable(self._message(exc)) from None
        except psycopg.Error as exc:
            message = self._message(exc)
            if self._conn.closed or (exc.sqlstate is None and _unavailable(message)):
                raise TargetUnavailable(message) from None
            raise TargetRejected(message) from None

    def _message(self, exc: Exception) -> str:
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) if diag is not None else None
        detail = getattr(diag, "message_detail", None) if diag is not None else None
        text = primary or str(exc).split("\n", 1)[0]
        if detail:
            text = f"{text} ({detail})"
        return f"PostgreSQL: {_scrub(text, self._secret)}"

    def fetch(self, query: Fragment, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._translated(), self._conn.cursor() as cur:
            cur.execute(query, list(params) or None)
            return list(cur.fetchall()) if cur.description is not None else []

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._translated(), self._conn.transaction():
            yield

    def ping(self) -> None:
        self.fetch("SELECT 1")

    def describe(self) -> TableInfo:
        from psycopg import sql

        with self._translated():
            quoted = sql.Identifier(*self._table_parts).as_string(self._conn)
        found = self.fetch(_TABLE_QUERY, [quoted])
        if not found or found[0][1] not in _RELKINDS:
            raise TargetRejected(f"table {'.'.join(self._table_parts)!r} not found in PostgreSQL")
        oid, relkind = found[0]
        columns: list[Column] = []
        primary_key: list[str] = []
        for row in self.fetch(_COLUMNS_QUERY, [oid]):
            column, in_primary_key = _column(row)
            columns.append(column)
            if in_primary_key:
                primary_key.append(column.name)
        return TableInfo(
            kind=_RELKINDS[relkind], columns=tuple(columns), primary_key=tuple(primary_key)
        )

    def close(self) -> None:
        self._conn.close()
