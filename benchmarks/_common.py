"""Shared setup for the engine benchmarks (``sync.py``, ``reconcile.py``).

Nothing here is a benchmark-only shortcut into a store: stores are opened with
``open_store``, identities are added with ``uow.identities.add_many`` (``add`` when a
store does not have it yet) and shadows with ``uow.shadows.upsert_many`` — the batch
paths the engines use. Only the *external* systems (a CSV file, an SQLite or PostgreSQL
table) are written directly.

PostgreSQL stores live in a throwaway **durable** cluster (default fsync settings) from
``tests/support/postgres.py``; one fresh database per measurement.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``tests.support`` lives at the repository root
    sys.path.insert(0, str(ROOT))

from xavyo_connectors_core.clock import SystemClock  # noqa: E402
from xavyo_connectors_core.deps import Deps  # noqa: E402
from xavyo_connectors_core.model import Identity, Shadow  # noqa: E402
from xavyo_connectors_core.ports import UnitOfWork  # noqa: E402
from xavyo_connectors_core.registry import default_registry  # noqa: E402
from xavyo_connectors_core.secrets import KeyRing, generate_key  # noqa: E402

SEED_BATCH = 5_000
"""Identities / shadows per seeding transaction."""


# --------------------------------------------------------------------------- stores


def make_deps(store_url: str, files_root: Path, *, migrate: bool = True) -> Deps:
    """Deps over the store at ``store_url`` (a SQLite path or a postgresql:// URL)."""
    from xavyo_connectors_core.stores import open_store

    files_root.mkdir(parents=True, exist_ok=True)
    return Deps(
        store=open_store(store_url, migrate=migrate),
        registry=default_registry(),
        keyring=KeyRing([generate_key()]),  # the benchmark connectors hold no secrets
        clock=SystemClock(),
        files_root=files_root,
    )


@contextmanager
def postgres_server(settings: Sequence[str] = ()) -> Iterator[str]:
    """A throwaway *durable* PostgreSQL cluster (default fsync); yields its server URL.

    ``settings``: extra ``name=value`` server settings; none by default (PostgreSQL's
    defaults, 128 MB of ``shared_buffers`` among them)."""
    from tests.support.postgres import throwaway_server

    with throwaway_server(durable=True, settings=settings) as url:
        yield url


def create_database(server_url: str, name: str | None = None, template: str | None = None) -> str:
    """Create a database on the server (optionally from a template); return its URL."""
    import psycopg
    from tests.support.postgres import with_database

    name = name or "b_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    return with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_identities(uow: UnitOfWork, identities: Sequence[Identity]) -> str:
    """Add through the store's batch path; returns which path was used."""
    add_many = getattr(uow.identities, "add_many", None)
    if callable(add_many):
        add_many(identities)
        return "identities.add_many"
    for identity in identities:
        uow.identities.add(identity)
    return "identities.add (no add_many in this store yet)"


def seed_store(
    deps: Deps,
    identities: Iterable[Identity],
    shadows: Iterable[Shadow] = (),
    *,
    batch: int = SEED_BATCH,
) -> str:
    """Add identities, then upsert shadows, ``batch`` per transaction. Returns the path."""
    path = ""
    for chunk in chunked(identities, batch):
        with deps.store.unit_of_work() as uow:
            path = add_identities(uow, chunk)
            uow.commit()
    for chunk in chunked(shadows, batch):
        with deps.store.unit_of_work() as uow:
            uow.shadows.upsert_many(chunk)
            uow.commit()
    return path


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --------------------------------------------------------------------------- measuring


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds`` (wall) and ``t.cpu`` (this process).

    The CPU time of this process is robust to other load on the machine; for an
    SQLite store and an SQLite/CSV system everything runs in this process, so on an
    idle machine it is close to the wall time.
    """

    seconds: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self._cpu = cpu_seconds()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self._start
        self.cpu = cpu_seconds() - self._cpu


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: Path, args: Sequence[str], *, env: dict[str, str] | None = None) -> Any:
    """Run ``python script args...`` in a fresh process; it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"child {script.name} {' '.join(args)} failed ({proc.returncode})")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def profile_to(path: Path | None) -> Any:
    """A context manager profiling its block with cProfile into ``path`` (None: off)."""

    @contextmanager
    def _profile() -> Iterator[None]:
        if path is None:
            yield
            return
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield
        finally:
            profiler.disable()
            profiler.dump_stats(str(path))

    return _profile()


def top_functions(path: Path, limit: int = 25) -> str:
    """The top of a cProfile dump by own (tottime) and cumulative time, as text."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# --------------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_gb, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def fmt_rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s" if seconds > 0 else "inf"
