"""Reconciliation runs against the same real stores and application table as provisioning,
and against PostgreSQL too: there pass 1 reads each page ahead on a second connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.provisioning.conftest import app_db, tenant_id
from xavyo_connectors_core.clock import FixedClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key

__all__ = ["app_db", "deps", "tenant_id"]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deps]:
    from xavyo_connectors_core.stores import open_store

    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = "memory:" if request.param == "memory" else str(tmp_path / "store.db")
    store = open_store(url)
    files = tmp_path / "files"
    files.mkdir()
    yield Deps(
        store=store,
        registry=default_registry(),
        keyring=KeyRing([generate_key()]),
        clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)),
        files_root=files,
    )
    store.close()
