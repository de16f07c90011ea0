"""``GET /connector-types``: the registered types with their config spec (SPEC §4.4)."""

from __future__ import annotations

from tests.api.conftest import Caller


class TestConnectorTypes:
    def test_lists_csv_with_its_config_spec(self, reader: Caller) -> None:
        response = reader.get("/connector-types")
        assert response.status_code == 200
        body = response.json()
        assert body["next_cursor"] is None
        by_type = {item["type"]: item for item in body["items"]}
        csv = by_type["csv"]
        assert set(csv) == {"type", "description", "capabilities", "config"}
        assert {"schema", "search", "create", "update", "delete"} <= set(csv["capabilities"])
        fields = {field["name"]: field for field in csv["config"]}
        assert {"path", "uid_column", "delimiter", "timeout_seconds"} <= set(fields)
        assert fields["path"]["required"] is True
        assert fields["delimiter"]["default"] == ","
        assert set(fields["path"]) == {
            "name",
            "type",
            "required",
            "secret",
            "default",
            "description",
        }

    def test_secret_fields_are_marked(self, reader: Caller) -> None:
        items = {item["type"]: item for item in reader.get("/connector-types").json()["items"]}
        fields = {field["name"]: field for field in items["vault"]["config"]}
        assert fields["password"]["secret"] is True
