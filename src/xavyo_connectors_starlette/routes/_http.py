"""What every route module shares: building a guarded route, JSON answers."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from xavyo_connectors_starlette.errors import Endpoint, handled


class ApiRoute(Route):
    """A route of the API: one endpoint per method, each answering errors as problems.

    ``endpoints`` keeps the endpoint of each method (without the ``HEAD`` every ``GET``
    also answers), so the OpenAPI document can be read off the route table.
    """

    def __init__(self, path: str, **endpoints: Endpoint) -> None:
        handlers = dict(endpoints)
        if "GET" in handlers:
            handlers.setdefault("HEAD", handlers["GET"])

        async def dispatch(request: Request) -> Response:
            return await handlers[request.method](request)

        name = "_".join(endpoint.__name__ for endpoint in endpoints.values())
        dispatch.__name__ = dispatch.__qualname__ = name
        super().__init__(path, handled(dispatch), methods=list(handlers), name=name)
        self.endpoints: Mapping[str, Endpoint] = MappingProxyType(dict(endpoints))


def route(path: str, **endpoints: Endpoint) -> ApiRoute:
    """One route for ``path`` with an endpoint per method (``GET=..., POST=...``).

    Every endpoint answers its errors as problem documents; a ``GET`` endpoint also
    answers ``HEAD``; other methods get a 405 listing the allowed ones.
    """
    return ApiRoute(path, **endpoints)


def json(
    document: Any, status: int = 200, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON answer (UTF-8)."""
    return JSONResponse(document, status_code=status, headers=dict(headers or {}))


def no_content() -> Response:
    """204 with no body."""
    return Response(status_code=204)


def location(request: Request, child: object) -> str:
    """The path of ``child`` under the collection ``request`` was made to."""
    return f"{request.url.path.rstrip('/')}/{child}"
