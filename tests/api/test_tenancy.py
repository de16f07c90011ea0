"""Nothing crosses tenants: another tenant's resource is a 404, like an unknown one."""

from __future__ import annotations

import pytest

from tests.api.conftest import Caller, assert_problem, csv_connector, vault_connector


@pytest.fixture
def foreign_connector(other_admin: Caller) -> str:
    response = other_admin.post("/connectors", json=vault_connector())
    assert response.status_code == 201
    return str(response.json()["id"])


class TestTenantIsolation:
    @pytest.mark.parametrize(
        ("method", "suffix", "kwargs"),
        [
            ("GET", "", {}),
            ("PATCH", "", {"json": {"description": "mine now"}}),
            ("DELETE", "", {}),
            ("POST", "/test", {}),
            ("GET", "/schema", {}),
            ("GET", "/schema/versions", {}),
        ],
    )
    def test_other_tenants_connector_is_404(
        self,
        admin: Caller,
        other_admin: Caller,
        foreign_connector: str,
        method: str,
        suffix: str,
        kwargs: dict[str, object],
    ) -> None:
        """GET, PATCH, DELETE and test of another tenant's connector: 404, nothing changes."""
        url = f"/connectors/{foreign_connector}{suffix}"
        body = assert_problem(admin.request(method, url, **kwargs), 404)
        unknown_url = f"/connectors/{'0' * 32}{suffix}"
        unknown = assert_problem(admin.request(method, unknown_url, **kwargs), 404)
        assert body["title"] == unknown["title"]
        owned = other_admin.get(f"/connectors/{foreign_connector}").json()
        assert owned["version"] == 1
        assert owned["description"] == ""
        assert owned["last_test"] is None

    def test_lists_show_only_the_callers_tenant(
        self, admin: Caller, other_admin: Caller, foreign_connector: str
    ) -> None:
        admin.post("/connectors", json=csv_connector())
        mine = admin.get("/connectors").json()["items"]
        assert [item["name"] for item in mine] == ["hr-feed"]
        assert foreign_connector not in {item["id"] for item in mine}

    def test_other_tenants_identity_is_404(self, admin: Caller, other_admin: Caller) -> None:
        created = other_admin.post("/identities", json={"attributes": {"email": "x@y.z"}})
        url = f"/identities/{created.json()['id']}"
        assert_problem(admin.get(url), 404)
        assert_problem(admin.patch(url, json={"enabled": False}), 404)
        assert_problem(admin.delete(url), 404)
        assert other_admin.get(url).json()["enabled"] is True
        assert admin.get("/identities").json()["items"] == []
