"""Authentication and roles (SPEC §3.8): bearer tokens, admin and reader."""

from __future__ import annotations

from tests.api.conftest import Caller, TenantTokens, assert_problem, csv_connector


class TestAuthentication:
    def test_no_token_is_401_with_bearer_challenge(self, anonymous: Caller) -> None:
        response = anonymous.get("/connectors")
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    def test_bad_token_is_401(self, anonymous: Caller) -> None:
        for header in ("Bearer xvy_not-a-real-token-at-all", "Bearer ", "Basic dXNlcjpwYXNz"):
            response = anonymous.get("/connectors", headers={"Authorization": header})
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")

    def test_invalid_token_challenge_says_so(self, anonymous: Caller) -> None:
        response = anonymous.get("/connectors", headers={"Authorization": "Bearer nope"})
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    def test_every_protected_route_needs_a_token(self, anonymous: Caller) -> None:
        for method, url in (
            ("GET", "/connectors"),
            ("POST", "/connectors"),
            ("GET", "/connectors/00000000-0000-0000-0000-000000000000"),
            ("POST", "/connectors/00000000-0000-0000-0000-000000000000/test"),
            ("GET", "/connector-types"),
            ("GET", "/identities"),
        ):
            assert_problem(anonymous.request(method, url), 401)

    def test_scheme_is_case_insensitive(self, anonymous: Caller, acme: TenantTokens) -> None:
        response = anonymous.get("/connectors", headers={"Authorization": f"bearer {acme.admin}"})
        assert response.status_code == 200


class TestRoles:
    def test_reader_may_read(self, admin: Caller, reader: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        assert reader.get("/connectors").status_code == 200
        assert reader.get(f"/connectors/{created['id']}").status_code == 200
        assert reader.get("/connector-types").status_code == 200
        assert reader.get("/identities").status_code == 200

    def test_reader_writing_is_403(self, admin: Caller, reader: Caller) -> None:
        """POST, PATCH and DELETE by a reader: 403, and nothing changes."""
        created = admin.post("/connectors", json=csv_connector()).json()
        url = f"/connectors/{created['id']}"
        assert_problem(reader.post("/connectors", json=csv_connector("other")), 403)
        assert_problem(reader.patch(url, json={"description": "x"}), 403)
        assert_problem(reader.delete(url), 403)
        assert_problem(reader.post(f"{url}/test"), 403)
        assert_problem(reader.post("/identities", json={"attributes": {}}), 403)
        assert [item["name"] for item in admin.get("/connectors").json()["items"]] == ["hr-feed"]
        assert admin.get(url).json()["version"] == 1

    def test_reader_forbidden_before_the_body_is_read(self, reader: Caller) -> None:
        """A reader's oversized or malformed write is still a 403."""
        response = reader.post("/connectors", content=b"{", headers={"Content-Type": "text/plain"})
        assert_problem(response, 403)
