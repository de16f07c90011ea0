"""``GET /connector-types``: the registered types with their config spec (SPEC §4.4)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from xavyo_connectors_starlette.auth import authorize
from xavyo_connectors_starlette.operations import Answer, Operation, documented
from xavyo_connectors_starlette.routes._http import json, route
from xavyo_connectors_starlette.state import deps_of


@documented(
    Operation(
        summary="List connector types",
        tag="connectors",
        answer=Answer(200, "ConnectorTypePage", "Every registered type, in one page."),
    )
)
async def list_connector_types(request: Request) -> Response:
    """Every registered connector type; one page (the list is small and fixed)."""
    await authorize(request)
    items = await run_in_threadpool(deps_of(request).registry.describe_all)
    return json({"items": items, "next_cursor": None})


def routes() -> list[BaseRoute]:
    """The connector types route."""
    return [route("/connector-types", GET=list_connector_types)]
