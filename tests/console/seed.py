"""A tenant worth looking at, built with the core functions only (no SQL, no HTTP).

- ``hr-feed``: a csv source, synced once (5 identities), then a ``phone`` column appears
  (schema version 2, diff ``+phone``);
- ``legacy-export``: a csv source whose mapped column disappeared (``needs_attention``);
- ``app``: a sql target over a SQLite application table: a first remediate run linked
  E1/E2 and provisioned E3/E4, then E2's ``given_name`` drifted (mismatched) and an
  orphan X9 stays unmatched; its three ``create`` operations for E6-E8 were
  dead-lettered while the table was away (it is back now, so a retry succeeds);
- ``crm``: a sql target whose database has gone away: its operations keep failing
  transiently and the connector is quarantined;
- ``saas-directory``: a disabled scim target with a secret token (shown by name only);
- an ``other`` tenant with a connector the ``acme`` tokens must never see.
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

from attrs import frozen

from xavyo_connectors_core import tenancy
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.identities import create_identity, list_identities
from xavyo_connectors_core.model import RunStatus, TokenRole
from xavyo_connectors_core.provisioning import Provisioner, list_dead, queue_stats
from xavyo_connectors_core.reconciliation import start_reconciliation
from xavyo_connectors_core.runs import get_run, start_sync
from xavyo_connectors_core.schema import get_schema
from xavyo_connectors_core.worker import Worker, drain_all

SECRET = "s3cret-Bearer-Token-9f2a71"
"""The one secret value seeded (on ``saas-directory``); no page may ever show it."""

APP_TABLE = """
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    given_name TEXT,
    active INTEGER NOT NULL DEFAULT 1
)
"""

PEOPLE = [
    ("E1", "ada@example.org", "Ada", "eng"),
    ("E2", "grace@example.org", "Grace", "eng"),
    ("E3", "alan@example.org", "Alan", "eng"),
    ("E4", "edsger@example.org", "Edsger", "eng"),
    ("E5", "barbara@example.org", "Barbara", "sales"),
]


@frozen
class Seeded:
    """What the tests need to know about the seeded world."""

    tenant_id: UUID
    admin_token: str
    reader_token: str
    hr_id: UUID
    legacy_id: UUID
    app_id: UUID
    crm_id: UUID
    scim_id: UUID
    other_connector_id: UUID
    dead_ids: tuple[UUID, ...]
    app_db: Path
    identity_ids: dict[str, UUID]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _hr(deps: Deps, tenant_id: UUID) -> UUID:
    path = deps.files_root / "hr.csv"
    header = ["employee_id", "email", "given_name", "department"]
    _write_csv(path, header, [list(p) for p in PEOPLE])
    cid = create_connector(
        deps,
        tenant_id,
        {
            "name": "hr-feed",
            "type": "csv",
            "role": "source",
            "description": "Nightly HR export",
            "config": {"path": "hr.csv", "uid_column": "employee_id"},
            "mappings": [
                {"identity": "employee_id", "account": "employee_id", "direction": "inbound"},
                {
                    "identity": "email",
                    "account": "email",
                    "direction": "inbound",
                    "transform": "lower",
                },
                {"identity": "given_name", "account": "given_name", "direction": "inbound"},
                {"identity": "department", "account": "department", "direction": "inbound"},
            ],
            "correlation": [{"identity": "employee_id", "account": "employee_id"}],
        },
    ).id
    run = start_sync(deps, tenant_id, cid, None)
    Worker(deps, owner="seed").drain()
    assert get_run(deps, tenant_id, run.id).status is RunStatus.SUCCEEDED
    # a column appears: schema version 2 with a diff, mappings still fine
    _write_csv(path, [*header, "phone"], [[*p, "+1 555 0100"] for p in PEOPLE])
    get_schema(deps, tenant_id, cid, refresh=True)
    return cid


def _legacy(deps: Deps, tenant_id: UUID) -> UUID:
    path = deps.files_root / "legacy.csv"
    _write_csv(path, ["uid", "mail"], [["L1", "l1@example.org"]])
    cid = create_connector(
        deps,
        tenant_id,
        {
            "name": "legacy-export",
            "type": "csv",
            "role": "source",
            "config": {"path": "legacy.csv", "uid_column": "uid"},
            "mappings": [{"identity": "email", "account": "mail", "direction": "inbound"}],
        },
    ).id
    _write_csv(path, ["uid", "email_address"], [["L1", "l1@example.org"]])
    get_schema(deps, tenant_id, cid, refresh=True)  # the mapped column is gone
    return cid


def _app(deps: Deps, tenant_id: UUID, name: str, db: str, **extra: Any) -> UUID:
    doc: dict[str, Any] = {
        "name": name,
        "type": "sql",
        "role": "target",
        "config": {
            "url": f"sqlite:///{db}",
            "table": "users",
            "uid_column": "id",
            "name_column": "email",
            "enabled_column": "active",
        },
        "scope": [{"identity": "department", "op": "eq", "value": "eng"}],
        "max_attempts": 1,
    }
    doc.update(extra)
    return create_connector(deps, tenant_id, doc).id


def seed(deps: Deps) -> Seeded:
    """Build the world described in the module docstring; return its ids and tokens."""
    tenant = tenancy.ensure_tenant(deps, "acme")
    _, admin = tenancy.create_api_token(deps, tenant.id, TokenRole.ADMIN, name="admin")
    _, reader = tenancy.create_api_token(deps, tenant.id, TokenRole.READER, name="reader")
    hr_id = _hr(deps, tenant.id)
    legacy_id = _legacy(deps, tenant.id)

    app_db = deps.files_root / "app.db"
    with sqlite3.connect(app_db) as conn:
        conn.execute(APP_TABLE)
        conn.executemany(
            "INSERT INTO users (id, email, given_name) VALUES (?, ?, ?)",
            [
                ("E1", "ada@example.org", "Ada"),
                ("E2", "grace@example.org", "Grace"),
                ("X9", "nobody@example.org", "Orphan"),
            ],
        )
    conn.close()
    app_id = _app(
        deps,
        tenant.id,
        "app",
        "app.db",
        mappings=[
            {"identity": "employee_id", "account": "id", "direction": "outbound"},
            {"identity": "email", "account": "email", "direction": "outbound"},
            {"identity": "given_name", "account": "given_name", "direction": "outbound"},
        ],
        correlation=[{"identity": "employee_id", "account": "id"}],
    )
    # a first remediate run links E1/E2 and provisions E3/E4; then E2 drifts
    first = start_reconciliation(
        deps, tenant.id, {"connector_id": str(app_id), "mode": "remediate"}
    )
    drain_all(deps)
    assert get_run(deps, tenant.id, first.id).status is RunStatus.SUCCEEDED
    with sqlite3.connect(app_db) as conn:
        conn.execute("UPDATE users SET given_name = 'Changed' WHERE id = 'E2'")
    conn.close()

    # the target goes away while three new identities are provisioned: all dead-letter
    away = app_db.with_name("app.db.away")
    app_db.rename(away)
    for employee_id, given in (("E6", "Hedy"), ("E7", "Radia"), ("E8", "Frances")):
        create_identity(
            deps,
            tenant.id,
            {
                "attributes": {
                    "employee_id": employee_id,
                    "email": f"{given.lower()}@example.org",
                    "given_name": given,
                    "department": "eng",
                }
            },
        )
    Provisioner(deps, owner="seed").drain()
    away.rename(app_db)
    dead = tuple(op.id for op in list_dead(deps, tenant.id).items)
    assert len(dead) == 3, dead

    # crm's database is gone for good: its operations keep failing, it is quarantined
    crm_db = deps.files_root / "crm.db"
    with sqlite3.connect(crm_db) as conn:
        conn.execute(APP_TABLE)
    conn.close()
    crm_id = _app(
        deps,
        tenant.id,
        "crm",
        "crm.db",
        mappings=[
            {"identity": "employee_id", "account": "id", "direction": "outbound"},
            {"identity": "email", "account": "email", "direction": "outbound"},
        ],
        scope=[{"identity": "department", "op": "eq", "value": "ops"}],
        max_attempts=8,
    )
    crm_db.unlink()
    for i in range(6):
        create_identity(
            deps,
            tenant.id,
            {"attributes": {"employee_id": f"O{i}", "email": f"o{i}@x.org", "department": "ops"}},
        )
    Provisioner(deps, owner="seed").drain()
    stats = queue_stats(deps, tenant.id)
    assert any(c["quarantined_until"] for c in stats["connectors"]), stats

    scim_id = create_connector(
        deps,
        tenant.id,
        {
            "name": "saas-directory",
            "type": "scim",
            "description": "Paused while the vendor migrates",
            "enabled": False,
            "config": {"base_url": "https://scim.example.invalid/v2"},
            "secrets": {"token": SECRET},
        },
    ).id

    other = tenancy.ensure_tenant(deps, "other")
    _write_csv(deps.files_root / "other.csv", ["uid"], [["Z1"]])
    other_connector = create_connector(
        deps,
        other.id,
        {
            "name": "other-secret-feed",
            "type": "csv",
            "config": {"path": "other.csv", "uid_column": "uid"},
        },
    ).id
    return Seeded(
        tenant_id=tenant.id,
        admin_token=admin,
        reader_token=reader,
        hr_id=hr_id,
        legacy_id=legacy_id,
        app_id=app_id,
        crm_id=crm_id,
        scim_id=scim_id,
        other_connector_id=other_connector,
        dead_ids=dead,
        app_db=app_db,
        identity_ids={
            str(i.attributes["employee_id"]): i.id
            for i in list_identities(deps, tenant.id, limit=500).items
        },
    )
