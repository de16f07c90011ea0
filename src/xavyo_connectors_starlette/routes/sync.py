"""Sync and accounts over HTTP (SPEC §3.4, §4.1 rows 8-9, §4.2 sync runs and accounts)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from xavyo_connectors_core import accounts, runs
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import RunKind, Situation
from xavyo_connectors_starlette.auth import authorize
from xavyo_connectors_starlette.body import JSON, read_optional_json
from xavyo_connectors_starlette.operations import (
    PAGE,
    Answer,
    Operation,
    bool_param,
    documented,
    enum_param,
    json_body,
)
from xavyo_connectors_starlette.pagination import PageParams, page_document, page_params
from xavyo_connectors_starlette.params import bool_query, enum_query, path_id
from xavyo_connectors_starlette.routes._http import json, route
from xavyo_connectors_starlette.state import deps_of

Document = dict[str, Any]


def _start(deps: Deps, tenant_id: UUID, connector_id: UUID, body: Any) -> Document:
    return runs.run_document(runs.start_sync(deps, tenant_id, connector_id, body))


def _runs(deps: Deps, tenant_id: UUID, connector_id: UUID, page: PageParams) -> Document:
    found = runs.list_runs(
        deps,
        tenant_id,
        kind=RunKind.SYNC,
        connector_id=connector_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    return page_document(found, runs.run_document)


def _run(deps: Deps, tenant_id: UUID, connector_id: UUID, run_id: UUID) -> Document:
    from xavyo_connectors_core.errors import NotFound

    run = runs.get_run(deps, tenant_id, run_id, kind=RunKind.SYNC)
    if run.connector_id != connector_id:
        raise NotFound("no such sync run")
    return runs.run_document(run)


def _accounts(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    situation: Situation | None,
    linked: bool | None,
    page: PageParams,
) -> Document:
    found = accounts.list_accounts(
        deps,
        tenant_id,
        connector_id,
        situation=situation,
        linked=linked,
        limit=page.limit,
        cursor=page.cursor,
    )
    return page_document(found, accounts.shadow_document)


@documented(
    Operation(
        summary="Trigger a sync",
        tag="sync",
        answer=Answer(
            202,
            "Run",
            "The queued sync run; Location is the run.",
            headers=("Location",),
            link_as="run_id",
            link_within="/connectors/{connector_id}/sync",
        ),
        body=json_body("SyncRequest", {"mode": "full"}, required=False),
        errors={409},
    )
)
async def start_sync(request: Request) -> Response:
    """``POST /connectors/{id}/sync``: 202 with the queued run and its ``Location``."""
    principal = await authorize(request)
    connector_id = path_id(request, "connector_id", "connector")
    body = await read_optional_json(request, media_types=JSON)
    document = await run_in_threadpool(
        _start, deps_of(request), principal.tenant_id, connector_id, body
    )
    where = f"{request.url.path.rstrip('/')}/runs/{document['id']}"
    return json(document, 202, headers={"Location": where})


@documented(
    Operation(
        summary="Sync status",
        tag="sync",
        answer=Answer(200, "SyncStatus", "Idle, queued or running; token, current and last run."),
    )
)
async def sync_status(request: Request) -> Response:
    """``GET /connectors/{id}/sync/status``."""
    principal = await authorize(request)
    connector_id = path_id(request, "connector_id", "connector")
    document = await run_in_threadpool(
        runs.sync_status, deps_of(request), principal.tenant_id, connector_id
    )
    return json(document)


@documented(
    Operation(
        summary="List sync runs",
        tag="sync",
        answer=Answer(200, "RunPage", "The connector's sync runs, newest first."),
        params=PAGE,
    )
)
async def list_sync_runs(request: Request) -> Response:
    """``GET /connectors/{id}/sync/runs``: newest first."""
    principal = await authorize(request)
    connector_id = path_id(request, "connector_id", "connector")
    page = page_params(request)
    document = await run_in_threadpool(
        _runs, deps_of(request), principal.tenant_id, connector_id, page
    )
    return json(document)


@documented(
    Operation(
        summary="Get a sync run",
        tag="sync",
        answer=Answer(200, "Run", "The sync run."),
    )
)
async def get_sync_run(request: Request) -> Response:
    """``GET /connectors/{id}/sync/runs/{run_id}``."""
    principal = await authorize(request)
    connector_id = path_id(request, "connector_id", "connector")
    run_id = path_id(request, "run_id", "run")
    document = await run_in_threadpool(
        _run, deps_of(request), principal.tenant_id, connector_id, run_id
    )
    return json(document)


@documented(
    Operation(
        summary="List accounts (shadows)",
        tag="sync",
        answer=Answer(200, "ShadowPage", "The connector's accounts as last seen, by uid."),
        params=(
            *PAGE,
            enum_param("situation", Situation, "Only accounts in this situation."),
            bool_param("linked", "Only accounts linked (true) or not (false) to an identity."),
        ),
    )
)
async def list_accounts(request: Request) -> Response:
    """``GET /connectors/{id}/accounts?situation=&linked=``: shadows by uid."""
    principal = await authorize(request)
    connector_id = path_id(request, "connector_id", "connector")
    situation = enum_query(request, "situation", Situation)
    linked = bool_query(request, "linked")
    page = page_params(request)
    document = await run_in_threadpool(
        _accounts, deps_of(request), principal.tenant_id, connector_id, situation, linked, page
    )
    return json(document)


def routes() -> list[BaseRoute]:
    """The sync and accounts routes."""
    return [
        route("/connectors/{connector_id}/sync", POST=start_sync),
        route("/connectors/{connector_id}/sync/status", GET=sync_status),
        route("/connectors/{connector_id}/sync/runs", GET=list_sync_runs),
        route("/connectors/{connector_id}/sync/runs/{run_id}", GET=get_sync_run),
        route("/connectors/{connector_id}/accounts", GET=list_accounts),
    ]
