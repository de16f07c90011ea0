"""Every error is an RFC 9457 problem document; nothing unexpected leaks (SPEC §4.3)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import attrs
import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from tests.api.conftest import Caller, assert_problem
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import Principal, TokenRole
from xavyo_connectors_starlette import create_app

LEAK = "hunter2-internal-detail"


class ExplodingStore:
    """A store whose units of work fail with an unexpected error."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def unit_of_work(self) -> Any:
        raise RuntimeError(f"driver blew up: password={LEAK}")

    def ping(self) -> bool:
        return True

    def migrate(self) -> int:
        return 0

    def close(self) -> None:
        return None


class TestUnexpectedErrors:
    def test_500_says_nothing_about_the_cause(
        self, deps: Deps, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An unexpected exception is a generic 500 problem: no traceback, no message."""
        broken = attrs.evolve(deps, store=ExplodingStore(deps.store))
        tenant = uuid.uuid4()

        def authenticate(request: Request) -> Principal:
            return Principal(tenant_id=tenant, role=TokenRole.ADMIN)

        app = create_app(broken, authenticate=authenticate)
        with caplog.at_level(logging.ERROR), TestClient(app) as client:
            response = client.get("/connectors")
        body = assert_problem(response, 500)
        assert body["detail"] == "an unexpected error occurred"
        assert LEAK not in response.text
        assert "Traceback" not in response.text
        assert "RuntimeError" not in response.text
        assert any(record.levelno == logging.ERROR for record in caplog.records)


class TestRoutingErrors:
    def test_unknown_path_is_a_problem_404(self, admin: Caller) -> None:
        assert_problem(admin.get("/nowhere"), 404)

    def test_wrong_method_is_a_problem_405_with_allow(self, admin: Caller) -> None:
        response = admin.request("PUT", "/connectors")
        assert_problem(response, 405)
        assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


class TestProblemShape:
    def test_422_carries_errors_with_path_and_message(self, admin: Caller) -> None:
        body = assert_problem(admin.post("/connectors", json={}), 422)
        assert body["type"].startswith("urn:xavyo-connectors:problem:")
        assert body["errors"]
        assert {"path", "message"} == set(body["errors"][0])
        assert {e["path"] for e in body["errors"]} >= {"name", "type", "config"}
