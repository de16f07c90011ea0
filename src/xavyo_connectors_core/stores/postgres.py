"""The PostgreSQL store: the scale-out store (psycopg 3 with a connection pool).

A unit of work is one pooled connection and one transaction (READ COMMITTED; optimistic
versions and unique indexes decide races, ``FOR UPDATE SKIP LOCKED`` hands out runs).
Sessions run in UTC. This module imports psycopg at the top: it is only imported when a
PostgreSQL store is opened, never by ``import xavyo_connectors_core``.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from xavyo_connectors_core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    StoreUnavailable,
)
from xavyo_connectors_core.ports import UnitOfWork
from xavyo_connectors_core.stores._common import scan_json
from xavyo_connectors_core.stores._sql import (
    DATA_MIGRATIONS,
    Codecs,
    Row,
    SqlDialect,
    SqlSession,
    SqlUnitOfWork,
    load_migrations,
    load_queries,
)

__all__ = ["PostgresStore"]


class _PgDialect(SqlDialect):
    """Native uuid, timestamptz and boolean; ``json`` columns parsed by psycopg."""

    min_time = "-infinity"
    max_time = "infinity"

    def dump_time(self, value: datetime) -> Any:
        return value

    def load_time(self, value: Any) -> datetime:
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    def dump_uuid(self, value: Any) -> Any:
        return value

    def load_json(self, value: Any) -> Any:
        return value

    def load_bool(self, value: Any) -> bool:
        return bool(value)

    def dump_list(self, values: Sequence[Any]) -> Any:
        return list(values)


def _translate(exc: psycopg.Error) -> Exception:
    """Our error for a driver error (the caller raises it ``from`` the original)."""
    if isinstance(exc, pg_errors.UniqueViolation):
        return Conflict("a record with this key already exists")
    if isinstance(exc, pg_errors.ForeignKeyViolation):
        return NotFound("a record it refers to does not exist")
    if isinstance(exc, psycopg.IntegrityError):
        return InvalidInput([FieldError("$", "violates a constraint of the store")])
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable("the database is unavailable")
    return exc


class _PgSession(SqlSession):
    def __init__(
        self, conn: psycopg.Connection[Any], queries: Mapping[str, str], dialect: SqlDialect
    ) -> None:
        super().__init__(queries, dialect)
        self.conn = conn

    def _rows(self, sql: str, params: Mapping[str, Any]) -> builtins.list[DictRow]:
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description is not None else []
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def one(self, name: str, params: Mapping[str, Any]) -> Row | None:
        rows = self._rows(self.queries[name], params)
        return rows[0] if rows else None

    def all(self, name: str, params: Mapping[str, Any]) -> builtins.list[Row]:
        return self._rows(self.queries[name], params)

    def run(self, name: str, params: Mapping[str, Any]) -> int:
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.queries[name], params)
                return cur.rowcount
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.executemany(self.queries[name], rows)
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def bulk(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.run(name, {column: [row[column] for row in rows] for column in rows[0]})

    def next_seqs(self, count: int) -> builtins.list[int]:
        return [int(row["seq"]) for row in self.all("operation_next_seqs", {"n": count})]

    def raw(self, sql: str) -> None:
        try:
            self.conn.execute(sql)
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def commit(self) -> None:
        try:
            self.conn.commit()
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except psycopg.Error as exc:
            raise _translate(exc) from exc


ANALYZED_TABLES = ("shadows", "identities", "identity_values", "operations", "discrepancies")
"""Tables whose statistics ``refresh_statistics`` keeps fresh."""


def _json_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """``json.loads`` for the ``json`` columns psycopg reads, without its per-call
    encoding detection and regular expressions (the same values; same errors)."""
    text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    try:
        value, end = scan_json(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)  # its error, or whitespace around the value
    return value if end == len(text) else json.loads(text)


def _configure(conn: psycopg.Connection[Any]) -> None:
    set_json_loads(_json_loads, conn)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class PostgresStore:
    """The scale-out store on PostgreSQL.

    Args:
        url: a libpq connection URL (``postgresql://user@host:port/db``).
        min_size, max_size: bounds of the connection pool.
        migrate: apply pending migrations now (``migrate()`` can also be called later).
        timeout: seconds to wait for a pooled connection before ``StoreUnavailable``.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        migrate: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self._timeout = timeout
        self._queries = load_queries("postgres")
        self._dialect = _PgDialect()
        self._codecs = Codecs(self._dialect)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": False},
            configure=_configure,
            open=True,
            name="xavyo-store",
        )
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self._pool.close()
                raise

    def __repr__(self) -> str:
        return "PostgresStore(...)"  # the URL may carry a password

    def _open_session(self) -> SqlSession:
        try:
            conn = self._pool.getconn(timeout=self._timeout)
        except psycopg.OperationalError as exc:  # PoolTimeout, PoolClosed, connect errors
            raise StoreUnavailable("no database connection available") from exc
        return _PgSession(conn, self._queries, self._dialect)

    def _close_session(self, session: SqlSession) -> None:
        assert isinstance(session, _PgSession)
        self._pool.putconn(session.conn)

    # -- the Store port

    def unit_of_work(self) -> UnitOfWork:
        return SqlUnitOfWork(self._open_session, self._close_session, self._codecs)

    def migrate(self) -> int:
        """Apply pending migrations in one transaction; return how many were applied.

        Concurrent migrators wait for each other on an advisory lock.
        """
        session = self._open_session()
        try:
            session.all("migrations_lock", {})
            session.run("migrations_table", {})
            applied = {int(row["version"]) for row in session.all("migrations_applied", {})}
            count = 0
            for version, script in load_migrations("postgres"):
                if version in applied:
                    continue
                session.raw(script)
                step = DATA_MIGRATIONS.get(version)
                if step is not None:
                    step(session, self._codecs)
                now = datetime.now(UTC)
                session.run("migration_record", {"version": version, "applied_at": now})
                count += 1
            session.commit()
            return count
        finally:
            try:
                session.rollback()
            finally:
                self._close_session(session)

    def refresh_statistics(self) -> builtins.list[str]:
        """ANALYZE the store's big tables that were never analyzed, or changed by more
        than a fifth since (autovacuum may be off, or not have come round yet)."""
        session = self._open_session()
        try:
            stale = [
                str(row["relname"])
                for row in session.all("stale_statistics", {"tables": list(ANALYZED_TABLES)})
            ]
            for table in stale:
                assert table in ANALYZED_TABLES  # a fixed name, never input
                session.raw(f"ANALYZE {table}")
            session.commit()
            return stale
        finally:
            try:
                session.rollback()
            finally:
                self._close_session(session)

    def ping(self) -> bool:
        try:
            with self._pool.connection(timeout=min(self._timeout, 5.0)) as conn:
                conn.execute("SELECT 1").fetchall()
            return True
        except psycopg.Error:  # includes PoolTimeout and PoolClosed
            return False

    def close(self) -> None:
        self._pool.close()
