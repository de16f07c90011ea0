"""Fixtures for sync tests: real stores, real files, the real csv type."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from xavyo_connectors_core.clock import FixedClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.tenancy import ensure_tenant


@pytest.fixture(params=["memory", "sqlite"])
def deps(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deps]:
    from xavyo_connectors_core.stores import open_store

    url = "memory:" if request.param == "memory" else str(tmp_path / "store.db")
    store = open_store(url)
    files = tmp_path / "files"
    files.mkdir()
    yield Deps(
        store=store,
        registry=default_registry(),
        keyring=KeyRing([generate_key()]),
        clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)),
        files_root=files,
    )
    store.close()


@pytest.fixture
def tenant_id(deps: Deps):  # type: ignore[no-untyped-def]
    return ensure_tenant(deps, "acme").id
