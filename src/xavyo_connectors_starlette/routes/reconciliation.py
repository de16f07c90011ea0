"""Reconciliation runs over HTTP (SPEC §3.6, §3.10, §4.1, §4.2)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router

from xavyo_connectors_core import reconciliation, runs
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import DiscrepancyStatus, RunKind, RunStatus, Situation
from xavyo_connectors_starlette.auth import authorize
from xavyo_connectors_starlette.body import JSON, read_json, read_optional_json
from xavyo_connectors_starlette.operations import (
    IGNORED_BODY,
    PAGE,
    Answer,
    Operation,
    documented,
    enum_param,
    json_body,
    uuid_param,
)
from xavyo_connectors_starlette.pagination import PageParams, page_document, page_params
from xavyo_connectors_starlette.params import enum_query, path_id, uuid_query
from xavyo_connectors_starlette.routes._http import json, route
from xavyo_connectors_starlette.state import deps_of

Document = dict[str, Any]


def _run_answer(description: str) -> Answer:
    return Answer(
        202,
        "Run",
        description,
        headers=("Location",),
        link_as="run_id",
        link_within="/reconciliation",
    )


def _run_location(request: Request, run_id: str) -> str:
    base = str(request.url.path).split("/reconciliation/runs")[0]
    return f"{base}/reconciliation/runs/{run_id}"


def _start(deps: Deps, tenant_id: UUID, body: Any) -> Document:
    return runs.run_document(reconciliation.start_reconciliation(deps, tenant_id, body))


def _list(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID | None,
    status: RunStatus | None,
    page: PageParams,
) -> Document:
    found = runs.list_runs(
        deps,
        tenant_id,
        kind=RunKind.RECONCILIATION,
        connector_id=connector_id,
        status=status,
        limit=page.limit,
        cursor=page.cursor,
    )
    return page_document(found, runs.run_document)


def _get(deps: Deps, tenant_id: UUID, run_id: UUID) -> Document:
    return runs.run_document(runs.get_run(deps, tenant_id, run_id, kind=RunKind.RECONCILIATION))


def _cancel(deps: Deps, tenant_id: UUID, run_id: UUID) -> Document:
    runs.get_run(deps, tenant_id, run_id, kind=RunKind.RECONCILIATION)
    return runs.run_document(runs.cancel_run(deps, tenant_id, run_id))


def _apply(deps: Deps, tenant_id: UUID, run_id: UUID, body: Any) -> Document:
    return runs.run_document(reconciliation.apply_plan(deps, tenant_id, run_id, body))


def _discrepancies(
    deps: Deps,
    tenant_id: UUID,
    run_id: UUID,
    situation: Situation | None,
    status: DiscrepancyStatus | None,
    page: PageParams,
) -> Document:
    found = reconciliation.list_discrepancies(
        deps,
        tenant_id,
        run_id,
        situation=situation,
        status=status,
        limit=page.limit,
        cursor=page.cursor,
    )
    return page_document(found, reconciliation.discrepancy_document)


@documented(
    Operation(
        summary="Start a reconciliation run",
        tag="reconciliation",
        answer=_run_answer("The queued run; Location is the run."),
        body=json_body(
            "ReconciliationRequest",
            {"connector_id": "5f0c6d1e-8a4b-4f7e-9c51-2b7d3e9a1c40", "mode": "report"},
        ),
        errors={404, 409},
    )
)
async def start_run(request: Request) -> Response:
    """``POST /reconciliation/runs {connector_id, mode}``: 202 with the queued run."""
    principal = await authorize(request)
    body = await read_json(request, media_types=JSON)
    document = await run_in_threadpool(_start, deps_of(request), principal.tenant_id, body)
    return json(document, 202, headers={"Location": _run_location(request, document["id"])})


@documented(
    Operation(
        summary="List reconciliation runs",
        tag="reconciliation",
        answer=Answer(200, "RunPage", "Reconciliation runs, newest first."),
        params=(
            *PAGE,
            uuid_param("connector_id", "Only runs of this connector."),
            enum_param("status", RunStatus, "Only runs with this status."),
        ),
    )
)
async def list_runs(request: Request) -> Response:
    """``GET /reconciliation/runs?connector_id=&status=``: newest first."""
    principal = await authorize(request)
    connector_id = uuid_query(request, "connector_id")
    status = enum_query(request, "status", RunStatus)
    page = page_params(request)
    document = await run_in_threadpool(
        _list, deps_of(request), principal.tenant_id, connector_id, status, page
    )
    return json(document)


@documented(
    Operation(
        summary="Get a reconciliation run",
        tag="reconciliation",
        answer=Answer(
            200,
            "Run",
            "Status, progress, counts.",
            link_as="run_id",
            link_within="/reconciliation",
        ),
    )
)
async def get_run(request: Request) -> Response:
    """``GET /reconciliation/runs/{id}``: status, progress, counts."""
    principal = await authorize(request)
    run_id = path_id(request, "run_id", "run")
    document = await run_in_threadpool(_get, deps_of(request), principal.tenant_id, run_id)
    return json(document)


@documented(
    Operation(
        summary="Cancel a reconciliation run",
        tag="reconciliation",
        answer=_run_answer("The run: cancelled if it was queued, else stopping between pages."),
        body=IGNORED_BODY,
        errors={409},
    )
)
async def cancel_run(request: Request) -> Response:
    """``POST /reconciliation/runs/{id}/cancel``: 202; stops between pages."""
    principal = await authorize(request)
    run_id = path_id(request, "run_id", "run")
    await read_optional_json(request, media_types=JSON)
    document = await run_in_threadpool(_cancel, deps_of(request), principal.tenant_id, run_id)
    return json(document, 202, headers={"Location": _run_location(request, document["id"])})


@documented(
    Operation(
        summary="Apply a report run's plan",
        tag="reconciliation",
        answer=_run_answer("The queued apply run (plan_run_id is the report run)."),
        body=json_body("ApplyRequest", {}, required=False),
        errors={409},
    )
)
async def apply_run(request: Request) -> Response:
    """``POST /reconciliation/runs/{id}/apply {discrepancy_ids?}``: 202 with the apply run."""
    principal = await authorize(request)
    run_id = path_id(request, "run_id", "run")
    body = await read_optional_json(request, media_types=JSON)
    document = await run_in_threadpool(_apply, deps_of(request), principal.tenant_id, run_id, body)
    return json(document, 202, headers={"Location": _run_location(request, document["id"])})


@documented(
    Operation(
        summary="List a run's discrepancies",
        tag="reconciliation",
        answer=Answer(200, "DiscrepancyPage", "The run's discrepancies, oldest first."),
        params=(
            *PAGE,
            enum_param("situation", Situation, "Only discrepancies of this situation."),
            enum_param("status", DiscrepancyStatus, "Only open or only resolved ones."),
        ),
    )
)
async def list_discrepancies(request: Request) -> Response:
    """``GET /reconciliation/runs/{id}/discrepancies?situation=&status=``."""
    principal = await authorize(request)
    run_id = path_id(request, "run_id", "run")
    situation = enum_query(request, "situation", Situation)
    status = enum_query(request, "status", DiscrepancyStatus)
    page = page_params(request)
    document = await run_in_threadpool(
        _discrepancies, deps_of(request), principal.tenant_id, run_id, situation, status, page
    )
    return json(document)


def routes() -> list[BaseRoute]:
    """The reconciliation routes."""
    return [
        route("/reconciliation/runs", GET=list_runs, POST=start_run),
        route("/reconciliation/runs/{run_id}", GET=get_run),
        route("/reconciliation/runs/{run_id}/cancel", POST=cancel_run),
        route("/reconciliation/runs/{run_id}/apply", POST=apply_run),
        route("/reconciliation/runs/{run_id}/discrepancies", GET=list_discrepancies),
    ]


def reconciliation_router() -> Router:
    """A router of the reconciliation endpoints, to mount or to spread into a host app."""
    return Router(routes())
