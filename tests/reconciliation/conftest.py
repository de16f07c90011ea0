"""Reconciliation runs against the same real stores and application table as provisioning,
and against PostgreSQL too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.provisioning.conftest import app_db, tenant_id
from tests.support.deps import engine_deps, store_url
from xavyo_connectors_core.deps import Deps

__all__ = ["app_db", "deps", "tenant_id"]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deps]:
    with engine_deps(store_url(request.param, request, tmp_path), tmp_path) as deps:
        yield deps
