"""The connector contract kit, run against our own csv and sql types on real files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from xavyo_connectors_core.connector_kit import check_connector_type
from xavyo_connectors_core.types.csv import TYPE as CSV
from xavyo_connectors_core.types.sql import TYPE as SQL


def test_csv_keeps_the_spi(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("login,mail\nexisting,e@example.org\n")
    check_connector_type(
        CSV,
        config={"path": "people.csv", "uid_column": "login"},
        secrets={},
        files_root=tmp_path,
        sample={"login": "kit-user", "mail": "kit@example.org"},
        change={"mail": "kit2@example.org"},
    )


def test_sql_keeps_the_spi(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "app.db") as conn:
        conn.execute("CREATE TABLE users (login TEXT PRIMARY KEY, mail TEXT NOT NULL)")
    check_connector_type(
        SQL,
        config={"url": "sqlite:///app.db", "table": "users", "uid_column": "login"},
        secrets={},
        files_root=tmp_path,
        sample={"login": "kit-user", "mail": "kit@example.org"},
        change={"mail": "kit2@example.org"},
    )


def test_the_kit_catches_a_broken_promise(tmp_path: Path) -> None:
    """A sample attribute the schema does not describe is reported."""
    (tmp_path / "people.csv").write_text("login,mail\n")
    with pytest.raises(AssertionError, match="nickname"):
        check_connector_type(
            CSV,
            config={"path": "people.csv", "uid_column": "login"},
            secrets={},
            files_root=tmp_path,
            sample={"login": "kit", "nickname": "k"},
            change={},
        )
