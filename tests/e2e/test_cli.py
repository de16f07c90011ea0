"""The `xavyo-connectors` command line, run as a real process."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import keyring_from_env_or_file, load_key_file, open_all
from xavyo_connectors_core.stores import open_store
from xavyo_connectors_core.tenancy import ensure_tenant

SECRET = "s3cret-Zq8-never-printed"


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XAVYO_")}
    return subprocess.run(
        [sys.executable, "-m", "xavyo_connectors_core.cli", *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_demo_runs_the_whole_flow(tmp_path: Path) -> None:
    """`demo` seeds 1,000 people, syncs, provisions, reconciles and prints a summary."""
    data = tmp_path / "data"
    done = cli(data, "demo")
    assert done.returncode == 0, done.stderr
    assert "report      succeeded  linked=" in done.stdout
    assert "curl -s http://127.0.0.1:8080/connectors" in done.stdout
    with sqlite3.connect(data / "files" / "demo-app.db") as conn:
        (rows,) = conn.execute("SELECT count(*) FROM users").fetchone()
    assert f"app table rows: {rows}" in done.stdout and rows > 0
    token = data / "admin-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "keys").stat().st_mode) == 0o600


def test_token_create_prints_the_token_last(tmp_path: Path) -> None:
    """`token create` prints the new token alone on the last line."""
    data = tmp_path / "data"
    assert cli(data, "migrate").returncode == 0
    done = cli(data, "token", "create", "--tenant", "default", "--role", "reader")
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("xvy_") and " " not in last


def test_keys_rotate_reseals_every_secret(tmp_path: Path) -> None:
    """After `keys generate` + `keys rotate`, every secret opens and none uses the old key."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "files").mkdir()
    old_ring = keyring_from_env_or_file(data, environ={})
    store = open_store(str(data / "xavyo.db"))
    deps = Deps(store, default_registry(), old_ring, SystemClock(), (data / "files").resolve())
    tenant = ensure_tenant(deps, "default")
    ids = []
    for i in range(3):
        connector = create_connector(
            deps,
            tenant.id,
            {
                "name": f"db{i}",
                "type": "sql",
                "config": {"url": "sqlite:///app.db", "table": "t", "uid_column": "id"},
                "secrets": {"password": f"{SECRET}-{i}"},
            },
        )
        ids.append(connector.id)
    store.close()

    generated = cli(data, "keys", "generate")
    assert generated.returncode == 0, generated.stderr
    new_kid = generated.stdout.strip()
    rotated = cli(data, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-sealed 3 secret(s)" in rotated.stdout
    assert SECRET not in rotated.stdout + rotated.stderr

    ring = load_key_file(data / "keys")
    assert ring.primary_kid == new_kid
    store = open_store(str(data / "xavyo.db"))
    with store.unit_of_work() as uow:
        for i, cid in enumerate(ids):
            connector = uow.connectors.get(tenant.id, cid)
            assert {s.kid for s in connector.secrets.values()} == {new_kid}
            assert open_all(ring, tenant.id, cid, connector.secrets) == {
                "password": f"{SECRET}-{i}"
            }
    store.close()
    raw = (data / "xavyo.db").read_bytes()
    assert SECRET.encode() not in raw
