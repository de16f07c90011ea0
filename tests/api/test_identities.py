"""The reference identity store over HTTP (SPEC §4.2, §4.4 Identity)."""

from __future__ import annotations

import uuid

from tests.api.conftest import Caller, assert_problem


def _create(admin: Caller, **attributes: object) -> dict[str, object]:
    response = admin.post("/identities", json={"attributes": attributes})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


class TestIdentities:
    def test_create_get_patch_delete(self, admin: Caller) -> None:
        """The whole life of an identity, with Location, ETag and If-Match."""
        response = admin.post(
            "/identities",
            json={"attributes": {"email": "ada@example.org", "groups": ["eng", "ops"]}},
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert set(created) == {"id", "attributes", "enabled", "created_at", "updated_at"}
        assert created["enabled"] is True
        assert created["created_at"].endswith("Z")
        url = response.headers["location"]
        assert url == f"/identities/{created['id']}"
        assert response.headers["etag"] == '"1"'

        read = admin.get(url)
        assert read.json() == created
        assert read.headers["etag"] == '"1"'

        patched = admin.patch(
            url,
            json={"attributes": {"groups": None, "given_name": "Ada"}, "enabled": False},
            headers={"If-Match": '"1"'},
        )
        assert patched.status_code == 200, patched.text
        assert patched.headers["etag"] == '"2"'
        assert patched.json()["attributes"] == {"email": "ada@example.org", "given_name": "Ada"}
        assert patched.json()["enabled"] is False

        assert_problem(admin.patch(url, json={"enabled": True}, headers={"If-Match": '"1"'}), 412)

        assert admin.delete(url).status_code == 204
        assert_problem(admin.get(url), 404)

    def test_list_with_enabled_filter_in_creation_order(self, admin: Caller) -> None:
        ids = [_create(admin, n=i)["id"] for i in range(4)]
        admin.patch(f"/identities/{ids[1]}", json={"enabled": False})
        everyone = admin.get("/identities").json()
        assert [item["id"] for item in everyone["items"]] == ids
        enabled = admin.get("/identities", params={"enabled": "true"}).json()
        assert [item["id"] for item in enabled["items"]] == [ids[0], ids[2], ids[3]]
        disabled = admin.get("/identities", params={"enabled": "false"}).json()
        assert [item["id"] for item in disabled["items"]] == [ids[1]]
        page = admin.get("/identities", params={"limit": "3"}).json()
        assert len(page["items"]) == 3
        rest = admin.get("/identities", params={"limit": "3", "cursor": page["next_cursor"]})
        assert [item["id"] for item in rest.json()["items"]] == [ids[3]]

    def test_bad_enabled_filter_is_422(self, admin: Caller) -> None:
        body = assert_problem(admin.get("/identities", params={"enabled": "maybe"}), 422)
        assert body["errors"][0]["path"] == "enabled"

    def test_invalid_attributes_are_422_with_paths(self, admin: Caller) -> None:
        response = admin.post(
            "/identities", json={"attributes": {"Bad Name": 1, "ok": {"nested": True}}}
        )
        body = assert_problem(response, 422)
        assert {"attributes", "attributes.ok"} <= {e["path"] for e in body["errors"]}

    def test_unknown_field_is_422(self, admin: Caller) -> None:
        body = assert_problem(admin.post("/identities", json={"attributes": {}, "x": 1}), 422)
        assert body["errors"][0]["path"] == "x"

    def test_unknown_and_malformed_ids_are_404(self, admin: Caller) -> None:
        assert_problem(admin.get(f"/identities/{uuid.uuid4()}"), 404)
        assert_problem(admin.get("/identities/nope"), 404)
        assert_problem(admin.delete("/identities/nope"), 404)
