"""A host app mounts the routers with its own authentication (no xavyo tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.api.conftest import TenantTokens, csv_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_starlette import (
    STATE_KEY,
    ConnectorsState,
    Principal,
    TokenRole,
    connectors_router,
    create_app,
    identities_router,
    provisioning_router,
    reconciliation_router,
)


def _session_authenticator(tenant_id: UUID) -> Callable[[Request], Awaitable[Principal | None]]:
    """The host's own scheme: a session header naming a role; async."""

    async def authenticate(request: Request) -> Principal | None:
        session = request.headers.get("x-host-session")
        if session == "admin-session":
            return Principal(tenant_id=tenant_id, role=TokenRole.ADMIN)
        if session == "viewer-session":
            return Principal(tenant_id=tenant_id, role=TokenRole.READER)
        return None

    return authenticate


async def _home(request: Request) -> Response:
    return PlainTextResponse("host home")


class TestHostMountsRouters:
    def test_routers_under_a_prefix_with_host_auth_in_state(
        self, deps: Deps, acme: TenantTokens
    ) -> None:
        """Spread into a host app; state on app.state; the host's auth decides."""
        state = ConnectorsState(deps=deps, authenticate=_session_authenticator(acme.id))
        host = Starlette(
            routes=[
                Route("/", _home),
                Mount(
                    "/idm",
                    routes=[
                        *connectors_router().routes,
                        *identities_router().routes,
                        *reconciliation_router().routes,
                        *provisioning_router().routes,
                    ],
                ),
            ]
        )
        state.install(host)
        with TestClient(host) as client:
            assert client.get("/").text == "host home"
            admin = {"X-Host-Session": "admin-session"}
            created = client.post("/idm/connectors", json=csv_connector(), headers=admin)
            assert created.status_code == 201, created.text
            assert created.headers["location"] == f"/idm/connectors/{created.json()['id']}"
            assert client.get(created.headers["location"], headers=admin).status_code == 200
            viewer = {"X-Host-Session": "viewer-session"}
            assert client.get("/idm/connectors", headers=viewer).status_code == 200
            forbidden = client.post("/idm/connectors", json=csv_connector("b"), headers=viewer)
            assert forbidden.status_code == 403
            assert forbidden.headers["content-type"].startswith("application/problem+json")
            # our own tokens mean nothing to this host
            ours = {"Authorization": f"Bearer {acme.admin}"}
            assert client.get("/idm/connectors", headers=ours).status_code == 401
            assert client.get("/idm/connectors").status_code == 401
            unknown = client.get("/idm/connectors/nope", headers=admin)
            assert unknown.status_code == 404
            assert unknown.json()["status"] == 404
            assert client.get("/idm/identities", headers=admin).status_code == 200

    def test_state_from_the_host_lifespan(self, deps: Deps, acme: TenantTokens) -> None:
        """A host may yield the state from its lifespan instead of setting app.state."""

        def authenticate(request: Request) -> Principal | None:  # sync: runs in a thread
            if request.headers.get("x-host-session") == "admin-session":
                return Principal(tenant_id=acme.id, role=TokenRole.ADMIN)
            return None

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
            yield {STATE_KEY: ConnectorsState(deps=deps, authenticate=authenticate)}

        host = Starlette(routes=[Mount("/api", app=connectors_router())], lifespan=lifespan)
        with TestClient(host) as client:
            headers = {"X-Host-Session": "admin-session"}
            created = client.post("/api/connectors", json=csv_connector(), headers=headers)
            assert created.status_code == 201, created.text
            listed = client.get("/api/connectors", headers=headers).json()
            assert [item["name"] for item in listed["items"]] == ["hr-feed"]
            assert client.get("/api/connector-types", headers=headers).status_code == 200

    def test_create_app_mounted_in_a_host(self, deps: Deps, acme: TenantTokens) -> None:
        """The whole app mounted under a prefix, with the host's authenticate."""
        app = create_app(deps, authenticate=_session_authenticator(acme.id))
        host = Starlette(routes=[Mount("/xavyo", app=app)])
        with TestClient(host) as client:
            headers = {"X-Host-Session": "admin-session"}
            created = client.post("/xavyo/connectors", json=csv_connector(), headers=headers)
            assert created.status_code == 201, created.text
            assert created.headers["location"].startswith("/xavyo/connectors/")
            assert client.get("/xavyo/healthz").json() == {"status": "ok", "store": "ok"}

    def test_unwired_routes_fail_closed(self) -> None:
        """Routers mounted without a ConnectorsState answer a generic 500, not data."""
        host = Starlette(routes=[Mount("/idm", app=connectors_router())])
        with TestClient(host) as client:
            response = client.get("/idm/connectors")
        assert response.status_code == 500
        assert response.json()["detail"] == "an unexpected error occurred"
