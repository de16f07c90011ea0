"""`Deps` over a real store for the engine tests: a fixed clock, a files root, fresh keys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from xavyo_connectors_core.clock import FixedClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store of ``kind``: memory, an SQLite file, or a fresh PostgreSQL database."""
    if kind == "memory":
        return "memory:"
    if kind == "sqlite":
        return str(tmp_path / "store.db")
    if kind == "postgres":
        url: str = request.getfixturevalue("postgres_url")
        return url
    raise ValueError(f"unknown store kind {kind!r}")


@contextmanager
def engine_deps(url: str, root: Path) -> Iterator[Deps]:
    """Open the store at ``url`` with ``root/files`` as the files root; close it after."""
    from xavyo_connectors_core.stores import open_store

    store = open_store(url)
    files = root / "files"
    files.mkdir()
    try:
        yield Deps(
            store=store,
            registry=default_registry(),
            keyring=KeyRing([generate_key()]),
            clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)),
            files_root=files,
        )
    finally:
        store.close()
