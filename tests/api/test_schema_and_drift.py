"""Schema discovery, mapping validation and drift over HTTP against a real PostgreSQL table.

Issue 3 "Must show": a misspelt attribute, a generated column and an uncovered required
column are 422s with paths; a connector whose database is down is a 409 and nothing is
stored; dropping a mapped column makes a new schema version, `needs_attention`, and
refused syncs.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.api.conftest import Caller
from tests.support.postgres import free_port

pytestmark = pytest.mark.postgres

TABLE = """
CREATE TABLE app_users (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login text NOT NULL UNIQUE,
    email text NOT NULL,
    display text,
    badge text GENERATED ALWAYS AS (upper(login)) STORED,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


@pytest.fixture
def app_table(postgres_url: str) -> str:
    with psycopg.connect(postgres_url) as conn:
        conn.execute(TABLE)
    return postgres_url


def target(url: str, mappings: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    user_and_host = url.removeprefix("postgresql://")
    return {
        "name": "app",
        "type": "sql",
        "role": "target",
        "config": {
            "url": f"postgresql://{user_and_host}",
            "table": "app_users",
            "uid_column": "id",
            "name_column": "login",
            "change_column": "updated_at",
        },
        "mappings": mappings,
        **extra,
    }


GOOD = [
    {"identity": "login", "account": "login", "direction": "outbound"},
    {"identity": "email", "account": "email", "direction": "both"},
    {"identity": "display_name", "account": "display", "direction": "outbound"},
]


class TestSchemaEndpoint:
    def test_discovered_types_and_flags(self, admin: Caller, app_table: str) -> None:
        """Identity/generated columns are not creatable; NOT NULL without default is required."""
        created = admin.post("/connectors", json=target(app_table, GOOD))
        assert created.status_code == 201, created.text
        schema = admin.get(f"/connectors/{created.json()['id']}/schema").json()
        (oc,) = schema["object_classes"]
        attrs = {a["name"]: a for a in oc["attributes"]}
        assert oc["uid_attribute"] == "id" and oc["name_attribute"] == "login"
        assert attrs["id"]["creatable"] is False and attrs["id"]["type"] == "integer"
        assert attrs["badge"]["creatable"] is False and attrs["badge"]["updateable"] is False
        assert attrs["login"]["required"] is True and attrs["email"]["required"] is True
        assert attrs["display"]["required"] is False
        assert attrs["updated_at"]["type"] == "datetime"
        assert schema["discovered_at"].endswith("Z")


class TestValidation:
    def test_misspelt_attribute_is_named(self, admin: Caller, app_table: str) -> None:
        """A mapping to a misspelt attribute → 422 with mappings[i].account."""
        bad = [*GOOD[:2], {"identity": "display_name", "account": "dispaly"}]
        answer = admin.post("/connectors", json=target(app_table, bad))
        assert answer.status_code == 422
        paths = [e["path"] for e in answer.json()["errors"]]
        assert "mappings[2].account" in paths

    def test_outbound_to_generated_column(self, admin: Caller, app_table: str) -> None:
        """Writing a generated column → 422."""
        bad = [*GOOD, {"identity": "login", "account": "badge", "direction": "outbound"}]
        answer = admin.post("/connectors", json=target(app_table, bad))
        assert answer.status_code == 422
        assert any(e["path"] == "mappings[3].account" for e in answer.json()["errors"])

    def test_required_column_uncovered_on_a_target(self, admin: Caller, app_table: str) -> None:
        """A required column without an outbound mapping → 422, all errors at once."""
        bad = [GOOD[0], {"identity": "x", "account": "nope"}]
        answer = admin.post("/connectors", json=target(app_table, bad))
        assert answer.status_code == 422
        errors = answer.json()["errors"]
        assert any("email" in e["message"] for e in errors)
        assert any(e["path"] == "mappings[1].account" for e in errors)

    def test_database_down_is_409_and_nothing_stored(self, admin: Caller) -> None:
        """The schema cannot be had → 409 schema unavailable, and no connector exists."""
        down = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
        document = target(down, GOOD)
        document["config"] = {
            "url": down,
            "table": "app_users",
            "uid_column": "id",
            "timeout_seconds": 2,
        }
        answer = admin.post("/connectors", json=document)
        assert answer.status_code == 409
        assert "schema unavailable" in answer.json()["detail"]
        assert admin.get("/connectors").json()["items"] == []


class TestDrift:
    def test_dropping_a_mapped_column(self, admin: Caller, app_table: str) -> None:
        """Drop a mapped column → new version naming it, needs_attention, sync refused."""
        created = admin.post("/connectors", json=target(app_table, GOOD)).json()
        cid = created["id"]
        assert created["needs_attention"] is None
        with psycopg.connect(app_table) as conn:
            conn.execute("ALTER TABLE app_users DROP COLUMN display")
        refreshed = admin.get(f"/connectors/{cid}/schema", params={"refresh": "true"})
        assert refreshed.status_code == 200
        versions = admin.get(f"/connectors/{cid}/schema/versions").json()["items"]
        assert [v["version"] for v in versions] == [2, 1]
        assert versions[0]["diff"]["removed"] == ["display"]
        connector = admin.get(f"/connectors/{cid}").json()
        assert connector["needs_attention"]
        assert any(e["path"] == "mappings[2].account" for e in connector["needs_attention"])
        refused = admin.post(f"/connectors/{cid}/sync")
        assert refused.status_code == 409
        fixed = admin.patch(
            f"/connectors/{cid}",
            json={"mappings": GOOD[:2]},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["needs_attention"] is None
        assert admin.post(f"/connectors/{cid}/sync").status_code == 202

    def test_unreachable_with_nothing_cached_is_502(self, admin: Caller) -> None:
        """GET schema of an unreachable system with nothing cached → 502 problem."""
        down = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
        doc = {
            "name": "down",
            "type": "sql",
            "role": "target",
            "config": {"url": down, "table": "t", "uid_column": "id", "timeout_seconds": 2},
        }
        cid = admin.post("/connectors", json=doc).json()["id"]
        answer = admin.get(f"/connectors/{cid}/schema")
        assert answer.status_code == 502
        assert answer.headers["content-type"].startswith("application/problem+json")
