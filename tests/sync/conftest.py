"""Fixtures for sync tests: real stores, real files, the real csv type."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deps import engine_deps, store_url
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.tenancy import ensure_tenant


@pytest.fixture(params=["memory", "sqlite"])
def deps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deps]:
    with engine_deps(store_url(request.param, request, tmp_path), tmp_path) as deps:
        yield deps


@pytest.fixture
def tenant_id(deps: Deps):  # type: ignore[no-untyped-def]
    return ensure_tenant(deps, "acme").id
