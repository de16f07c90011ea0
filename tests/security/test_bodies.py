"""(d) Hostile bodies, for every endpoint that takes one (SPEC §3.8, §4.3).

Generated from the document: every operation with a ``requestBody`` gets oversized bodies
(declared and streamed without a length: 413), malformed JSON (400), deeply nested JSON
(past the depth limit 400; within it but not a valid document 422), bodies that are not
UTF-8 (400), and wrong media types (415); and every property of every body schema gets
values of every other JSON type, which are refused (4xx, never a success, never a 5xx).
None of them changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest

from tests.security import counts
from tests.security.conftest import Api
from xavyo_connectors_starlette.body import MAX_BODY_BYTES, MAX_DEPTH
from xavyo_connectors_starlette.openapi import DocumentedOperation

PART = "bodies"

TAKING_BODIES = [op for op in counts.PROTECTED if op.operation.body is not None]

MALFORMED = [
    b"{",
    b'{"a":}',
    b'{"a" 1}',
    b"{'a': 1}",
    b'{"a": 1,}',
    b"[1, 2",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": -Infinity}',
    b'{"a": 1, "a": 2}',
    b'{"a": 1} {"b": 2}',
    b'{"a": "unterminated}',
    b'{"a": "\\x41"}',
    b'{"a": 01}',
    b"nul",
    b"\x00",
    b'{"a": 1}\x00',
    b"   ",
]
NOT_UTF8 = [
    b'{"name": "\xff\xfe"}',
    b'{"name": "caf\xe9"}',  # latin-1
    b'{"name": "\xc0\xaf"}',  # overlong
    b'{"name": "\xed\xa0\x80"}',  # an encoded surrogate
    '{"name": "ü"}'.encode("utf-16"),
    '{"name": "ü"}'.encode("utf-32"),
    b'{"name": "\\ud800"}',  # valid JSON escaping a lone surrogate: no Unicode text
    b'{"\\udfff": 1}',
]
WRONG_MEDIA_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json-patch+json",
    "application/jsonx",
    "json",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
]


def _deep(depth: int, *, objects: bool = False) -> bytes:
    if objects:
        return (b'{"a":' * depth) + b"1" + (b"}" * depth)
    return (b"[" * depth) + (b"]" * depth)


def _path(api: Api, op: DocumentedOperation) -> str:
    return op.path.format(**api.acme.ids_for(op.path))


def _state(api: Api) -> str:
    out = []
    for op in counts.PROTECTED:
        if op.method == "GET":
            response = api.admin.get(_path(api, op))
            body = response.json()
            if isinstance(body, dict):
                body.pop("oldest_pending_age_seconds", None)
            out.append(json.dumps(body, sort_keys=True))
    return "\n".join(out)


def test_every_endpoint_with_a_body_is_covered() -> None:
    documented = {
        counts.op_id(op) for op in counts.OPERATIONS if "requestBody" in counts.spec_of(op)
    }
    assert {counts.op_id(op) for op in TAKING_BODIES} == documented
    assert len(TAKING_BODIES) >= 9


@pytest.mark.parametrize("op", TAKING_BODIES, ids=counts.op_id)
def test_hostile_bodies_are_refused_and_change_nothing(api: Api, op: DocumentedOperation) -> None:
    path = _path(api, op)
    before = _state(api)
    tried = 0

    def send(content: bytes | Iterator[bytes], media_type: str | None = "application/json") -> Any:
        nonlocal tried
        tried += 1
        headers = {} if media_type is None else {"content-type": media_type}
        return api.admin.request(op.method, path, content=content, headers=headers)

    def expect(status: int, response: Any, case: object) -> None:
        assert response.status_code == status, (case, response.text[:300])
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == status
        assert "Traceback" not in response.text

    # oversized: one byte over, declared; then streamed in chunks with no length at all
    big = b'{"description": "' + b"x" * MAX_BODY_BYTES + b'"}'
    expect(413, send(big), "declared")

    def chunks() -> Iterator[bytes]:
        yield b'{"description": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    expect(413, send(chunks()), "streamed")
    lying = api.admin.request(
        op.method,
        path,
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "99999999999"},
    )
    tried += 1
    assert lying.status_code in (400, 413), lying.text

    for body in MALFORMED:
        expect(400, send(body), body)
    for depth in (MAX_DEPTH + 1, 1000, 100_000):
        expect(400, send(_deep(depth)), depth)
        expect(400, send(_deep(depth, objects=True)), depth)
    for body in NOT_UTF8:
        expect(400, send(body), body)
    for media_type in [*WRONG_MEDIA_TYPES, None]:
        expect(415, send(b"{}", media_type), media_type)
    if op.method != "PATCH":
        expect(415, send(b"{}", "application/merge-patch+json"), "merge patch")

    # nested within the limit, but no valid document: every field is known
    if op.operation.body is not None and op.operation.body.schema is not None:
        nested = b'{"zz_unknown": ' + _deep(MAX_DEPTH - 2) + b"}"
        response = send(nested)
        expect(422, response, "nested unknown field")
        assert any(e["path"] == "zz_unknown" for e in response.json()["errors"]), response.text
        expect(422, send(b"[]"), "an array")
        expect(422, send(b'"text"'), "a string")

    assert _state(api) == before, "a refused body changed something"
    counts.tried(PART, tried)
    assert tried >= 40


WRONG_VALUES: list[Any] = [
    {},
    {"k": "v"},
    [],
    ["x"],
    [{}],
    "text",
    "",
    0,
    -1,
    1.5,
    True,
    False,
    None,
]
WITH_SCHEMAS = [op for op in TAKING_BODIES if op.operation.body and op.operation.body.schema]


def _property_validator(component: str, name: str) -> jsonschema_rs.Validator:
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{component}/properties/{name}",
        "components": counts.DOCUMENT["components"],
    }
    return jsonschema_rs.validator_for(root)


@pytest.mark.parametrize("op", WITH_SCHEMAS, ids=counts.op_id)
def test_a_value_of_the_wrong_type_in_any_property_is_refused(
    api: Api, op: DocumentedOperation
) -> None:
    """Each property, each JSON value its schema does not allow: 4xx, nothing changes."""
    assert op.operation.body is not None and op.operation.body.schema is not None
    component = op.operation.body.schema
    properties = counts.DOCUMENT["components"]["schemas"][component]["properties"]
    path = _path(api, op)
    valid = api.admin.request(op.method, path, json=counts.valid_body(op, api.acme) or {})
    assert valid.status_code < 300, ("the valid body must succeed", valid.text)
    before = _state(api)
    tried = 0
    for name, schema in properties.items():
        check = _property_validator(component, name)
        # a malformed id names nothing: 404, exactly like an unknown one (SPEC §4.3)
        expected = (404, 422) if "uuid" in json.dumps(schema) else (422,)
        for value in WRONG_VALUES:
            if check.is_valid(value):
                continue
            body = {**(counts.valid_body(op, api.acme) or {}), name: value}
            response = api.admin.request(op.method, path, json=body)
            tried += 1
            assert response.status_code in expected, (name, value, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
    assert _state(api) == before, "a refused body changed something"
    counts.tried(PART, tried)
    assert tried >= 5
