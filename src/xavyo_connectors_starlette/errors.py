"""Every failure becomes an RFC 9457 problem document here, and only here.

Endpoints just raise: core errors (``InvalidInput``, ``NotFound``, ``Conflict`` ...),
``HttpProblem`` for failures of the HTTP exchange itself (400, 401, 413, 415), or
Starlette's ``HTTPException`` (routing 404/405). ``problem_response`` maps each to its
status; anything unexpected is a 500 whose body says nothing about the cause (the log
has the traceback; core errors never carry secret values, and request bodies are never
logged).
"""

from __future__ import annotations

import functools
import http
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xavyo_connectors_core.errors import (
    Conflict,
    ConnectorError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    StoreUnavailable,
    XavyoError,
)

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:xavyo-connectors:problem:"

Endpoint = Callable[[Request], Awaitable[Response]]

_STATUS: Mapping[type[XavyoError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,  # also SchemaUnavailable, NeedsAttention, VersionConflict
    PreconditionFailed: 412,
    Forbidden: 403,
    ConnectorError: 502,  # the external system failed where we needed it
    StoreUnavailable: 503,
}
"""Core error class -> HTTP status; looked up along the exception's MRO."""


class HttpProblem(Exception):
    """A failure of the HTTP exchange itself: malformed body, media type, size, auth.

    Args:
        status: the HTTP status code.
        detail: a human-readable explanation (never containing request data).
        headers: extra response headers.
    """

    def __init__(
        self, status: int, detail: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = http.HTTPStatus(status).phrase.lower()
        self.detail = detail
        self.headers = dict(headers or {})


class Unauthorized(HttpProblem):
    """No credentials, or credentials that name no one (401 with a Bearer challenge)."""

    def __init__(self, detail: str, *, invalid_token: bool = False) -> None:
        challenge = 'Bearer realm="xavyo-connectors"'
        if invalid_token:
            challenge += ', error="invalid_token"'
        super().__init__(401, detail, headers={"WWW-Authenticate": challenge})


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response: ``{"type", "title", "status", "detail", ...extra}``."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + title.replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def _status_of(exc: XavyoError) -> int | None:
    for cls in type(exc).__mro__:
        status = _STATUS.get(cls)
        if status is not None:
            return status
    return None


def problem_response(request: Request, exc: BaseException) -> Response:
    """The problem response for ``exc`` raised while serving ``request``."""
    if isinstance(exc, HttpProblem):
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers)
    if isinstance(exc, HTTPException):
        phrase = _phrase(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) else phrase
        return problem(exc.status_code, phrase, detail, headers=exc.headers)
    if isinstance(exc, XavyoError):
        status = _status_of(exc)
        if status is not None:
            extra: dict[str, Any] = {}
            if isinstance(exc, InvalidInput):
                extra["errors"] = [{"path": e.path, "message": e.message} for e in exc.errors]
            if isinstance(exc, Conflict) and exc.run_id is not None:
                extra["run_id"] = str(exc.run_id)
            log.debug("%s %s -> %d %s", request.method, request.url.path, status, exc.title)
            return problem(status, exc.title, exc.detail, **extra)
    log.error(
        "unexpected %s while serving %s %s",
        type(exc).__name__,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return problem(500, "internal server error", "an unexpected error occurred")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


def handled(endpoint: Endpoint) -> Endpoint:
    """Wrap an endpoint so whatever it raises is answered by ``problem_response``.

    Routes carry their own error handling, so a host that mounts the routers gets
    problem documents without registering anything.
    """

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as exc:
            return problem_response(request, exc)

    return guarded


async def _handler(request: Request, exc: Exception) -> Response:
    return problem_response(request, exc)


def exception_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """Starlette ``exception_handlers`` answering routing errors and strays as problems."""
    return {
        HTTPException: _handler,
        HttpProblem: _handler,
        XavyoError: _handler,
        Exception: _handler,
    }
