"""``/healthz``: liveness and store reachability, without authentication."""

from __future__ import annotations

from typing import Any

import attrs
from starlette.testclient import TestClient

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_starlette import create_app


class UnreachableStore:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def ping(self) -> bool:
        if self.fail:
            raise ConnectionError("connection refused")
        return False

    def unit_of_work(self) -> Any:
        raise ConnectionError("connection refused")

    def migrate(self) -> int:
        return 0

    def close(self) -> None:
        return None


class TestHealth:
    def test_ok_without_a_token(self, client: TestClient) -> None:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "store": "ok"}

    def test_store_unreachable_is_503(self, deps: Deps) -> None:
        for fail in (False, True):
            broken = attrs.evolve(deps, store=UnreachableStore(fail))
            with TestClient(create_app(broken)) as client:
                response = client.get("/healthz")
            assert response.status_code == 503
            assert response.json()["store"] == "unreachable"
