"""The documentation's examples are tested files, not prose that can drift."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from xavyo_connectors_core.ports import IdentityStore

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "examples" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_embedding_with_your_own_identity_store() -> None:
    """docs/examples/own_identity_store.py syncs the HR file into the host's own store."""
    example = load("own_identity_store")
    users = example.main()
    store: IdentityStore = users  # mypy checks the example against the port
    assert store is users
    assert sorted(u.attributes["email"] for u in users.rows.values()) == [
        "ada@example.org",
        "alan@example.org",
    ]


def test_the_example_runs_as_a_script() -> None:
    """A newcomer runs it as written and sees the users arrive."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "own_identity_store.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ada@example.org" in done.stdout
