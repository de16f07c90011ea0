"""Runs: queue, read, list and cancel sync and reconciliation runs (SPEC §3.4, §3.6).

Runs are executed by workers (``worker.py``), never inside a request. A connector has at
most one active (queued or running) run of any kind; the store enforces it.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import attrs

from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import Conflict, FieldError, InvalidInput
from xavyo_connectors_core.model import Connector, Page, Run, RunKind, RunMode, RunStatus
from xavyo_connectors_core.pagination import check_limit
from xavyo_connectors_core.schema import ensure_runnable

SYNC_MODES = (RunMode.INCREMENTAL, RunMode.FULL)


def ensure_can_run(connector: Connector) -> None:
    """Refuse work for a disabled connector or one whose mappings a schema change broke."""
    if not connector.enabled:
        raise Conflict("the connector is disabled")
    ensure_runnable(connector)


def queue_run(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    kind: RunKind,
    mode: RunMode,
    *,
    allow_mass_deletion: bool = False,
    plan_run_id: UUID | None = None,
    discrepancy_ids: tuple[UUID, ...] | None = None,
) -> Run:
    """Queue a run. Raises ``Conflict`` (with ``run_id``) when one is already active."""
    with deps.store.unit_of_work() as uow:
        connector = uow.connectors.get(tenant_id, connector_id)
        ensure_can_run(connector)
        active = uow.runs.active_for_connector(tenant_id, connector_id)
        if active is not None:
            raise Conflict("a run of this connector is already queued or running", run_id=active.id)
        run = Run(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            connector_id=connector_id,
            kind=kind,
            mode=mode,
            queued_at=deps.clock.now(),
            allow_mass_deletion=allow_mass_deletion,
            plan_run_id=plan_run_id,
            discrepancy_ids=discrepancy_ids,
        )
        uow.runs.add(run)
        uow.commit()
    return run


def parse_sync_request(body: Any) -> tuple[RunMode, bool]:
    """Validate ``{"mode": "incremental"|"full", "allow_mass_deletion": bool}`` (all optional)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput([FieldError("$", "must be a JSON object")])
    errors = [
        FieldError(k, "is not a known field")
        for k in body
        if k not in {"mode", "allow_mass_deletion"}
    ]
    mode = body.get("mode", "incremental")
    if not isinstance(mode, str) or mode not in {m.value for m in SYNC_MODES}:
        errors.append(FieldError("mode", "must be one of: incremental, full"))
    allow = body.get("allow_mass_deletion", False)
    if not isinstance(allow, bool):
        errors.append(FieldError("allow_mass_deletion", "must be a boolean"))
    if errors:
        raise InvalidInput(errors)
    return RunMode(mode), allow


def start_sync(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    body: Any = None,
) -> Run:
    """Queue a sync run (SPEC §3.4).

    Raises:
        NotFound; InvalidInput; Conflict when a run is active (``run_id``), the connector is
        disabled, or it needs attention.
    """
    mode, allow = parse_sync_request(body)
    return queue_run(deps, tenant_id, connector_id, RunKind.SYNC, mode, allow_mass_deletion=allow)


def get_run(deps: Deps, tenant_id: UUID, run_id: UUID, *, kind: RunKind | None = None) -> Run:
    from xavyo_connectors_core.errors import NotFound

    with deps.store.unit_of_work() as uow:
        run = uow.runs.get(tenant_id, run_id)
    if kind is not None and run.kind is not kind:
        raise NotFound("no such run")
    return run


def list_runs(
    deps: Deps,
    tenant_id: UUID,
    *,
    kind: RunKind | None = None,
    connector_id: UUID | None = None,
    status: RunStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Run]:
    """Runs newest first."""
    check_limit(limit)
    with deps.store.unit_of_work() as uow:
        if connector_id is not None and kind is RunKind.SYNC:
            uow.connectors.get(tenant_id, connector_id)
        return uow.runs.list(
            tenant_id,
            limit=limit,
            cursor=cursor,
            kind=kind,
            connector_id=connector_id,
            status=status,
        )


def cancel_run(deps: Deps, tenant_id: UUID, run_id: UUID) -> Run:
    """Cancel a queued run at once, or ask a running one to stop between pages."""
    with deps.store.unit_of_work() as uow:
        run = uow.runs.get(tenant_id, run_id)
        if not run.status.active:
            raise Conflict(f"the run is already {run.status.value}", run_id=run.id)
        if run.status is RunStatus.QUEUED:
            run = attrs.evolve(
                run, status=RunStatus.CANCELLED, cancel_requested=True, finished_at=deps.clock.now()
            )
        else:
            run = attrs.evolve(run, cancel_requested=True)
        uow.runs.update(run)
        uow.commit()
    return run


def sync_status(deps: Deps, tenant_id: UUID, connector_id: UUID) -> dict[str, Any]:
    """``{connector_id, state, token, current_run, last_run}`` (SPEC §4.4)."""
    with deps.store.unit_of_work() as uow:
        uow.connectors.get(tenant_id, connector_id)
        active = uow.runs.active_for_connector(tenant_id, connector_id)
        last = uow.runs.last_finished(tenant_id, connector_id, RunKind.SYNC)
        token = uow.sync_tokens.get(tenant_id, connector_id)
    state = "idle" if active is None else active.status.value
    return {
        "connector_id": str(connector_id),
        "state": state,
        "token": token.token if token else None,
        "current_run": run_document(active) if active else None,
        "last_run": run_document(last) if last else None,
    }


def run_document(run: Run) -> dict[str, Any]:
    """The run document of SPEC §4.4 (internal lease and checkpoint fields left out)."""
    doc: dict[str, Any] = {
        "id": str(run.id),
        "connector_id": str(run.connector_id),
        "kind": run.kind.value,
        "mode": run.mode.value,
        "status": run.status.value,
        "progress": {"processed": run.progress.processed, "total": run.progress.total},
        "counts": dict(run.counts),
        "actions": converter.unstructure(run.actions),
        "error": run.error,
        "allow_mass_deletion": run.allow_mass_deletion,
        "queued_at": converter.unstructure(run.queued_at),
        "started_at": converter.unstructure(run.started_at),
        "finished_at": converter.unstructure(run.finished_at),
    }
    if run.mode is RunMode.APPLY:
        doc["plan_run_id"] = str(run.plan_run_id) if run.plan_run_id else None
    return doc
