"""A secret's plaintext never reaches storage: not the SQLite file, not PostgreSQL tables."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.connectors import create_connector, update_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.stores import open_store
from xavyo_connectors_core.tenancy import ensure_tenant

SECRET = "Pl41n-Secret-6f1d-must-not-be-stored"
ROTATED = "Rot4ted-Secret-90aa-must-not-be-stored"


def store_secrets(url: str, files: Path) -> None:
    store = open_store(url)
    deps = Deps(store, default_registry(), KeyRing([generate_key()]), SystemClock(), files)
    tenant = ensure_tenant(deps, "acme")
    connector = create_connector(
        deps,
        tenant.id,
        {
            "name": "scim-app",
            "type": "scim",
            "config": {"base_url": "https://scim.example.org/v2"},
            "secrets": {"token": SECRET},
        },
    )
    update_connector(deps, tenant.id, connector.id, {"secrets": {"token": ROTATED}})
    store.close()


def test_not_in_the_sqlite_file(tmp_path: Path) -> None:
    """Neither the database file nor its WAL holds the plaintext."""
    db = tmp_path / "xavyo.db"
    store_secrets(str(db), tmp_path)
    for path in tmp_path.glob("xavyo.db*"):
        raw = path.read_bytes()
        assert SECRET.encode() not in raw and ROTATED.encode() not in raw, path.name


@pytest.mark.postgres
def test_not_in_any_postgresql_table(postgres_url: str, tmp_path: Path) -> None:
    """Every row of every table, as text, lacks the plaintext."""
    store_secrets(postgres_url, tmp_path)
    with psycopg.connect(postgres_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        assert "connectors" in tables
        for table in tables:
            query = sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(table))
            for (text,) in conn.execute(query):
                assert SECRET not in text and ROTATED not in text, table
