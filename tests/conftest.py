"""Session-wide fixtures: real servers started once per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.postgres import find_pg_bin, fresh_database, throwaway_server

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """A missing server binary fails on CI and skips loudly elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} is required on CI but is not installed")
    pytest.skip(f"SKIPPED LOUDLY: {what} is not installed on this machine")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server whose user may create databases."""
    given = os.environ.get("XAVYO_TEST_DATABASE_URL")
    if given:
        yield given
        return
    if find_pg_bin() is None:
        missing("PostgreSQL (apt-get install postgresql)")
    with throwaway_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(postgres_server_url) as url:
        yield url
