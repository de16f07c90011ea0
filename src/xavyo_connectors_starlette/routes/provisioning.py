"""The provisioning queue and dead-letter queue over HTTP (SPEC §3.7, §4.1, §4.2)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router

from xavyo_connectors_core import provisioning
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import OperationStatus
from xavyo_connectors_starlette.auth import authorize
from xavyo_connectors_starlette.body import JSON, read_optional_json
from xavyo_connectors_starlette.operations import (
    IGNORED_BODY,
    PAGE,
    Answer,
    Operation,
    documented,
    uuid_param,
)
from xavyo_connectors_starlette.pagination import PageParams, page_params
from xavyo_connectors_starlette.params import path_id, uuid_query
from xavyo_connectors_starlette.routes._http import json, no_content, route
from xavyo_connectors_starlette.state import deps_of

Document = dict[str, Any]


def _dlq(deps: Deps, tenant_id: UUID, connector_id: UUID | None, page: PageParams) -> Document:
    found = provisioning.list_dead(
        deps, tenant_id, connector_id=connector_id, limit=page.limit, cursor=page.cursor
    )
    return {
        "items": [
            provisioning.operation_document(op, waiting=provisioning.waiting_behind(deps, op))
            for op in found.items
        ],
        "next_cursor": found.next_cursor,
    }


def _operation(deps: Deps, tenant_id: UUID, operation_id: UUID) -> Document:
    op = provisioning.get_operation(deps, tenant_id, operation_id)
    waiting = provisioning.waiting_behind(deps, op) if op.status is OperationStatus.DEAD else None
    return provisioning.operation_document(op, waiting=waiting)


def _retry(deps: Deps, tenant_id: UUID, operation_id: UUID) -> Document:
    return provisioning.operation_document(provisioning.retry_dead(deps, tenant_id, operation_id))


@documented(
    Operation(
        summary="Queue stats",
        tag="provisioning",
        answer=Answer(200, "QueueStats", "Operations per status, overall and per connector."),
    )
)
async def queue_stats(request: Request) -> Response:
    """``GET /provisioning/queue``: counts per status and per connector."""
    principal = await authorize(request)
    document = await run_in_threadpool(
        provisioning.queue_stats, deps_of(request), principal.tenant_id
    )
    return json(document)


@documented(
    Operation(
        summary="List the dead-letter queue",
        tag="provisioning",
        answer=Answer(200, "OperationPage", "Dead operations, oldest first."),
        params=(*PAGE, uuid_param("connector_id", "Only operations of this connector.")),
    )
)
async def dead_letters(request: Request) -> Response:
    """``GET /provisioning/dlq?connector_id=``: dead operations, oldest first."""
    principal = await authorize(request)
    connector_id = uuid_query(request, "connector_id")
    page = page_params(request)
    document = await run_in_threadpool(
        _dlq, deps_of(request), principal.tenant_id, connector_id, page
    )
    return json(document)


@documented(
    Operation(
        summary="Get an operation",
        tag="provisioning",
        answer=Answer(200, "Operation", "The operation, with why it exists and what it did."),
    )
)
async def get_operation(request: Request) -> Response:
    """``GET /provisioning/operations/{id}``."""
    principal = await authorize(request)
    operation_id = path_id(request, "operation_id", "operation")
    document = await run_in_threadpool(
        _operation, deps_of(request), principal.tenant_id, operation_id
    )
    return json(document)


@documented(
    Operation(
        summary="Retry a dead operation",
        tag="provisioning",
        answer=Answer(
            202,
            "Operation",
            "The operation, pending again with its attempts reset.",
            headers=("Location",),
            link_as="operation_id",
            link_within="/provisioning",
        ),
        body=IGNORED_BODY,
    )
)
async def retry_dead(request: Request) -> Response:
    """``POST /provisioning/dlq/{id}/retry``: 202 with the operation, back to pending."""
    principal = await authorize(request)
    operation_id = path_id(request, "operation_id", "operation")
    await read_optional_json(request, media_types=JSON)
    document = await run_in_threadpool(_retry, deps_of(request), principal.tenant_id, operation_id)
    base = str(request.url.path).split("/provisioning/")[0]
    where = f"{base}/provisioning/operations/{document['id']}"
    return json(document, 202, headers={"Location": where})


@documented(
    Operation(
        summary="Discard a dead operation",
        tag="provisioning",
        answer=Answer(204, None, "Discarded; kept with status discarded for audit."),
    )
)
async def discard_dead(request: Request) -> Response:
    """``DELETE /provisioning/dlq/{id}``: 204; kept as ``discarded`` for audit."""
    principal = await authorize(request)
    operation_id = path_id(request, "operation_id", "operation")
    await run_in_threadpool(
        provisioning.discard_dead, deps_of(request), principal.tenant_id, operation_id
    )
    return no_content()


def routes() -> list[BaseRoute]:
    """The provisioning routes."""
    return [
        route("/provisioning/queue", GET=queue_stats),
        route("/provisioning/dlq", GET=dead_letters),
        route("/provisioning/dlq/{operation_id}", DELETE=discard_dead),
        route("/provisioning/dlq/{operation_id}/retry", POST=retry_dead),
        route("/provisioning/operations/{operation_id}", GET=get_operation),
    ]


def provisioning_router() -> Router:
    """A router of the provisioning endpoints, to mount or to spread into a host app."""
    return Router(routes())
