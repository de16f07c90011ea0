"""Real `xavyo-connectors worker` processes sharing one PostgreSQL store with the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from attrs import define, field

from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key

T = TypeVar("T")


@define
class WorkerCluster:
    """The test's own `Deps` over the store, and a way to start worker processes on it."""

    deps: Deps
    files: Path
    database_url: str
    root: Path
    lease_seconds: float
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(factory=list)

    def spawn(self, name: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "xavyo_connectors_core.cli",
                "worker",
                "--database",
                self.database_url,
                "--data-dir",
                str(self.root / name),
                "--files-root",
                str(self.files),
                "--lease-seconds",
                str(self.lease_seconds),
                "--poll-seconds",
                "0.2",
            ],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


@contextmanager
def worker_cluster(
    database_url: str, root: Path, *, lease_seconds: float = 3.0
) -> Iterator[WorkerCluster]:
    """Open the store, share a fresh key ring with the workers, stop them afterwards."""
    from xavyo_connectors_core.stores import open_store

    files = root / "files"
    files.mkdir()
    ring = KeyRing([generate_key()])
    store = open_store(database_url)
    deps = Deps(store, default_registry(), ring, SystemClock(), files.resolve())
    cluster = WorkerCluster(
        deps=deps,
        files=files,
        database_url=database_url,
        root=root,
        lease_seconds=lease_seconds,
        env=dict(os.environ, XAVYO_SECRET_KEYS=ring.format()),
    )
    try:
        yield cluster
    finally:
        cluster.stop()
        store.close()


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
