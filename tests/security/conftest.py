"""The security suite's world and its case counts.

A populated world of two tenants (``tests.support.api_world``: every kind of resource,
made by the real core and worker) is built once per session into a template directory;
each test gets its own copy (the SQLite store and the files root), so a test that
wrongly succeeded at something destructive cannot hide a failure in the next one.

Every part counts the cases it tried (``tests.security.counts``); the counts are written
to ``artifacts/security-counts.json`` and printed in the terminal summary.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen
from starlette.testclient import TestClient

from tests.api.conftest import Caller
from tests.security import counts
from tests.support.api_world import World, make_deps, populate
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.secrets import KeyRing
from xavyo_connectors_starlette import create_app


@frozen
class Template:
    root: Path
    keyring: KeyRing
    acme: World
    other: World


@frozen
class Api:
    """A running app over a fresh copy of the two-tenant world."""

    client: TestClient
    deps: Deps
    acme: World
    other: World
    root: Path

    def caller(self, token: str | None) -> Caller:
        return Caller(self.client, token)

    @property
    def admin(self) -> Caller:
        return self.caller(self.acme.admin)

    @property
    def reader(self) -> Caller:
        return self.caller(self.acme.reader)

    @property
    def other_admin(self) -> Caller:
        return self.caller(self.other.admin)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("security-template")
    deps = make_deps(root)
    try:
        acme = populate(deps, "acme")
        other = populate(deps, "other")
    finally:
        deps.store.close()
    return Template(root=root, keyring=deps.keyring, acme=acme, other=other)


def open_api(template: Template, root: Path) -> Iterator[Api]:
    """Copy the template to ``root`` and serve it."""
    shutil.copytree(template.root, root)
    deps = make_deps(root, keyring=template.keyring)
    try:
        with TestClient(create_app(deps)) as client:
            yield Api(client=client, deps=deps, acme=template.acme, other=template.other, root=root)
    finally:
        deps.store.close()


@pytest.fixture
def api(template: Template, tmp_path: Path) -> Iterator[Api]:
    """A fresh copy of the world, served."""
    yield from open_api(template, tmp_path / "world")


@pytest.fixture(scope="module")
def shared_api(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One copy of the world for a whole module (for Hypothesis tests)."""
    yield from open_api(template, tmp_path_factory.mktemp("shared") / "world")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not counts.COUNTS:
        return
    path = counts.write()
    terminalreporter.section("security suite: cases tried per part")
    for part, n in sorted(counts.COUNTS.items()):
        terminalreporter.write_line(f"{part:>15}: {n}")
    terminalreporter.write_line(f"(written to {path})")
