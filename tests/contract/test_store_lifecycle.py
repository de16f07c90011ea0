"""Opening stores: the factory, migrations, health, closing, and waiting for writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.contract import builders as b
from tests.contract.stores import KINDS, LOCAL_KINDS
from xavyo_connectors_core.errors import StoreUnavailable
from xavyo_connectors_core.ports import Store
from xavyo_connectors_core.stores import open_store
from xavyo_connectors_core.stores._sql import load_migrations
from xavyo_connectors_core.stores.memory import MemoryStore
from xavyo_connectors_core.stores.sqlite import SqliteStore


class TestOpenStore:
    def test_memory(self) -> None:
        """``memory:`` is a fresh in-memory store."""
        assert isinstance(open_store("memory:"), MemoryStore)

    @pytest.mark.parametrize("prefix", ["sqlite://", "sqlite:///", "sqlite:", ""])
    def test_sqlite_forms(self, tmp_path: Path, prefix: str) -> None:
        """``sqlite:///abs/path.db`` (3 or 4 slashes), ``sqlite:path`` or a plain path."""
        path = tmp_path / "x.db"
        store = open_store(prefix + str(path))
        try:
            assert isinstance(store, SqliteStore)
            assert Path(store.path).resolve() == path.resolve()
            assert store.migrate() == 0
        finally:
            store.close()

    @pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:", "sqlite::memory:"])
    def test_unknown(self, url: str) -> None:
        """Unknown schemes and SQLite without a file are refused."""
        with pytest.raises(ValueError):
            open_store(url)

    @pytest.mark.postgres
    def test_postgres(self, postgres_url: str) -> None:
        """``postgresql://…`` opens a pooled PostgreSQL store; migrate=False leaves it bare."""
        from xavyo_connectors_core.stores.postgres import PostgresStore

        store = open_store(postgres_url, migrate=False)
        try:
            assert isinstance(store, PostgresStore)
            assert store.migrate() == len(load_migrations("postgres"))
            assert store.migrate() == 0
            assert "postgres@" not in repr(store)
        finally:
            store.close()

    def test_importing_the_core_imports_no_driver(self) -> None:
        """``import xavyo_connectors_core`` (and its stores package) never loads psycopg."""
        code = (
            "import sys, xavyo_connectors_core, xavyo_connectors_core.stores;"
            "from xavyo_connectors_core.stores import open_store;"
            "open_store('memory:');"
            "assert 'psycopg' not in sys.modules and 'psycopg_pool' not in sys.modules"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


class TestMigrations:
    def test_sqlite_migrates_once(self, tmp_path: Path) -> None:
        """Migrations apply in order once, are recorded, and the database is in WAL mode."""
        path = tmp_path / "m.db"
        store = SqliteStore(path, migrate=False)
        try:
            assert store.migrate() == len(load_migrations("sqlite")) >= 1
            assert store.migrate() == 0
        finally:
            store.close()
        with sqlite3.connect(path) as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        assert versions == [v for v, _ in load_migrations("sqlite")]
        assert mode == "wal"

    @pytest.mark.postgres
    def test_postgres_concurrent_migrators(self, postgres_url: str) -> None:
        """Two stores migrating one database at once apply each migration once."""
        from xavyo_connectors_core.stores.postgres import PostgresStore

        stores = [PostgresStore(postgres_url, migrate=False) for _ in range(2)]
        applied: list[int] = []
        threads = [threading.Thread(target=lambda s=s: applied.append(s.migrate())) for s in stores]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            for store in stores:
                store.close()
        assert sorted(applied) == [0, len(load_migrations("postgres"))]

    @pytest.mark.parametrize("kind", [KINDS[1], KINDS[2]])
    def test_0002_upgrades_existing_rows(
        self,
        kind: str,
        tmp_path: Path,
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Rows written under version 1 get loose value keys and account keys."""
        if kind == "sqlite":
            from xavyo_connectors_core.stores import sqlite as module

            store: Any = SqliteStore(tmp_path / "old.db", migrate=False)
            raw: Any = sqlite3.connect(tmp_path / "old.db")
            mark = ":{}"
        else:
            import psycopg

            from xavyo_connectors_core.stores import postgres as module

            url = request.getfixturevalue("postgres_url")
            store = module.PostgresStore(url, migrate=False)
            raw = psycopg.connect(url)
            mark = "%({})s"
        every = module.load_migrations
        monkeypatch.setattr(module, "load_migrations", lambda dialect: every(dialect)[:1])
        assert store.migrate() == 1
        monkeypatch.setattr(module, "load_migrations", every)

        tenant, conn, ident = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        person = b.identity(tenant, {"mail": " John@X.org", "n": 42, "tags": ["A", "b"]})
        ops = [
            b.operation(tenant, conn, identity_id=ident, account_uid=None, seq=1),
            b.operation(tenant, conn, identity_id=ident, account_uid="u1", seq=2),
            b.operation(tenant, conn, account_uid="u1", seq=3),
            b.operation(tenant, conn, account_uid=None, seq=4),
        ]
        finding = b.discrepancy(tenant, uuid.uuid4(), conn)

        def insert(table: str, params: dict[str, Any]) -> None:
            columns = ", ".join(params)
            values = ", ".join(mark.format(c) for c in params)
            raw.execute(f"INSERT INTO {table} ({columns}) VALUES ({values})", params)

        codecs = store._codecs
        insert("identities", codecs.identity.params(person))
        for attribute, key in [("mail", "s: John@X.org"), ("n", "n:42"), ("tags", "s:A")]:
            row = {"attribute": attribute, "value_key": key}
            row |= {"tenant_id": str(tenant), "identity_id": str(person.id)}
            insert("identity_values", row)
        for op in ops:
            insert("operations", codecs.operation.params(op))
        params = codecs.discrepancy.params(finding)
        del params["account_hash"]
        insert("discrepancies", params)
        raw.commit()
        raw.close()
        try:
            assert store.migrate() == len(every("sqlite" if kind == "sqlite" else "postgres")) - 1
            with store.unit_of_work() as uow:
                find = uow.identities.find_by_values
                assert find(tenant, "mail", ["john@x.org"]) == {"john@x.org": [person]}
                assert find(tenant, "n", ["42"]) == {"42": [person]}
                assert find(tenant, "tags", ["a", "B"]) == {"a": [person], "B": [person]}
                latest = uow.operations.latest_for_account(tenant, conn, f"i:{ident}")
                assert latest is not None and latest.id == ops[1].id
                assert uow.operations.latest_for_account(tenant, conn, "u:None") == ops[3]
                claimed = uow.operations.claim_due("w", b.at(1), 30, 10)
                assert [op.id for op in claimed] == [ops[0].id, ops[2].id, ops[3].id]
                assert uow.discrepancies.get(tenant, finding.id) == finding
        finally:
            store.close()

    def test_migrations_are_numbered_alike(self) -> None:
        """Both dialects ship the same migration versions."""
        assert [v for v, _ in load_migrations("sqlite")] == [
            v for v, _ in load_migrations("postgres")
        ]


class TestHealthAndClose:
    def test_ping_and_close(self, store: Store, store_kind: str) -> None:
        """A store answers ``ping``; a closed one does not, and opens no unit of work."""
        assert store.ping() is True
        if store_kind == "postgres":
            return  # the shared session store stays open; see test_closed_postgres
        store.close()
        assert store.ping() is False
        with pytest.raises(StoreUnavailable), store.unit_of_work():
            pass

    @pytest.mark.postgres
    def test_closed_postgres(self, postgres_url: str) -> None:
        from xavyo_connectors_core.stores.postgres import PostgresStore

        store = PostgresStore(postgres_url)
        assert store.ping() is True
        store.close()
        assert store.ping() is False
        with pytest.raises(StoreUnavailable), store.unit_of_work():
            pass

    def test_unit_of_work_outside_with(self, store: Store) -> None:
        """Repositories are only usable inside the ``with`` block."""
        uow = store.unit_of_work()
        with pytest.raises(RuntimeError):
            uow.commit()


@pytest.mark.parametrize("kind", LOCAL_KINDS)
def test_a_second_writer_waits_then_gives_up(kind: str, tmp_path: Path) -> None:
    """Memory and SQLite serialize units of work: a waiter times out as StoreUnavailable."""
    if kind == "memory":
        store: Store = MemoryStore(busy_timeout=0.2)
        other = store
    else:
        store = SqliteStore(tmp_path / "busy.db")
        other = SqliteStore(tmp_path / "busy.db", busy_timeout=0.2)
    errors: list[Exception] = []

    def second() -> None:
        try:
            with other.unit_of_work() as uow:
                uow.connectors.add(b.connector(uuid.uuid4()))
                uow.commit()
        except StoreUnavailable as exc:
            errors.append(exc)

    try:
        with store.unit_of_work() as uow:
            uow.connectors.add(b.connector(uuid.uuid4()))
            thread = threading.Thread(target=second)
            thread.start()
            thread.join(timeout=10)
            uow.commit()
        assert len(errors) == 1
    finally:
        store.close()
        other.close()


def test_refresh_statistics_after_a_bulk_load(store: Store) -> None:
    """After a bulk load, ``refresh_statistics`` analyzes what changed (PostgreSQL, where
    plans without statistics scan a connector per lookup) and then has nothing to do."""
    tenant = uuid.uuid4()
    conn = b.connector(tenant)
    with store.unit_of_work() as uow:
        uow.connectors.add(conn)
        uow.shadows.upsert_many(b.shadow(tenant, conn.id, f"u{i:05d}") for i in range(3000))
        uow.commit()
    first = store.refresh_statistics()
    assert isinstance(first, list)
    if type(store).__name__ == "PostgresStore":
        deadline = time.monotonic() + 10  # the statistics collector reports within ~1 s
        while "shadows" not in first and time.monotonic() < deadline:
            time.sleep(0.2)
            first = store.refresh_statistics()
        assert "shadows" in first
    # once analyzed, nothing to do (the statistics views may lag by about a second)
    deadline = time.monotonic() + 10
    while "shadows" in store.refresh_statistics():
        assert time.monotonic() < deadline, "refresh_statistics analyzes shadows again and again"
        time.sleep(0.3)


class TestSqlitePageCache:
    def test_every_connection_gets_the_cache_asked_for(self, tmp_path: Path) -> None:
        """``cache_mib`` sets SQLite's page cache (negative ``cache_size`` = KiB)."""
        store = SqliteStore(tmp_path / "cache.db", cache_mib=8)
        try:
            conn = store._acquire()
            try:
                row = conn.execute("PRAGMA cache_size").fetchone()
                assert list(row.values()) == [-8 * 1024]
            finally:
                store._release(conn)
        finally:
            store.close()
        default = SqliteStore(tmp_path / "cache.db")
        try:
            assert default.cache_mib == 32
        finally:
            default.close()

    @pytest.mark.parametrize("bad", [0, -1, 1.5, "32", True])
    def test_a_bad_cache_size_is_refused_before_opening(self, tmp_path: Path, bad: Any) -> None:
        with pytest.raises(ValueError, match="cache_mib"):
            SqliteStore(tmp_path / "never.db", cache_mib=bad)
        assert not (tmp_path / "never.db").exists()
