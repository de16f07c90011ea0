"""A populated API world: one of everything, per tenant, made by the real core and worker.

``populate(deps, slug)`` gives a tenant an admin and a reader token and, through the core
use cases and a real worker, one of every resource the API serves:

- ``hr`` — a ``csv`` source over a real file, synced once (identities, shadows, a sync
  run with counts, a token);
- ``app`` — a ``sql`` target over a real SQLite table, with outbound mappings and scope;
  identity changes queue operations, one of which (no email: NOT NULL) is dead;
- a succeeded ``report`` reconciliation run of ``app`` with discrepancies (an orphan
  account, unmatched);
- ``vault`` — a test-only type with a secret;
- a disabled connector.

Everything is created through public functions; nothing is inserted behind their back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from attrs import frozen

from tests.api.fakes import VaultType
from xavyo_connectors_core import (
    connectors,
    identities,
    provisioning,
    reconciliation,
    runs,
    tenancy,
)
from xavyo_connectors_core import schema as schemas
from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import OperationStatus, RunKind, RunStatus, TokenRole
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.worker import Worker

VAULT_PASSWORD = "w0rld-Vault-Passw0rd-3f9a"
"""The secret of every world's ``vault`` connector."""

APP_TABLE = """
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    given_name TEXT,
    active INTEGER NOT NULL DEFAULT 1
)
"""


@frozen
class World:
    """What ``populate`` made for one tenant (ids as strings, as the API shows them)."""

    slug: str
    tenant_id: UUID
    admin: str
    reader: str
    hr: str
    app: str
    vault: str
    disabled: str
    identity: str
    sync_run: str
    reconciliation_run: str
    discrepancy: str
    operation: str
    dead_operation: str

    def path_ids(self) -> dict[str, str]:
        """An id of this world for every path parameter name of the API."""
        return {
            "connector_id": self.app,
            "identity_id": self.identity,
            "operation_id": self.dead_operation,
            "run_id": self.reconciliation_run,
        }

    def ids_for(self, path: str) -> dict[str, str]:
        """Real ids for the path parameters of ``path`` (a sync run under ``…/sync``)."""
        ids = self.path_ids()
        if "/sync/" in path:
            ids = {**ids, "connector_id": self.hr, "run_id": self.sync_run}
        return ids

    def every_id(self) -> set[str]:
        """Every id of this world (to look for in another tenant's answers)."""
        return {
            str(self.tenant_id),
            self.hr,
            self.app,
            self.vault,
            self.disabled,
            self.identity,
            self.sync_run,
            self.reconciliation_run,
            self.discrepancy,
            self.operation,
            self.dead_operation,
        }


def make_deps(root: Path, *, keyring: KeyRing | None = None) -> Deps:
    """Deps over a real SQLite store in ``root`` (migrated), with the ``vault`` type."""
    from xavyo_connectors_core.stores.sqlite import SqliteStore

    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(root / "xavyo.db")
    store.migrate()
    registry = default_registry()
    registry.register(VaultType(expected_password=VAULT_PASSWORD))
    return Deps(
        store=store,
        registry=registry,
        keyring=keyring or KeyRing([generate_key()]),
        clock=SystemClock(),
        files_root=files,
    )


@contextmanager
def world_deps(root: Path) -> Iterator[Deps]:
    """``make_deps``, closing the store afterwards."""
    deps = make_deps(root)
    try:
        yield deps
    finally:
        deps.store.close()


def _person(n: int, department: str = "eng", **over: Any) -> dict[str, Any]:
    attributes = {
        "employee_id": f"E{n}",
        "email": f"e{n}@example.org",
        "given_name": f"Given {n}",
        "department": department,
    }
    attributes.update(over)
    return {"attributes": {k: v for k, v in attributes.items() if v is not None}}


def populate(deps: Deps, slug: str) -> World:
    """Give the tenant ``slug`` one of everything (see the module docstring)."""
    tenant = tenancy.ensure_tenant(deps, slug)
    tid = tenant.id
    _, admin = tenancy.create_api_token(deps, tid, TokenRole.ADMIN, name="admin")
    _, reader = tenancy.create_api_token(deps, tid, TokenRole.READER, name="reader")
    files = deps.files_root
    assert files is not None

    hr_file = f"{slug}-hr.csv"
    (files / hr_file).write_text(
        "employee_id,mail,given_name,department\n"
        "E1,e1@example.org,Ada,eng\n"
        "E2,e2@example.org,Grace,eng\n"
        "E3,e3@example.org,Alan,ops\n",
        encoding="utf-8",
    )
    hr = connectors.create_connector(
        deps,
        tid,
        {
            "name": f"{slug}-hr",
            "type": "csv",
            "role": "source",
            "config": {"path": hr_file, "uid_column": "employee_id"},
            "mappings": [
                {"identity": "employee_id", "account": "employee_id", "direction": "inbound"},
                {"identity": "email", "account": "mail", "direction": "inbound"},
                {"identity": "given_name", "account": "given_name", "direction": "inbound"},
                {"identity": "department", "account": "department", "direction": "inbound"},
            ],
            "correlation": [{"identity": "employee_id", "account": "employee_id"}],
        },
    )
    sync_run = runs.start_sync(deps, tid, hr.id, {"mode": "full"})
    Worker(deps, owner=f"{slug}-worker").drain()
    finished = runs.get_run(deps, tid, sync_run.id)
    assert finished.status is RunStatus.SUCCEEDED, finished.error

    app_file = f"{slug}-app.db"
    with sqlite3.connect(files / app_file) as conn:
        conn.execute(APP_TABLE)
        conn.execute("INSERT INTO users (id, email) VALUES ('X1', 'orphan@example.org')")
    app = connectors.create_connector(
        deps,
        tid,
        {
            "name": f"{slug}-app",
            "type": "sql",
            "role": "target",
            "config": {
                "url": f"sqlite:///{app_file}",
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
            "max_attempts": 2,
        },
    )
    schemas.get_schema(deps, tid, app.id)
    identity = identities.create_identity(deps, tid, _person(7))
    identities.create_identity(deps, tid, _person(8, email=None))  # NOT NULL: dead at once
    provisioning.Provisioner(deps, owner=f"{slug}-provisioner").drain()
    dead = provisioning.list_dead(deps, tid).items
    assert len(dead) == 1, dead
    with deps.store.unit_of_work() as uow:
        succeeded = uow.operations.list(
            tid, limit=1, statuses=[OperationStatus.SUCCEEDED], connector_id=app.id
        ).items
    assert succeeded, "no operation succeeded"

    report = reconciliation.start_reconciliation(
        deps, tid, {"connector_id": str(app.id), "mode": "report"}
    )
    Worker(deps, owner=f"{slug}-worker").drain()
    report_run = runs.get_run(deps, tid, report.id, kind=RunKind.RECONCILIATION)
    assert report_run.status is RunStatus.SUCCEEDED, report_run.error
    found = reconciliation.list_discrepancies(deps, tid, report.id).items
    assert found, "the report run found nothing"

    vault = connectors.create_connector(
        deps,
        tid,
        {
            "name": f"{slug}-vault",
            "type": "vault",
            "config": {"url": "https://vault.example"},
            "secrets": {"password": VAULT_PASSWORD},
        },
    )
    disabled = connectors.create_connector(
        deps,
        tid,
        {
            "name": f"{slug}-disabled",
            "type": "vault",
            "enabled": False,
            "config": {"url": "https://vault.example"},
        },
    )
    return World(
        slug=slug,
        tenant_id=tid,
        admin=admin,
        reader=reader,
        hr=str(hr.id),
        app=str(app.id),
        vault=str(vault.id),
        disabled=str(disabled.id),
        identity=str(identity.id),
        sync_run=str(sync_run.id),
        reconciliation_run=str(report.id),
        discrepancy=str(found[0].id),
        operation=str(succeeded[0].id),
        dead_operation=str(dead[0].id),
    )
