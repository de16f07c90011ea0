"""Connector management over HTTP (SPEC §3.1, §4.1, §4.3, §4.4)."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.api.conftest import (
    SECRET,
    Caller,
    assert_problem,
    csv_connector,
    vault_connector,
    write_csv,
)

HEADER = "employee_id,email,given_name"


class TestCreateConnector:
    def test_created_with_location_and_etag(self, admin: Caller) -> None:
        """A valid document answers 201 with Location and ETag of version 1."""
        response = admin.post("/connectors", json=csv_connector())
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["location"] == f"/connectors/{body['id']}"
        assert response.headers["etag"] == '"1"'
        assert body["version"] == 1
        assert body["name"] == "hr-feed"
        assert body["type"] == "csv"
        assert body["role"] == "source"
        assert body["config"]["path"] == "hr.csv"
        assert body["secrets"] == []
        assert body["created_at"].endswith("Z")
        assert response.headers["content-type"].startswith("application/json")
        assert admin.get(response.headers["location"]).json() == body

    def test_secrets_are_shown_by_name_only(self, admin: Caller) -> None:
        """The response lists secret names; the plaintext appears nowhere in it."""
        response = admin.post("/connectors", json=vault_connector())
        assert response.status_code == 201, response.text
        assert response.json()["secrets"] == ["password"]
        assert SECRET not in response.text
        read = admin.get(response.headers["location"])
        assert read.json()["secrets"] == ["password"]
        assert SECRET not in read.text
        assert SECRET not in admin.get("/connectors").text

    def test_duplicate_name_in_other_case_is_409(self, admin: Caller) -> None:
        """Names are unique per tenant case-insensitively."""
        assert admin.post("/connectors", json=csv_connector("HR-Feed")).status_code == 201
        assert_problem(admin.post("/connectors", json=csv_connector("hr-FEED")), 409)
        assert len(admin.get("/connectors").json()["items"]) == 1

    def test_same_name_in_another_tenant_is_fine(self, admin: Caller, other_admin: Caller) -> None:
        """Uniqueness is per tenant."""
        assert admin.post("/connectors", json=csv_connector()).status_code == 201
        assert other_admin.post("/connectors", json=csv_connector()).status_code == 201

    def test_unknown_field_is_422_naming_it(self, admin: Caller) -> None:
        """Unknown fields are rejected, each named by its path."""
        response = admin.post("/connectors", json=csv_connector(colour="blue"))
        body = assert_problem(response, 422)
        assert {"path": "colour", "message": "is not a known field"} in body["errors"]

    def test_every_field_error_is_reported(self, admin: Caller) -> None:
        """Unknown config keys and bad types come back together, each with its path."""
        document = csv_connector()
        document["config"]["flavour"] = "x"
        document["enabled"] = "yes"
        body = assert_problem(admin.post("/connectors", json=document), 422)
        paths = {error["path"] for error in body["errors"]}
        assert "enabled" in paths or "config.flavour" in paths
        assert all(set(error) == {"path", "message"} for error in body["errors"])

    def test_csv_path_escaping_the_files_root_is_422(self, admin: Caller) -> None:
        """A csv path with ``..`` is rejected on ``config.path``."""
        body = assert_problem(admin.post("/connectors", json=csv_connector(path="../x.csv")), 422)
        assert any(error["path"] == "config.path" for error in body["errors"])

    def test_absolute_csv_path_is_422(self, admin: Caller) -> None:
        body = assert_problem(
            admin.post("/connectors", json=csv_connector(path="/etc/passwd")), 422
        )
        assert any(error["path"] == "config.path" for error in body["errors"])

    def test_unregistered_type_is_422(self, admin: Caller) -> None:
        document = csv_connector()
        document["type"] = "carrier-pigeon"
        body = assert_problem(admin.post("/connectors", json=document), 422)
        assert any(error["path"] == "type" for error in body["errors"])

    def test_a_json_array_is_422(self, admin: Caller) -> None:
        """The body must be an object."""
        assert_problem(admin.post("/connectors", json=[csv_connector()]), 422)


class TestReadConnector:
    def test_get_carries_etag(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        response = admin.get(f"/connectors/{created['id']}")
        assert response.status_code == 200
        assert response.headers["etag"] == '"1"'

    def test_unknown_id_is_404(self, admin: Caller) -> None:
        assert_problem(admin.get(f"/connectors/{uuid.uuid4()}"), 404)

    def test_malformed_id_is_404(self, admin: Caller) -> None:
        """A path id that is not a UUID is a 404, like an unknown one."""
        for bad in ("not-a-uuid", "1", "x" * 100, "%00"):
            assert_problem(admin.get(f"/connectors/{bad}"), 404)

    def test_head_is_answered_like_get(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        response = admin.request("HEAD", f"/connectors/{created['id']}")
        assert response.status_code == 200
        assert response.headers["etag"] == '"1"'


class TestListConnectors:
    def test_pages_through_every_connector_once_in_creation_order(self, admin: Caller) -> None:
        """limit=3 over 7 connectors: 3 + 3 + 1, each once, oldest first."""
        created = [
            admin.post("/connectors", json=csv_connector(f"feed-{i}")).json()["id"]
            for i in range(7)
        ]
        seen: list[str] = []
        pages = 0
        cursor = None
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            body = admin.get("/connectors", params=params).json()
            assert set(body) == {"items", "next_cursor"}
            assert len(body["items"]) <= 3
            seen.extend(item["id"] for item in body["items"])
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert pages < 10
        assert seen == created
        assert pages in (3, 4)

    def test_default_page(self, admin: Caller) -> None:
        admin.post("/connectors", json=csv_connector())
        body = admin.get("/connectors").json()
        assert len(body["items"]) == 1
        assert body["next_cursor"] is None

    def test_limit_outside_1_to_500_is_422(self, admin: Caller) -> None:
        for bad in ("0", "501", "-1", "abc", "", "2.5"):
            body = assert_problem(admin.get("/connectors", params={"limit": bad}), 422)
            assert [error["path"] for error in body["errors"]] == ["limit"]
        assert admin.get("/connectors", params={"limit": "500"}).status_code == 200
        assert admin.get("/connectors", params={"limit": "1"}).status_code == 200

    def test_tampered_cursor_is_422(self, admin: Caller) -> None:
        body = assert_problem(admin.get("/connectors", params={"cursor": "!!nope!!"}), 422)
        assert [error["path"] for error in body["errors"]] == ["cursor"]

    def test_filters(self, admin: Caller, files_root: Path) -> None:
        """type, role and enabled filter the list."""
        admin.post("/connectors", json=csv_connector("a", role="source"))
        admin.post("/connectors", json=csv_connector("b", role="target", enabled=False))
        admin.post("/connectors", json=vault_connector("c"))

        def names(**params: str) -> list[str]:
            response = admin.get("/connectors", params=params)
            assert response.status_code == 200, response.text
            return [item["name"] for item in response.json()["items"]]

        assert names(type="csv") == ["a", "b"]
        assert names(type="vault") == ["c"]
        assert names(role="target") == ["b", "c"]
        assert names(enabled="false") == ["b"]
        assert names(enabled="true", role="target") == ["c"]
        assert names(unknown="ignored") == ["a", "b", "c"]

    def test_bad_filter_values_are_422_naming_the_parameter(self, admin: Caller) -> None:
        for params, path in (
            ({"enabled": "maybe"}, "enabled"),
            ({"role": "boss"}, "role"),
            ({"type": ""}, "type"),
        ):
            body = assert_problem(admin.get("/connectors", params=params), 422)
            assert [error["path"] for error in body["errors"]] == [path]


class TestUpdateConnector:
    def test_merge_patch_bumps_version_and_etag(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        response = admin.patch(
            f"/connectors/{created['id']}",
            json={"description": "the HR feed"},
            headers={"If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["description"] == "the HR feed"
        assert response.json()["version"] == 2
        assert response.headers["etag"] == '"2"'

    def test_merge_patch_media_type_is_accepted(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        response = admin.patch(
            f"/connectors/{created['id']}",
            content=b'{"enabled": false}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["enabled"] is False

    def test_stale_if_match_is_412(self, admin: Caller) -> None:
        """A PATCH naming another version fails and changes nothing."""
        created = admin.post("/connectors", json=csv_connector()).json()
        url = f"/connectors/{created['id']}"
        admin.patch(url, json={"description": "v2"})
        response = admin.patch(url, json={"description": "v3"}, headers={"If-Match": '"1"'})
        assert_problem(response, 412)
        assert admin.get(url).json()["description"] == "v2"

    def test_malformed_if_match_is_412(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        url = f"/connectors/{created['id']}"
        for bad in ("1", 'W/"1"', '"1", "2"', '"one"'):
            assert_problem(
                admin.patch(url, json={"description": "x"}, headers={"If-Match": bad}), 412
            )
        assert admin.get(url).json()["version"] == 1

    def test_if_match_star_matches(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        response = admin.patch(
            f"/connectors/{created['id']}", json={"description": "x"}, headers={"If-Match": "*"}
        )
        assert response.status_code == 200

    def test_read_only_field_is_422(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        body = assert_problem(admin.patch(f"/connectors/{created['id']}", json={"version": 7}), 422)
        assert body["errors"][0]["path"] == "version"

    def test_secret_set_and_removed(self, admin: Caller) -> None:
        """Setting a secret to null removes it; values never come back."""
        created = admin.post("/connectors", json=vault_connector()).json()
        url = f"/connectors/{created['id']}"
        removed = admin.patch(url, json={"secrets": {"password": None}})
        assert removed.status_code == 200, removed.text
        assert removed.json()["secrets"] == []
        restored = admin.patch(url, json={"secrets": {"password": SECRET}})
        assert restored.json()["secrets"] == ["password"]
        assert SECRET not in restored.text

    def test_duplicate_name_by_patch_is_409(self, admin: Caller) -> None:
        admin.post("/connectors", json=csv_connector("first"))
        second = admin.post("/connectors", json=csv_connector("second")).json()
        assert_problem(admin.patch(f"/connectors/{second['id']}", json={"name": "FIRST"}), 409)


class TestDeleteConnector:
    def test_delete_is_204_then_404(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        url = f"/connectors/{created['id']}"
        response = admin.delete(url)
        assert response.status_code == 204
        assert response.content == b""
        assert_problem(admin.get(url), 404)
        assert_problem(admin.delete(url), 404)


class TestTestConnector:
    def test_csv_with_missing_file_is_200_not_ok(self, admin: Caller) -> None:
        """A failing system is a normal answer: 200 with ok false."""
        created = admin.post("/connectors", json=csv_connector(path="missing.csv")).json()
        response = admin.post(f"/connectors/{created['id']}/test")
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"ok", "latency_ms", "message", "tested_at"}
        assert body["ok"] is False
        assert body["message"]
        assert body["tested_at"].endswith("Z")
        stored = admin.get(f"/connectors/{created['id']}").json()
        assert stored["last_test"] == body

    def test_csv_with_file_is_ok(self, admin: Caller, files_root: Path) -> None:
        write_csv(files_root, "hr.csv", [HEADER, "1,ada@example.org,Ada"])
        created = admin.post("/connectors", json=csv_connector()).json()
        body = admin.post(f"/connectors/{created['id']}/test").json()
        assert body["ok"] is True
        assert isinstance(body["latency_ms"], int)

    def test_secret_reaches_the_connection(self, admin: Caller) -> None:
        """The vault checks the password it is opened with: the sealed secret opens."""
        created = admin.post("/connectors", json=vault_connector()).json()
        body = admin.post(f"/connectors/{created['id']}/test").json()
        assert body == {**body, "ok": True, "message": "vault ok"}
        assert SECRET not in str(body)


class TestSchema:
    def test_csv_schema_is_discovered_and_cached(self, admin: Caller, files_root: Path) -> None:
        write_csv(files_root, "hr.csv", [HEADER, "1,ada@example.org,Ada"])
        created = admin.post("/connectors", json=csv_connector()).json()
        url = f"/connectors/{created['id']}/schema"
        response = admin.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"object_classes", "discovered_at"}
        assert body["discovered_at"].endswith("Z")
        (account,) = body["object_classes"]
        assert set(account) == {"name", "uid_attribute", "name_attribute", "attributes"}
        assert account["uid_attribute"] == "employee_id"
        names = [attribute["name"] for attribute in account["attributes"]]
        assert {"employee_id", "email", "given_name"} <= set(names)
        assert set(account["attributes"][0]) == {
            "name",
            "type",
            "multivalued",
            "required",
            "readable",
            "creatable",
            "updateable",
            "returned_by_default",
        }
        assert admin.get(url).json() == body  # cached: same discovery time

    def test_refresh_rediscovers(self, admin: Caller, files_root: Path) -> None:
        write_csv(files_root, "hr.csv", [HEADER, "1,ada@example.org,Ada"])
        created = admin.post("/connectors", json=csv_connector()).json()
        url = f"/connectors/{created['id']}/schema"
        admin.get(url)
        write_csv(files_root, "hr.csv", [HEADER + ",department", "1,ada@example.org,Ada,R&D"])
        refreshed = admin.get(url, params={"refresh": "true"}).json()
        names = {a["name"] for a in refreshed["object_classes"][0]["attributes"]}
        assert "department" in names

    def test_unreachable_with_nothing_cached_is_502(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector(path="missing.csv")).json()
        assert_problem(admin.get(f"/connectors/{created['id']}/schema"), 502)

    def test_bad_refresh_value_is_422(self, admin: Caller) -> None:
        created = admin.post("/connectors", json=csv_connector()).json()
        body = assert_problem(
            admin.get(f"/connectors/{created['id']}/schema", params={"refresh": "soon"}), 422
        )
        assert body["errors"][0]["path"] == "refresh"

    def test_versions_newest_first_with_diff(self, admin: Caller, files_root: Path) -> None:
        write_csv(files_root, "hr.csv", [HEADER, "1,ada@example.org,Ada"])
        created = admin.post("/connectors", json=csv_connector()).json()
        schema_url = f"/connectors/{created['id']}/schema"
        admin.get(schema_url)
        write_csv(files_root, "hr.csv", ["employee_id,email,department", "1,a@b.c,R&D"])
        admin.get(schema_url, params={"refresh": "true"})
        response = admin.get(f"{schema_url}/versions")
        assert response.status_code == 200, response.text
        body = response.json()
        assert [item["version"] for item in body["items"]] == [2, 1]
        newest = body["items"][0]
        assert set(newest) == {"version", "discovered_at", "diff"}
        assert newest["diff"]["added"] == ["department"]
        assert newest["diff"]["removed"] == ["given_name"]
        assert body["next_cursor"] is None
        paged = admin.get(f"{schema_url}/versions", params={"limit": "1"}).json()
        assert [item["version"] for item in paged["items"]] == [2]
        assert paged["next_cursor"] is not None
