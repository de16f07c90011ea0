"""Starlette adapter for xavyo-connectors: thin routes over the core functions.

``create_app(deps)`` serves the whole API; a host app can instead mount the routers
(``connectors_router()``, ``identities_router()``, ``reconciliation_router()``,
``provisioning_router()``) and provide a ``ConnectorsState`` with its own
``authenticate(request) -> Principal | None``, either on ``app.state.xavyo_connectors``
(``state.install(app)``) or in its lifespan state under the same key. ``create_app`` serves
its OpenAPI 3.1 document at ``/openapi.json``; a host documents the routers it mounts
with ``openapi_document(routes)`` (or mounts ``openapi_route(routes)``). Importing this
package has no side effects.
"""

from __future__ import annotations

from xavyo_connectors_core.model import Principal, TokenRole
from xavyo_connectors_starlette.app import create_app
from xavyo_connectors_starlette.auth import bearer_authenticator
from xavyo_connectors_starlette.console import console_router
from xavyo_connectors_starlette.openapi import openapi_document, openapi_route
from xavyo_connectors_starlette.routes.connectors import connectors_router
from xavyo_connectors_starlette.routes.identities import identities_router
from xavyo_connectors_starlette.routes.provisioning import provisioning_router
from xavyo_connectors_starlette.routes.reconciliation import reconciliation_router
from xavyo_connectors_starlette.state import STATE_KEY, Authenticate, ConnectorsState

__all__ = [
    "STATE_KEY",
    "Authenticate",
    "ConnectorsState",
    "Principal",
    "TokenRole",
    "bearer_authenticator",
    "connectors_router",
    "console_router",
    "create_app",
    "identities_router",
    "openapi_document",
    "openapi_route",
    "provisioning_router",
    "reconciliation_router",
]
