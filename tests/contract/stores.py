"""Opening each store adapter for a test: the one place the contract suite names them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from xavyo_connectors_core.ports import Store

KINDS = [
    pytest.param("memory", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
"""Every adapter; PostgreSQL is marked so ``-m 'not postgres'`` can leave it out."""

LOCAL_KINDS = KINDS[:2]

EMPTY = "; ".join(
    f"DELETE FROM {table}"  # DELETE beats TRUNCATE by far on near-empty tables
    for table in (
        "identity_values",
        "identities",
        "sync_tokens",
        "connector_health",
        "shadows",
        "schema_versions",
        "connectors",
        "runs",
        "discrepancies",
        "operations",
        "api_tokens",
        "tenants",
    )
)
"""Empties the shared PostgreSQL contract database between tests."""


def open_test_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """A fresh, migrated, empty store of ``kind``."""
    if kind == "memory":
        from xavyo_connectors_core.stores.memory import MemoryStore

        return MemoryStore()
    if kind == "sqlite":
        from xavyo_connectors_core.stores.sqlite import SqliteStore

        return SqliteStore(tmp_path / "store.db")
    from xavyo_connectors_core.stores.postgres import PostgresStore

    return PostgresStore(request.getfixturevalue("postgres_url"), min_size=1, max_size=4)


def hypothesis_settings(kind: str) -> settings:
    """Many examples in memory, a few on the SQL stores (each example is real I/O)."""
    return settings(
        max_examples=60 if kind == "memory" else 25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
