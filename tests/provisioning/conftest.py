"""Fixtures for provisioning tests: real stores, a real SQLite application table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.support.deps import engine_deps, store_url
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
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
    with engine_deps(store_url(request.param, request, tmp_path), tmp_path) as deps:
        yield deps


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
