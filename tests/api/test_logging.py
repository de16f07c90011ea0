"""Secrets never reach the logs, even at DEBUG (SPEC §3.1, §3.8; issue 2 "Must show")."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import SECRET, Caller, vault_connector


class TestSecretsNotLogged:
    def test_create_patch_test_flow_logs_no_plaintext(
        self, admin: Caller, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Every record of a create / patch / test / read flow, at DEBUG, lacks the secret."""
        with caplog.at_level(logging.DEBUG):
            created = admin.post("/connectors", json=vault_connector())
            assert created.status_code == 201, created.text
            url = created.headers["location"]
            assert admin.patch(url, json={"secrets": {"password": SECRET}}).status_code == 200
            assert admin.patch(url, json={"secrets": {"password": 42}}).status_code == 422
            assert admin.patch(url, json={"config": {"password": SECRET}}).status_code == 422
            tested = admin.post(f"{url}/test")
            assert tested.json()["ok"] is True
            admin.get(url)
            admin.get(f"{url}/schema")
            for response in (created, tested):
                assert SECRET not in response.text
        assert caplog.records, "expected some log records at DEBUG"
        for record in caplog.records:
            assert SECRET not in record.getMessage()
            assert SECRET not in str(record.args)
            assert SECRET not in str(record.__dict__)
        assert SECRET not in caplog.text

    def test_secret_in_a_rejected_config_is_not_echoed(self, admin: Caller) -> None:
        """A secret given where it does not belong is reported by path, not by value."""
        document = vault_connector()
        document["config"]["password"] = SECRET
        response = admin.post("/connectors", json=document)
        assert response.status_code == 422
        assert SECRET not in response.text
