"""Fixtures of the ``scim`` connector tests: a real SCIM provider per test on loopback.

Each test gets a fresh scim2-server (in-memory storage, ≈0.1 s to start) that demands a
bearer token, and ``connect(...)`` to open connections to it that are closed afterwards.
scim2-server emits no warnings in these tests, so nothing is filtered here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.support.scim_server import ScimServer, running_scim_server
from xavyo_connectors_core.spi import OpenContext
from xavyo_connectors_core.types.scim import TYPE, ScimConnection

TOKEN = "tok-3f9a1c7e5b2d"
"""The bearer token the provider demands."""

Connect = Callable[..., ScimConnection]


@pytest.fixture
def scim_server() -> Iterator[ScimServer]:
    """A fresh, empty provider that demands ``TOKEN``."""
    with running_scim_server(bearer_token=TOKEN) as server:
        yield server


@pytest.fixture
def connect(scim_server: ScimServer, tmp_path: Path) -> Iterator[Connect]:
    """Open a connection: ``connect(server=..., secrets=..., **config)``.

    Defaults: the ``scim_server`` fixture, ``{"token": TOKEN}``, and its base URL.
    """
    with ExitStack() as stack:

        def open_connection(
            *,
            server: ScimServer | None = None,
            secrets: dict[str, str] | None = None,
            **config: Any,
        ) -> ScimConnection:
            target = server or scim_server
            full = {"base_url": target.base_url, **config}
            given = {"token": TOKEN} if secrets is None else secrets
            connection = TYPE.open(full, given, OpenContext(files_root=tmp_path))
            return stack.enter_context(connection)

        yield open_connection


@pytest.fixture
def conn(connect: Connect) -> ScimConnection:
    """A connection to ``scim_server`` with the default config."""
    return connect()
