"""Plain builders of domain objects for example-based contract tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from xavyo_connectors_core.model import (
    Connector,
    Discrepancy,
    Identity,
    Operation,
    OperationKind,
    Role,
    Run,
    RunKind,
    RunMode,
    Schema,
    SchemaDiff,
    SchemaVersion,
    Shadow,
    Situation,
    SyncToken,
    Tenant,
)

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


def tenant(slug: str | None = None, **kw: Any) -> Tenant:
    ident = uuid.uuid4()
    return Tenant(id=ident, slug=slug or f"t-{ident.hex[:12]}", created_at=kw.pop("created_at", T0))


def connector(tenant_id: UUID, name: str | None = None, **kw: Any) -> Connector:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "name": name or f"c-{uuid.uuid4().hex[:8]}",
        "type": "csv",
        "role": Role.TARGET,
        "config": {"path": "hr.csv", "uid_column": "id"},
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return Connector(**values)


def identity(tenant_id: UUID, attributes: dict[str, Any] | None = None, **kw: Any) -> Identity:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "attributes": attributes if attributes is not None else {"email": "a@example.org"},
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return Identity(**values)


def run(tenant_id: UUID, connector_id: UUID, **kw: Any) -> Run:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "connector_id": connector_id,
        "kind": RunKind.RECONCILIATION,
        "mode": RunMode.REPORT,
        "queued_at": T0,
    }
    values.update(kw)
    return Run(**values)


def shadow(tenant_id: UUID, connector_id: UUID, uid: str, **kw: Any) -> Shadow:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "connector_id": connector_id,
        "uid": uid,
        "name": uid,
        "attributes": {"mail": f"{uid}@example.org"},
        "attributes_hash": "h",
        "situation": Situation.LINKED,
        "last_seen_at": T0,
    }
    values.update(kw)
    return Shadow(**values)


def discrepancy(tenant_id: UUID, run_id: UUID, connector_id: UUID, **kw: Any) -> Discrepancy:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "run_id": run_id,
        "connector_id": connector_id,
        "situation": Situation.UNMATCHED,
        "created_at": T0,
        "account_uid": "u1",
    }
    values.update(kw)
    return Discrepancy(**values)


def operation(tenant_id: UUID, connector_id: UUID, **kw: Any) -> Operation:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "connector_id": connector_id,
        "kind": OperationKind.UPDATE,
        "created_at": T0,
        "updated_at": T0,
        "next_attempt_at": T0,
        "account_uid": "u1",
    }
    values.update(kw)
    return Operation(**values)


def schema_version(tenant_id: UUID, connector_id: UUID, version: int, **kw: Any) -> SchemaVersion:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "connector_id": connector_id,
        "version": version,
        "schema": Schema(object_classes=(), discovered_at=T0),
        "diff": SchemaDiff(),
        "discovered_at": T0,
    }
    values.update(kw)
    return SchemaVersion(**values)


def sync_token(tenant_id: UUID, connector_id: UUID, token: str | None = "t1") -> SyncToken:
    return SyncToken(tenant_id=tenant_id, connector_id=connector_id, token=token, updated_at=T0)
