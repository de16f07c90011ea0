"""(a) Tenant isolation, for every endpoint, generated from the route table (SPEC §3.8).

For every operation that names a resource (a path id, an id in the body, an id filter in
the query), the caller's request with another tenant's real id answers exactly like the
same request with an id that names nothing: the same status (404 for paths and bodies),
the same problem type; and the other tenant's resources are unchanged afterwards. Every
read of the caller's own resources, lists included, carries nothing of the other tenant.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.security import counts
from tests.security.conftest import Api
from tests.support.api_world import World
from xavyo_connectors_starlette.openapi import DocumentedOperation

PART = "isolation"


def _slots(op: DocumentedOperation) -> list[tuple[str, str]]:
    """Where ``op`` carries ids: ("path", name) and ("body", name)."""
    found = [("path", name) for name in op.path_params]
    found += [("body", name) for name in counts.body_id_slots(op)]
    return found


NAMING = [op for op in counts.PROTECTED if _slots(op)]
READS = [op for op in counts.PROTECTED if op.method == "GET"]
ID_FILTERS = [
    (op, p["name"])
    for op in READS
    for p in counts.spec_of(op).get("parameters", [])
    if p["in"] == "query" and p["schema"].get("format") == "uuid"
]


def _id_of(world: World, path: str, name: str) -> str:
    ids = {**world.ids_for(path), "discrepancy_id": world.discrepancy}
    return ids[name.removesuffix("s") if name.endswith("_ids") else name]


def _request(
    api: Api, op: DocumentedOperation, ids: dict[tuple[str, str], str]
) -> tuple[int, dict[str, Any] | None]:
    path = op.path.format(**{name: ids[("path", name)] for name in op.path_params})
    body = counts.example_body(op, api.acme)
    kwargs: dict[str, Any] = {}
    slots = counts.body_id_slots(op)
    if slots:
        body = dict(body or {})
        for name, is_list in slots.items():
            body[name] = [ids[("body", name)]] if is_list else ids[("body", name)]
    if body is not None:
        kwargs["json"] = body
    response = api.admin.request(op.method, path, **kwargs)
    problem = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/problem+json")
        else None
    )
    return response.status_code, problem


def _fingerprint(api: Api, world: World) -> str:
    """Everything ``world``'s tenant can read of its own resources, as one string."""
    caller = api.caller(world.admin)
    parts = []
    for op in READS:
        if op.path in ("/healthz", "/openapi.json"):
            continue
        path = op.path.format(**world.ids_for(op.path))
        response = caller.get(path)
        body = response.json() if response.status_code == 200 else response.status_code
        parts.append(f"{op.path} {json.dumps(_without_volatile(body), sort_keys=True)}")
    return "\n".join(parts)


def _without_volatile(value: Any) -> Any:
    """Drop the age of the oldest pending operation (it grows with the clock)."""
    if isinstance(value, dict):
        return {
            k: _without_volatile(v) for k, v in value.items() if k != "oldest_pending_age_seconds"
        }
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _foreign_markers(world: World) -> set[str]:
    """The other tenant's ids, connector names and file names."""
    names = {f"{world.slug}-{what}" for what in ("hr", "app", "vault", "disabled")}
    return world.every_id() | names


def test_the_cases_are_generated_from_every_endpoint() -> None:
    """Every operation naming a resource is covered; the list is the route table's."""
    assert len(NAMING) >= 20
    assert {counts.op_id(op) for op in NAMING} >= {
        "GET /connectors/{connector_id}",
        "DELETE /provisioning/dlq/{operation_id}",
        "POST /reconciliation/runs",
        "GET /connectors/{connector_id}/sync/runs/{run_id}",
    }
    assert len(READS) >= 17 and len(ID_FILTERS) >= 2


@pytest.mark.parametrize("op", NAMING, ids=counts.op_id)
def test_another_tenants_id_is_exactly_like_an_unknown_one(
    api: Api, op: DocumentedOperation
) -> None:
    """Foreign ids (each slot, and every mix with the caller's own) == unknown ids: 404."""
    before = _fingerprint(api, api.other)
    slots = _slots(op)
    own = {slot: _id_of(api.acme, op.path, slot[1]) for slot in slots}
    tried = 0
    for foreign_slots in itertools.chain.from_iterable(
        itertools.combinations(slots, n) for n in range(1, len(slots) + 1)
    ):
        foreign = dict(own)
        unknown = dict(own)
        for slot in foreign_slots:
            foreign[slot] = _id_of(api.other, op.path, slot[1])
            unknown[slot] = counts.unknown_id()
        status, problem = _request(api, op, foreign)
        unknown_status, unknown_problem = _request(api, op, unknown)
        assert status == unknown_status == 404, (foreign_slots, status, unknown_status)
        assert problem is not None and unknown_problem is not None
        assert problem["type"] == unknown_problem["type"]
        assert problem["title"] == unknown_problem["title"]
        assert not (_foreign_markers(api.other) & set(json.dumps(problem).split('"')))
        tried += 1
    counts.tried(PART, tried)
    assert tried >= 1
    assert _fingerprint(api, api.other) == before, "the other tenant's resources changed"


@pytest.mark.parametrize("op", READS, ids=counts.op_id)
def test_reads_carry_nothing_of_another_tenant(api: Api, op: DocumentedOperation) -> None:
    """Every read of the caller's own resources (lists too) shows no foreign id or name."""
    path = op.path.format(**api.acme.ids_for(op.path))
    response = api.admin.get(path)
    assert response.status_code == 200, response.text
    for marker in _foreign_markers(api.other):
        assert marker not in response.text, (marker, path)
    counts.tried(PART)


@pytest.mark.parametrize(
    ("op", "name"), ID_FILTERS, ids=lambda v: v if isinstance(v, str) else counts.op_id(v)
)
def test_an_id_filter_naming_another_tenant_finds_nothing(
    api: Api, op: DocumentedOperation, name: str
) -> None:
    """``?connector_id=<theirs>`` answers like an unknown id: nothing of theirs."""
    path = op.path.format(**api.acme.ids_for(op.path))
    theirs = api.admin.get(path, params={name: api.other.app})
    unknown = api.admin.get(path, params={name: counts.unknown_id()})
    assert theirs.status_code == unknown.status_code
    assert theirs.json() == unknown.json()
    for marker in _foreign_markers(api.other):
        assert marker not in theirs.text
    counts.tried(PART, 2)


def test_a_token_of_one_tenant_never_reaches_the_others_lists(api: Api) -> None:
    """Both ways: each tenant's lists hold only its own resources, by id."""
    for me, them in ((api.acme, api.other), (api.other, api.acme)):
        caller = api.caller(me.admin)
        for op in READS:
            if op.path_params or op.path in ("/healthz", "/openapi.json"):
                continue
            text = caller.get(op.path).text
            assert not any(marker in text for marker in _foreign_markers(them)), op.path
            counts.tried(PART)
