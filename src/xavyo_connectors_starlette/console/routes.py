"""The console's pages and actions: each calls the same core functions as the API.

Reads run in the threadpool as one function that gathers a page's documents (the API's
own ``*_document`` renderings); actions call one core use case each and redirect with a
flash. Validation, tenancy, roles and every business rule stay in the core and in
``authorize``: the console only decides what to show.
"""

from __future__ import annotations

import enum
import urllib.parse
from typing import Any, TypeVar
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xavyo_connectors_core import (
    accounts,
    connectors,
    documents,
    provisioning,
    reconciliation,
    runs,
)
from xavyo_connectors_core import schema as schemas
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import (
    DiscrepancyStatus,
    OperationStatus,
    RunKind,
    RunMode,
    RunStatus,
    Situation,
)
from xavyo_connectors_core.pagination import MAX_LIMIT
from xavyo_connectors_starlette.console.context import (
    Console,
    Ctx,
    Handler,
    action,
    data,
    json_answer,
    page,
)
from xavyo_connectors_starlette.console.render import SECURITY_HEADERS, situation_chart
from xavyo_connectors_starlette.pagination import PageParams, page_params
from xavyo_connectors_starlette.params import bool_query, enum_query, path_id, uuid_query

Document = dict[str, Any]
E = TypeVar("E", bound=enum.Enum)


# --------------------------------------------------------------------------- helpers


def _names(deps: Deps, tenant_id: UUID) -> dict[str, str]:
    """Connector id -> name, for every connector of the tenant."""
    names: dict[str, str] = {}
    cursor = None
    while True:
        found = connectors.list_connectors(deps, tenant_id, limit=MAX_LIMIT, cursor=cursor)
        names.update({str(c.id): c.name for c in found.items})
        cursor = found.next_cursor
        if cursor is None:
            return names


def _next_url(request: Request, cursor: str | None) -> str | None:
    """This page's URL with ``cursor`` set: the "next page" link."""
    if cursor is None:
        return None
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    query.append(("cursor", cursor))
    return f"{request.url.path}?{urllib.parse.urlencode(query)}"


def _enum_filter(request: Request, name: str, cls: type[E]) -> E | None:
    """A filter of a GET form: an empty choice ("any") is no filter."""
    return enum_query(request, name, cls) if request.query_params.get(name) else None


def _uuid_filter(request: Request, name: str) -> UUID | None:
    return uuid_query(request, name) if request.query_params.get(name) else None


def _bool_filter(request: Request, name: str) -> bool | None:
    return bool_query(request, name) if request.query_params.get(name) else None


def _connector_id(ctx: Ctx) -> UUID:
    return path_id(ctx.request, "connector_id", "connector")


def _run_id(ctx: Ctx) -> UUID:
    return path_id(ctx.request, "run_id", "run")


def _operation_id(ctx: Ctx) -> UUID:
    return path_id(ctx.request, "operation_id", "operation")


async def home(ctx: Ctx) -> Response:
    return RedirectResponse(f"{ctx.base}/connectors", 303, headers=dict(SECURITY_HEADERS))


# --------------------------------------------------------------------------- connectors


def _connectors(deps: Deps, tenant_id: UUID, page: PageParams) -> Document:
    found = connectors.list_connectors(deps, tenant_id, limit=page.limit, cursor=page.cursor)
    rows = [
        {
            "connector": connectors.connector_document(c),
            "sync": runs.sync_status(deps, tenant_id, c.id),
        }
        for c in found.items
    ]
    return {"rows": rows, "next_cursor": found.next_cursor}


async def connectors_page(ctx: Ctx) -> Response:
    params = page_params(ctx.request)
    found = await run_in_threadpool(_connectors, ctx.deps, ctx.tenant_id, params)
    return ctx.render(
        "connectors.html",
        section="connectors",
        rows=found["rows"],
        next_url=_next_url(ctx.request, found["next_cursor"]),
    )


def _connector(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    situation: Situation | None,
    linked: bool | None,
    page: PageParams,
) -> Document:
    connector = connectors.get_connector(deps, tenant_id, connector_id)
    versions = schemas.list_schema_versions(deps, tenant_id, connector_id, limit=20).items
    account_class: Document | None = None
    object_classes = 0
    if versions:
        schema_doc = documents.schema_document(versions[0])
        object_classes = len(schema_doc["object_classes"])
        found_class = schemas.account_class(deps, connector, versions[0].schema)
        account_class = next(
            (
                oc
                for oc in schema_doc["object_classes"]
                if found_class is not None and oc["name"] == found_class.name
            ),
            None,
        )
    shadows = accounts.list_accounts(
        deps,
        tenant_id,
        connector_id,
        situation=situation,
        linked=linked,
        limit=page.limit,
        cursor=page.cursor,
    )
    recent = runs.list_runs(deps, tenant_id, connector_id=connector_id, limit=10)
    return {
        "connector": connectors.connector_document(connector),
        "sync": runs.sync_status(deps, tenant_id, connector_id),
        "account_class": account_class,
        "object_classes": object_classes,
        "versions": [documents.schema_version_document(v) for v in versions],
        "accounts": [accounts.shadow_document(s) for s in shadows.items],
        "next_cursor": shadows.next_cursor,
        "runs": [runs.run_document(r) for r in recent.items],
    }


async def connector_page(ctx: Ctx) -> Response:
    connector_id = _connector_id(ctx)
    situation = _enum_filter(ctx.request, "situation", Situation)
    linked = _bool_filter(ctx.request, "linked")
    params = page_params(ctx.request)
    found = await run_in_threadpool(
        _connector, ctx.deps, ctx.tenant_id, connector_id, situation, linked, params
    )
    return ctx.render(
        "connector.html",
        section="connectors",
        situations=[s.value for s in Situation],
        situation=situation.value if situation else "",
        linked="" if linked is None else str(linked).lower(),
        next_url=_next_url(ctx.request, found.pop("next_cursor")),
        **found,
    )


async def test_connector(ctx: Ctx) -> Response:
    connector_id = _connector_id(ctx)
    result = await run_in_threadpool(
        connectors.test_connector, ctx.deps, ctx.tenant_id, connector_id
    )
    text = f"Connection test: {result.message} ({result.latency_ms} ms)."
    if result.ok:
        return ctx.redirect(ctx.back(), ok=text)
    return ctx.redirect(ctx.back(), error=text)


async def sync_connector(ctx: Ctx) -> Response:
    connector_id = _connector_id(ctx)
    run = await run_in_threadpool(runs.start_sync, ctx.deps, ctx.tenant_id, connector_id, None)
    return ctx.redirect(ctx.back(), ok=f"Sync queued (run {str(run.id)[:8]}).")


async def discover_schema(ctx: Ctx) -> Response:
    connector_id = _connector_id(ctx)
    version = await run_in_threadpool(
        lambda: schemas.get_schema(ctx.deps, ctx.tenant_id, connector_id, refresh=True)
    )
    return ctx.redirect(ctx.back(), ok=f"Schema discovered (version {version.version}).")


# --------------------------------------------------------------------------- runs


def _runs(
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
    return {
        "runs": [runs.run_document(r) for r in found.items],
        "names": _names(deps, tenant_id),
        "next_cursor": found.next_cursor,
    }


async def runs_page(ctx: Ctx) -> Response:
    connector_id = _uuid_filter(ctx.request, "connector_id")
    status = _enum_filter(ctx.request, "status", RunStatus)
    params = page_params(ctx.request)
    found = await run_in_threadpool(_runs, ctx.deps, ctx.tenant_id, connector_id, status, params)
    return ctx.render(
        "runs.html",
        section="runs",
        runs=found["runs"],
        names=found["names"],
        connector_filter=str(connector_id) if connector_id else "",
        status_filter=status.value if status else "",
        statuses=[s.value for s in RunStatus],
        next_url=_next_url(ctx.request, found["next_cursor"]),
    )


async def start_run(ctx: Ctx) -> Response:
    body: Document = {"connector_id": ctx.field("connector_id"), "mode": ctx.field("mode")}
    if body["mode"] is None:
        del body["mode"]
    if ctx.field("allow_mass_deletion") == "true":
        body["allow_mass_deletion"] = True
    run = await run_in_threadpool(
        reconciliation.start_reconciliation, ctx.deps, ctx.tenant_id, body
    )
    return ctx.redirect(f"{ctx.base}/runs/{run.id}", ok="Reconciliation queued.")


def _run(
    deps: Deps,
    tenant_id: UUID,
    run_id: UUID,
    situation: Situation | None,
    status: DiscrepancyStatus | None,
    page: PageParams,
) -> Document:
    run = runs.get_run(deps, tenant_id, run_id, kind=RunKind.RECONCILIATION)
    found = reconciliation.list_discrepancies(
        deps,
        tenant_id,
        run_id,
        situation=situation,
        status=status,
        limit=page.limit,
        cursor=page.cursor,
    )
    return {
        "run": runs.run_document(run),
        "chart": situation_chart(run.counts, extra=("stale",)),
        "plan": run.mode is RunMode.REPORT and run.status is RunStatus.SUCCEEDED,
        "discrepancies": [reconciliation.discrepancy_document(d) for d in found.items],
        "names": _names(deps, tenant_id),
        "next_cursor": found.next_cursor,
    }


async def run_page(ctx: Ctx) -> Response:
    run_id = _run_id(ctx)
    situation = _enum_filter(ctx.request, "situation", Situation)
    status = _enum_filter(ctx.request, "status", DiscrepancyStatus)
    params = page_params(ctx.request)
    found = await run_in_threadpool(
        _run, ctx.deps, ctx.tenant_id, run_id, situation, status, params
    )
    return ctx.render(
        "run.html",
        section="runs",
        situations=[s.value for s in Situation],
        discrepancy_statuses=[s.value for s in DiscrepancyStatus],
        situation=situation.value if situation else "",
        status_filter=status.value if status else "",
        next_url=_next_url(ctx.request, found.pop("next_cursor")),
        **found,
    )


async def run_status(ctx: Ctx) -> Response:
    run_id = _run_id(ctx)
    run = await run_in_threadpool(
        runs.get_run, ctx.deps, ctx.tenant_id, run_id, kind=RunKind.RECONCILIATION
    )
    return json_answer(runs.run_document(run))


def _cancel(deps: Deps, tenant_id: UUID, run_id: UUID) -> None:
    runs.get_run(deps, tenant_id, run_id, kind=RunKind.RECONCILIATION)
    runs.cancel_run(deps, tenant_id, run_id)


async def cancel_run(ctx: Ctx) -> Response:
    run_id = _run_id(ctx)
    await run_in_threadpool(_cancel, ctx.deps, ctx.tenant_id, run_id)
    return ctx.redirect(ctx.back(), ok="Cancellation requested.")


async def apply_run(ctx: Ctx) -> Response:
    run_id = _run_id(ctx)
    selected = ctx.fields("discrepancy_id")
    if not selected:
        return ctx.redirect(ctx.back(), error="Select at least one discrepancy to apply.")
    applied = await run_in_threadpool(
        reconciliation.apply_plan,
        ctx.deps,
        ctx.tenant_id,
        run_id,
        {"discrepancy_ids": selected},
    )
    count = len(selected)
    return ctx.redirect(
        f"{ctx.base}/runs/{applied.id}",
        ok=f"Applying {count} discrepanc{'y' if count == 1 else 'ies'}.",
    )


# --------------------------------------------------------------------------- queue


def _queue(deps: Deps, tenant_id: UUID, connector_id: UUID | None, page: PageParams) -> Document:
    stats = provisioning.queue_stats(deps, tenant_id)
    dead = provisioning.list_dead(
        deps, tenant_id, connector_id=connector_id, limit=page.limit, cursor=page.cursor
    )
    return {
        "stats": stats,
        "quarantined": [c for c in stats["connectors"] if c["quarantined_until"] is not None],
        "dead": [
            provisioning.operation_document(op, waiting=provisioning.waiting_behind(deps, op))
            for op in dead.items
        ],
        "names": _names(deps, tenant_id),
        "next_cursor": dead.next_cursor,
    }


async def queue_page(ctx: Ctx) -> Response:
    connector_id = _uuid_filter(ctx.request, "connector_id")
    params = page_params(ctx.request)
    found = await run_in_threadpool(_queue, ctx.deps, ctx.tenant_id, connector_id, params)
    return ctx.render(
        "queue.html",
        section="queue",
        connector_filter=str(connector_id) if connector_id else "",
        next_url=_next_url(ctx.request, found.pop("next_cursor")),
        **found,
    )


def _operation(deps: Deps, tenant_id: UUID, operation_id: UUID) -> Document:
    op = provisioning.get_operation(deps, tenant_id, operation_id)
    waiting = provisioning.waiting_behind(deps, op) if op.status is OperationStatus.DEAD else None
    return {
        "operation": provisioning.operation_document(op, waiting=waiting),
        "names": _names(deps, tenant_id),
    }


async def operation_page(ctx: Ctx) -> Response:
    operation_id = _operation_id(ctx)
    found = await run_in_threadpool(_operation, ctx.deps, ctx.tenant_id, operation_id)
    return ctx.render("operation.html", section="queue", **found)


async def operation_status(ctx: Ctx) -> Response:
    operation_id = _operation_id(ctx)
    op = await run_in_threadpool(provisioning.get_operation, ctx.deps, ctx.tenant_id, operation_id)
    return json_answer(provisioning.operation_document(op))


async def retry_dead(ctx: Ctx) -> Response:
    operation_id = _operation_id(ctx)
    op = await run_in_threadpool(provisioning.retry_dead, ctx.deps, ctx.tenant_id, operation_id)
    return ctx.redirect(f"{ctx.base}/operations/{op.id}", ok="Operation queued again.")


async def discard_dead(ctx: Ctx) -> Response:
    operation_id = _operation_id(ctx)
    await run_in_threadpool(provisioning.discard_dead, ctx.deps, ctx.tenant_id, operation_id)
    return ctx.redirect(ctx.back("/queue"), ok="Operation discarded (kept for audit).")


# --------------------------------------------------------------------------- the list


def _name(handler: Handler) -> str:
    return f"console_{handler.__name__}"


def routes(console: Console) -> list[BaseRoute]:
    """The console's pages and actions, relative to where it is mounted (no sign-in)."""

    def get(path: str, handler: Handler) -> Route:
        return Route(path, page(console, handler), methods=["GET"], name=_name(handler))

    def post(path: str, handler: Handler) -> Route:
        return Route(path, action(console, handler), methods=["POST"], name=_name(handler))

    def json_get(path: str, handler: Handler) -> Route:
        return Route(path, data(console, handler), methods=["GET"], name=_name(handler))

    return [
        get("/", home),
        get("/connectors", connectors_page),
        get("/connectors/{connector_id}", connector_page),
        post("/connectors/{connector_id}/test", test_connector),
        post("/connectors/{connector_id}/sync", sync_connector),
        post("/connectors/{connector_id}/schema", discover_schema),
        get("/runs", runs_page),
        post("/runs", start_run),
        get("/runs/{run_id}", run_page),
        json_get("/runs/{run_id}/status", run_status),
        post("/runs/{run_id}/cancel", cancel_run),
        post("/runs/{run_id}/apply", apply_run),
        get("/queue", queue_page),
        get("/operations/{operation_id}", operation_page),
        json_get("/operations/{operation_id}/status", operation_status),
        post("/queue/dlq/{operation_id}/retry", retry_dead),
        post("/queue/dlq/{operation_id}/discard", discard_dead),
    ]
