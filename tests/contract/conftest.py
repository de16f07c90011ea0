"""The contract suite's fixtures: one ``store`` per adapter (memory | sqlite | postgres).

Every test in ``tests/contract`` runs against every adapter. Memory and SQLite stores are
fresh per test (SQLite in ``tmp_path``). PostgreSQL tests share one migrated database on
the session's server, emptied before each test (≈ms, where a fresh database costs
≈0.35 s); they are marked ``postgres``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.contract.stores import EMPTY, KINDS, open_test_store
from tests.support.postgres import fresh_database
from xavyo_connectors_core.ports import Store


@pytest.fixture(scope="session")
def contract_postgres(postgres_server_url: str) -> Iterator[tuple[Store, Any]]:
    """One migrated PostgreSQL store for the session, and a connection to empty it."""
    import psycopg

    from xavyo_connectors_core.stores.postgres import PostgresStore

    with fresh_database(postgres_server_url) as url:
        shared = PostgresStore(url, min_size=1, max_size=6)
        admin = psycopg.connect(url, autocommit=True)
        try:
            yield shared, admin
        finally:
            admin.close()
            shared.close()


@pytest.fixture(params=KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The adapter under test."""
    return str(request.param)


@pytest.fixture
def store(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty, migrated store of the adapter under test."""
    if store_kind == "postgres":
        shared, admin = request.getfixturevalue("contract_postgres")
        admin.execute(EMPTY)
        yield shared
        return
    opened = open_test_store(store_kind, tmp_path, request)
    yield opened
    opened.close()
