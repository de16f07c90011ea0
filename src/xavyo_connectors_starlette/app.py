"""``create_app``: the whole HTTP API as one Starlette app, wired through ``app.state``.

Importing this module builds nothing; ``create_app`` builds the app and its wiring
(``ConnectorsState``) each time it is called.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_starlette.auth import bearer_authenticator
from xavyo_connectors_starlette.console import console_router
from xavyo_connectors_starlette.errors import exception_handlers
from xavyo_connectors_starlette.openapi import openapi_route
from xavyo_connectors_starlette.routes import (
    connectors,
    health,
    identities,
    provisioning,
    reconciliation,
    sync,
    types,
)
from xavyo_connectors_starlette.state import Authenticate, ConnectorsState

__all__ = ["ConnectorsState", "create_app"]


def api_routes() -> list[BaseRoute]:
    """Every route of the API, ``/healthz`` included, as one flat list."""
    return [
        *health.routes(),
        *connectors.routes(),
        *sync.routes(),
        *types.routes(),
        *identities.routes(),
        *reconciliation.routes(),
        *provisioning.routes(),
    ]


def create_app(
    deps: Deps,
    *,
    authenticate: Authenticate | None = None,
    debug: bool = False,
    console: bool = True,
) -> Starlette:
    """Build the HTTP API over ``deps``.

    Args:
        deps: the core's ports and settings (store, registry, key ring, clock, files root).
            The caller owns them: the app never closes the store.
        authenticate: ``authenticate(request) -> Principal | None``, sync (run in the
            threadpool) or async. Default: bearer API tokens looked up in ``deps.store``.
        debug: Starlette's debug flag. Problem documents never carry tracebacks, debug
            or not.
        console: mount the operator console at ``/console`` (it signs in with the same
            tokens ``authenticate`` accepts).

    Returns:
        A Starlette app with ``app.state.xavyo_connectors`` set to its ``ConnectorsState``,
        serving its OpenAPI 3.1 document at ``/openapi.json``; mount it anywhere
        (``Mount("/idm", app=create_app(...))``).
    """
    state = ConnectorsState(deps=deps, authenticate=authenticate or bearer_authenticator(deps))
    routes = api_routes()
    routes.append(openapi_route(routes))
    if console:
        # after the OpenAPI route: the console is HTML for people, not part of the API
        routes.append(Mount("/console", app=console_router()))
    app = Starlette(debug=debug, routes=routes, exception_handlers=exception_handlers())
    state.install(app)
    return app
