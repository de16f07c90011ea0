"""Bad bodies get a clear error and change nothing (SPEC §3.8, §4.3)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.api.conftest import Caller, assert_problem, csv_connector

MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def _count(admin: Caller) -> int:
    return len(admin.get("/connectors").json()["items"])


def _big_document(size: int) -> bytes:
    document = csv_connector(description="x" * size)
    return json.dumps(document).encode()


class TestBodySize:
    def test_two_mib_body_is_413(self, admin: Caller) -> None:
        body = _big_document(2 * MIB)
        response = admin.post(
            "/connectors", content=body, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 413)
        assert _count(admin) == 0

    def test_streamed_body_without_length_is_counted(self, admin: Caller) -> None:
        """Without Content-Length (chunked), the chunks are counted while streaming."""
        chunk = b" " * (64 * 1024)

        def chunks() -> Iterator[bytes]:
            yield b'{"name": "x",'
            for _ in range(40):  # 2.5 MiB of whitespace
                yield chunk
            yield b'"type": "csv", "config": {}}'

        response = admin.post(
            "/connectors", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 413)
        assert _count(admin) == 0

    def test_just_under_the_limit_is_read(self, admin: Caller) -> None:
        """A body under 1 MiB is parsed (and then judged by the core, not by size)."""
        body = _big_document(MIB - 1024)
        assert len(body) < MIB
        response = admin.post(
            "/connectors", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code != 413

    def test_lying_content_length_is_not_trusted(self, admin: Caller) -> None:
        """A non-numeric Content-Length is a 400."""
        response = admin.post(
            "/connectors",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": "two"},
        )
        assert response.status_code in (400, 413)


class TestMediaType:
    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
            "application/json; charset=latin-1",
            "application/merge-patch+json",  # only for PATCH
            "",
        ],
    )
    def test_non_json_is_415(self, admin: Caller, content_type: str) -> None:
        response = admin.post(
            "/connectors",
            content=json.dumps(csv_connector()).encode(),
            headers={"Content-Type": content_type},
        )
        assert_problem(response, 415)
        assert _count(admin) == 0

    def test_json_with_utf8_charset_is_fine(self, admin: Caller) -> None:
        response = admin.post(
            "/connectors",
            content=json.dumps(csv_connector()).encode(),
            headers={"Content-Type": "application/json; charset=UTF-8"},
        )
        assert response.status_code == 201, response.text

    def test_patch_with_form_is_415(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        response = admin.patch(
            f"/connectors/{created['id']}",
            content=b"description=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_problem(response, 415)


class TestMalformedJson:
    @pytest.mark.parametrize(
        "body",
        [
            b"{",
            b"",
            b"   ",
            b'{"name": "x",}',
            b"{'name': 'x'}",
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b'{"name": "a", "name": "b"}',
            b'{"name": "\xff\xfe"}',
            b"\xef\xbb\xbf{}",
            b'{"a": 1} {"b": 2}',
        ],
    )
    def test_malformed_json_is_400(self, admin: Caller, body: bytes) -> None:
        response = admin.post(
            "/connectors", content=body, headers={"Content-Type": "application/json"}
        )
        problem = assert_problem(response, 400)
        assert "Traceback" not in problem["detail"]
        assert _count(admin) == 0

    def test_deep_nesting_is_rejected(self, admin: Caller) -> None:
        for depth in (100, 100_000):
            body = b'{"config": ' + b"[" * depth + b"]" * depth + b"}"
            response = admin.post(
                "/connectors", content=body, headers={"Content-Type": "application/json"}
            )
            assert_problem(response, 400)

    def test_moderate_nesting_reaches_the_core(self, admin: Caller) -> None:
        body = b'{"description": ' + b"[" * 20 + b"]" * 20 + b"}"
        response = admin.post(
            "/connectors", content=body, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 422)
