"""API fixtures: ``create_app`` over a real SQLite store in ``tmp_path``.

Two tenants (``acme`` with an admin and a reader token, ``other`` with an admin token),
the default registry plus the test-only ``vault`` type (it has a secret; ``csv`` has
none), a fresh key ring, and a files root in ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from attrs import frozen
from starlette.testclient import TestClient

from tests.api.fakes import VaultType
from xavyo_connectors_core import tenancy
from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import TokenRole
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_starlette import create_app

if TYPE_CHECKING:
    from httpx2 import Response

SECRET = "pl41ntext-Vault-Passw0rd-7c1e"
"""The one secret value the tests set; it must never come back out."""


@frozen
class TenantTokens:
    id: UUID
    admin: str
    reader: str


@frozen
class Caller:
    """A test client that sends one bearer token (or none)."""

    client: TestClient
    token: str | None

    def request(self, method: str, url: str, **kwargs: Any) -> Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def files_root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root


@pytest.fixture
def deps(tmp_path: Path, files_root: Path) -> Iterator[Deps]:
    from xavyo_connectors_core.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "xavyo.db")
    store.migrate()
    registry = default_registry()
    registry.register(VaultType(expected_password=SECRET))
    yield Deps(
        store=store,
        registry=registry,
        keyring=KeyRing([generate_key()]),
        clock=SystemClock(),
        files_root=files_root,
    )
    store.close()


def _tenant(deps: Deps, slug: str) -> TenantTokens:
    tenant = tenancy.ensure_tenant(deps, slug)
    _, admin = tenancy.create_api_token(deps, tenant.id, TokenRole.ADMIN, name="admin")
    _, reader = tenancy.create_api_token(deps, tenant.id, TokenRole.READER, name="reader")
    return TenantTokens(id=tenant.id, admin=admin, reader=reader)


@pytest.fixture
def acme(deps: Deps) -> TenantTokens:
    return _tenant(deps, "acme")


@pytest.fixture
def other(deps: Deps) -> TenantTokens:
    return _tenant(deps, "other")


@pytest.fixture
def client(deps: Deps) -> Iterator[TestClient]:
    with TestClient(create_app(deps)) as test_client:
        yield test_client


@pytest.fixture
def admin(client: TestClient, acme: TenantTokens) -> Caller:
    return Caller(client, acme.admin)


@pytest.fixture
def reader(client: TestClient, acme: TenantTokens) -> Caller:
    return Caller(client, acme.reader)


@pytest.fixture
def other_admin(client: TestClient, other: TenantTokens) -> Caller:
    return Caller(client, other.admin)


@pytest.fixture
def anonymous(client: TestClient) -> Caller:
    return Caller(client, None)


def write_csv(root: Path, name: str, lines: list[str]) -> Path:
    path = root / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def csv_connector(name: str = "hr-feed", path: str = "hr.csv", **extra: Any) -> dict[str, Any]:
    """A create document of a ``csv`` connector."""
    return {
        "name": name,
        "type": "csv",
        "role": "source",
        "config": {"path": path, "uid_column": "employee_id"},
        **extra,
    }


def vault_connector(name: str = "vault", **extra: Any) -> dict[str, Any]:
    """A create document of a ``vault`` connector carrying the secret."""
    return {
        "name": name,
        "type": "vault",
        "config": {"url": "https://vault.example"},
        "secrets": {"password": SECRET},
        **extra,
    }


def assert_problem(response: Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body
