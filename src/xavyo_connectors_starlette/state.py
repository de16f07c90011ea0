"""The wiring one app (or a host) hands to the routes: ``ConnectorsState`` on ``app.state``.

Routes find it per request, first in the lifespan state (``request.state``, for a host
whose lifespan yields ``{STATE_KEY: state}``), then on ``request.app.state``. Nothing is
kept in module globals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

from attrs import frozen
from starlette.applications import Starlette
from starlette.requests import Request

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import Principal

STATE_KEY = "xavyo_connectors"
"""The attribute of ``app.state`` (or key of the lifespan state) holding the wiring."""

Authenticate: TypeAlias = Callable[[Request], Principal | Awaitable[Principal | None] | None]
"""Who is calling: a sync or async callable returning a ``Principal``, or None (401)."""


@frozen
class ConnectorsState:
    """What the routes need: the core's dependencies and how to authenticate a request.

    Attributes:
        deps: the ports and settings of the core use cases.
        authenticate: ``authenticate(request) -> Principal | None`` (sync or async); a
            sync callable runs in the threadpool, so it may block.
    """

    deps: Deps
    authenticate: Authenticate

    def install(self, app: Starlette) -> None:
        """Store this state on ``app.state`` for the routes to find."""
        setattr(app.state, STATE_KEY, self)


def connectors_state(request: Request) -> ConnectorsState:
    """The ``ConnectorsState`` of the app serving ``request``.

    Raises:
        RuntimeError: the app was not wired (a 500 for the caller, logged for the host).
    """
    found = request.scope.get("state", {}).get(STATE_KEY)
    if found is None:
        found = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(found, ConnectorsState):
        raise RuntimeError(
            f"xavyo-connectors routes need a ConnectorsState at app.state.{STATE_KEY}"
        )
    return found


def deps_of(request: Request) -> Deps:
    """The core dependencies of the app serving ``request``."""
    return connectors_state(request).deps
