"""Fixtures for provisioning tests: real stores, a real SQLite application table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from xavyo_connectors_core.clock import FixedClock
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.tenancy import ensure_tenant

APP_TABLE = """
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    given_name TEXT,
    active INTEGER NOT NULL DEFAULT 1
)
"""


@pytest.fixture(params=["memory", "sqlite"])
def deps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deps]:
    from xavyo_connectors_core.stores import open_store

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


@pytest.fixture
def tenant_id(deps: Deps) -> UUID:
    return ensure_tenant(deps, "acme").id


@pytest.fixture
def app_db(deps: Deps) -> Path:
    path = deps.files_root / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute(APP_TABLE)
    return path


def rows(path: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return {r["id"]: dict(r) for r in conn.execute("SELECT * FROM users")}


def app_connector(deps: Deps, tenant_id: UUID, **extra: Any) -> UUID:
    doc: dict[str, Any] = {
        "name": "app",
        "type": "sql",
        "role": "target",
        "config": {
            "url": "sqlite:///app.db",
            "table": "users",
            "uid_column": "id",
            "name_column": "email",
            "enabled_column": "active",
        },
        "mappings": [
            {"identity": "employee_id", "account": "id", "direction": "outbound"},
            {"identity": "email", "account": "email", "direction": "outbound"},
            {"identity": "given_name", "account": "given_name", "direction": "outbound"},
        ],
        "correlation": [{"identity": "employee_id", "account": "id"}],
        "scope": [{"identity": "department", "op": "eq", "value": "eng"}],
    }
    doc.update(extra)
    return create_connector(deps, tenant_id, doc).id
