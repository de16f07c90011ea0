"""(b) The authorization matrix over every endpoint and method (SPEC §3.8).

Generated from the route table: every operation, every kind of caller. No credentials,
wrong ones, another scheme, an empty bearer: 401 with a Bearer challenge, and nothing
changes. A reader: every GET (and HEAD) answers, every write is a 403 that changes
nothing. An admin: never 401 or 403. ``/healthz`` and ``/openapi.json`` answer everyone.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security import counts
from tests.security.conftest import Api
from xavyo_connectors_starlette.auth import READ_METHODS
from xavyo_connectors_starlette.openapi import DocumentedOperation

PART = "authorization"

ANONYMOUS: dict[str, dict[str, str]] = {
    "no token": {},
    "wrong token": {"Authorization": "Bearer xvy_" + "A" * 43},
    "not a token": {"Authorization": "Bearer not-a-token"},
    "empty bearer": {"Authorization": "Bearer "},
    "basic scheme": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    "token without scheme": {"Authorization": "xvy_" + "B" * 43},
}
ROLES = ["admin", "reader", *ANONYMOUS]
CASES = [(op, role) for op in counts.OPERATIONS for role in ROLES]


def _state(api: Api) -> str:
    """What the caller's tenant holds, read by its admin (to prove nothing changed)."""
    parts = []
    for op in counts.PROTECTED:
        if op.method == "GET":
            path = op.path.format(**api.acme.ids_for(op.path))
            response = api.admin.get(path)
            body = response.json() if response.status_code == 200 else response.status_code
            if isinstance(body, dict):
                body.pop("oldest_pending_age_seconds", None)
            parts.append(f"{path} {body}")
    return "\n".join(parts)


def _call(
    api: Api, op: DocumentedOperation, headers: dict[str, str], method: str | None = None
) -> Any:
    path = op.path.format(**api.acme.ids_for(op.path))
    body = counts.example_body(op, api.acme)
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return api.client.request(method or op.method, path, **kwargs)


def test_the_matrix_covers_every_operation_and_caller() -> None:
    assert len(counts.OPERATIONS) == 32
    assert len(CASES) == 32 * len(ROLES) == 256
    assert {counts.op_id(op) for op in counts.PUBLIC} == {"GET /healthz", "GET /openapi.json"}


def _headers(api: Api, role: str) -> dict[str, str]:
    if role == "admin":
        return {"Authorization": f"Bearer {api.acme.admin}"}
    if role == "reader":
        return {"Authorization": f"Bearer {api.acme.reader}"}
    return ANONYMOUS[role]


@pytest.mark.parametrize("op", counts.OPERATIONS, ids=counts.op_id)
def test_refused_callers_are_refused_and_change_nothing(
    shared_api: Api, op: DocumentedOperation
) -> None:
    """No or bad credentials: 401 (GET and HEAD); a reader: GETs answer, writes are 403."""
    api = shared_api
    writes = op.method not in READ_METHODS
    before = _state(api) if writes else None
    tried = 0
    for role in ROLES:
        if role == "admin":
            continue
        response = _call(api, op, _headers(api, role))
        counts.tried(PART)
        tried += 1
        if op.operation.public:
            assert response.status_code == 200, (role, response.text)
        elif role == "reader":
            if writes:
                assert response.status_code == 403, response.text
                assert response.json()["title"] == "forbidden"
            else:
                assert response.status_code == 200, response.text
        else:
            assert response.status_code == 401, (role, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer ")
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["status"] == 401
            if op.method == "GET":  # HEAD is refused the same way, without a body
                head = _call(api, op, _headers(api, role), "HEAD")
                assert head.status_code == 401 and head.content == b""
                counts.tried(PART)
                tried += 1
    if before is not None:
        assert _state(api) == before, "a refused write changed something"
    assert tried >= len(ROLES) - 1


@pytest.mark.parametrize("op", counts.OPERATIONS, ids=counts.op_id)
def test_an_admin_is_never_refused(api: Api, op: DocumentedOperation) -> None:
    """The admin's request is carried out or refused for a documented reason, never 401/403."""
    response = _call(api, op, _headers(api, "admin"))
    counts.tried(PART)
    assert response.status_code not in (401, 403), response.text
    assert str(response.status_code) in counts.spec_of(op)["responses"], response.text
    if op.method == "GET":
        assert response.status_code == 200, response.text
