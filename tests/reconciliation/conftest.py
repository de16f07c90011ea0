"""Reconciliation runs against the same real stores and application table as provisioning."""

from tests.provisioning.conftest import app_db, deps, tenant_id

__all__ = ["app_db", "deps", "tenant_id"]
