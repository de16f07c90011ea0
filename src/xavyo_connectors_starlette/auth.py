"""Who is calling, and may they (SPEC §3.8).

The app's ``authenticate(request)`` callable names the ``Principal`` (tenant and role);
no principal is a 401 with a ``WWW-Authenticate: Bearer`` challenge. An ``admin`` may do
everything, a ``reader`` only ``GET`` (and ``HEAD``): anything else is a 403. The
default authenticator of the standalone server looks bearer tokens up by their SHA-256
digest through ``tenancy.authenticate_token``, in the threadpool.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from xavyo_connectors_core import tenancy
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import Forbidden
from xavyo_connectors_core.model import Principal, TokenRole
from xavyo_connectors_starlette.errors import Unauthorized
from xavyo_connectors_starlette.state import Authenticate, connectors_state

READ_METHODS = frozenset({"GET", "HEAD"})
"""The methods a ``reader`` may use."""


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def bearer_authenticator(deps: Deps) -> Callable[[Request], Awaitable[Principal | None]]:
    """The default ``authenticate``: hashed API tokens in the store (``tenancy``)."""

    async def authenticate(request: Request) -> Principal | None:
        token = bearer_token(request)
        if token is None:
            return None
        return await run_in_threadpool(tenancy.authenticate_token, deps, token)

    return authenticate


async def _call(authenticate: Authenticate, request: Request) -> Principal | None:
    """Call a sync (in the threadpool) or async authenticator."""
    # an async function, or an object whose __call__ is one
    if inspect.iscoroutinefunction(authenticate) or inspect.iscoroutinefunction(
        type(authenticate).__call__
    ):
        result = authenticate(request)
    else:
        result = await run_in_threadpool(authenticate, request)
    if inspect.isawaitable(result):
        result = await result
    return result


async def authenticate(request: Request) -> Principal:
    """The caller of ``request``, authenticated; no role check.

    Raises:
        Unauthorized: no principal (401).
    """
    state = connectors_state(request)
    principal = await _call(state.authenticate, request)
    if principal is None:
        present = "authorization" in request.headers
        raise Unauthorized(
            "the credentials are not valid" if present else "authentication is required",
            invalid_token=present,
        )
    if not isinstance(principal, Principal):
        raise TypeError("authenticate(request) must return a Principal or None")
    return principal


async def authorize(request: Request) -> Principal:
    """The caller of ``request``, authenticated and allowed to use its method.

    The dependency every protected endpoint starts with.

    Raises:
        Unauthorized: no principal (401).
        Forbidden: a ``reader`` using a method other than GET or HEAD (403).
    """
    principal = await authenticate(request)
    if request.method not in READ_METHODS and principal.role != TokenRole.ADMIN:
        raise Forbidden(f"the {principal.role} role may only read")
    return principal
