"""SPEC §7: the provisioning queue on PostgreSQL, against pgqueuer on the same database.

Targets: ≥ 8,000 operations/s enqueued + claimed + applied + acked with batching (batch
100); ≥ 1,000/s unbatched (batch 1); and ≥ 1.0 x pgqueuer (psycopg driver, same batch
size, same database server, same run).

Setup, measured the same way for both queues:

* one throwaway **durable** PostgreSQL cluster (default ``fsync``, ``synchronous_commit``
  and ``full_page_writes``) from ``tests/support/postgres.py``; a fresh database per
  measurement (``xavyo`` store migrated, or ``pgqueuer`` installed with ``Queries.install``);
* **4 worker processes** (``multiprocessing``, spawn) — processes, not threads, so the
  GIL does not serialise the workers; each has its own connections. All 4 first
  **enqueue** their share of N in transactions of ``batch`` operations, then (after a
  barrier) all 4 **drain** the queue: claim ``batch``, apply, ack, until nothing is due.
  Reported: N / (enqueue wall + drain wall) — every operation enqueued, claimed, applied
  and acked — and each phase alone. Process start-up and connection set-up are outside
  the timed region (the workers wait at a barrier). A drain still running after
  ``--timeout`` seconds is stopped and its rate is what it acked so far.
* **xavyo**: the library's own paths, nothing benchmark-only: operations made with
  ``provisioning.new_operation`` (kind ``update`` of a linked account, two attributes)
  and enqueued with ``provisioning.enqueue`` (the identity-change path, with its
  coalescing check) in one unit of work per batch; drained by
  ``Provisioner(batch_size=batch).drain()`` — the loop of ``xavyo-connectors worker`` —
  against a **no-op target**: the connector type ``noop`` defined here, registered
  in-process, whose connection does nothing and returns the account. Measured twice:
  **as shipped** (the ``operations`` table has no statistics yet, as in a new store or
  right after a burst of enqueues, before autovacuum analyzes it) and **with
  statistics** (``ANALYZE operations`` run, untimed, between the two phases — what
  autovacuum does eventually, and what a store fix would guarantee).
* **pgqueuer** (``pip install pgqueuer``; a benchmark-only dependency, not in
  pyproject): ``Queries.enqueue`` of ``batch`` jobs (payload: the same changes as JSON)
  with the async ``PsycopgDriver``; drained by ``PgQueuer.run(batch_size=batch,
  mode=drain)`` with a no-op async entrypoint.

Not for CI. From the repository root:

    pip install pgqueuer
    python benchmarks/queue.py [--ops 50000] [--unbatched-ops 5000] [--workers 4]
                               [--only xavyo|xavyo+stats|pgqueuer ...]
                               [--mode batched|unbatched] [--timeout 180] [--quick]
                               [--repeat N] [--profile DIR] [--json FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path, and this file would
# shadow the standard library's ``queue`` (imported by multiprocessing and psycopg).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator, Mapping, Sequence  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks._common import (  # noqa: E402
    create_database,
    drop_database,
    machine,
    postgres_server,
    postgres_version,
    top_functions,
)
from xavyo_connectors_core.model import Capability, Schema  # noqa: E402
from xavyo_connectors_core.spi import ConfigField, ConnectorObject, OpenContext  # noqa: E402

TARGET_BATCHED = 8_000
TARGET_UNBATCHED = 1_000
TARGET_RATIO = 1.0
BATCHED, UNBATCHED = 100, 1


# --------------------------------------------------------------------------- no-op target


class NoopConnection:
    """A connection to nothing: every write succeeds at once and returns the account."""

    def __enter__(self) -> NoopConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def test(self) -> str:
        return "ok"

    def schema(self) -> Schema:
        return Schema(object_classes=(), discovered_at=datetime.now(UTC))

    def search(self, object_class: str, page_size: int) -> Iterator[ConnectorObject]:
        return iter(())

    def get(self, object_class: str, uid: str) -> ConnectorObject:
        return ConnectorObject(uid=uid, name=uid)

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        uid = str(attributes.get("id") or uuid.uuid4())
        return ConnectorObject(uid=uid, name=uid, attributes=dict(attributes))

    def update(self, object_class: str, uid: str, deltas: Sequence[Any]) -> ConnectorObject:
        values = {d.attribute: d.values[0] if d.values else None for d in deltas}
        return ConnectorObject(uid=uid, name=uid, attributes=values)

    def delete(self, object_class: str, uid: str) -> None:
        return None


class NoopType:
    """The benchmark's target type: ``noop``, no config, no system behind it."""

    key = "noop"
    description = "Benchmark-only target that does nothing."
    config_spec: tuple[ConfigField, ...] = ()
    capabilities = frozenset({Capability.CREATE, Capability.UPDATE, Capability.DELETE})

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        return "account"

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> NoopConnection:
        return NoopConnection()


def bench_deps(url: str, files_root: Path, *, migrate: bool) -> Any:
    from benchmarks._common import make_deps

    deps = make_deps(url, files_root, migrate=migrate)
    deps.registry.register(NoopType())
    return deps


def changes_of(i: int) -> dict[str, Any]:
    return {"email": f"user{i}@example.org", "given_name": f"Given{i}"}


# --------------------------------------------------------------------------- workers


def _profiled(path: str | None) -> Any:
    from benchmarks._common import profile_to

    return profile_to(Path(path) if path else None)


def xavyo_worker(
    url: str,
    files_root: str,
    tenant_id: str,
    connector_id: str,
    index: int,
    share: range,
    batch: int,
    barrier: Any,
    results: Any,
    profile: str | None,
) -> None:
    """One worker process: enqueue ``share`` in batches, then drain with a Provisioner."""
    try:
        from uuid import UUID

        from xavyo_connectors_core.model import OperationKind
        from xavyo_connectors_core.provisioning import (
            Provisioner,
            enqueue,
            new_operation,
            replace_deltas,
        )

        deps = bench_deps(url, Path(files_root), migrate=False)
        with deps.store.unit_of_work() as uow:
            connector = uow.connectors.get(UUID(tenant_id), UUID(connector_id))
        provisioner = Provisioner(deps, owner=f"bench-{index}", batch_size=batch)
        barrier.wait()
        start = time.perf_counter()
        with _profiled(profile and f"{profile}-enqueue.prof"):
            for first in range(share.start, share.stop, batch):
                ops = [
                    new_operation(
                        deps,
                        connector,
                        OperationKind.UPDATE,
                        identity_id=None,
                        account_uid=f"u{i}",
                        changes=replace_deltas(changes_of(i)),
                        reason="benchmark",
                    )
                    for i in range(first, min(first + batch, share.stop))
                ]
                with deps.store.unit_of_work() as uow:
                    enqueue(uow, ops)
                    uow.commit()
        results.put(("enqueue", index, start, time.perf_counter(), len(share)))
        barrier.wait()  # all enqueued
        barrier.wait()  # drain
        start = time.perf_counter()
        with _profiled(profile and f"{profile}-drain.prof"):
            done = provisioner.drain()
        results.put(("drain", index, start, time.perf_counter(), done))
        deps.store.close()
    except BaseException:
        results.put(("error", index, traceback.format_exc()))
        barrier.abort()
        raise


def pgqueuer_worker(
    url: str, index: int, share: range, batch: int, barrier: Any, results: Any
) -> None:
    """One worker process: pgqueuer enqueue of ``share`` in batches, then a drain run."""
    try:
        asyncio.run(_pgqueuer_worker(url, index, share, batch, barrier, results))
    except BaseException:
        results.put(("error", index, traceback.format_exc()))
        barrier.abort()
        raise


async def _pgqueuer_worker(
    url: str, index: int, share: range, batch: int, barrier: Any, results: Any
) -> None:
    import psycopg
    from pgqueuer import PgQueuer, PsycopgDriver, Queries
    from pgqueuer.models import Job
    from pgqueuer.types import QueueExecutionMode

    producer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    consumer = await psycopg.AsyncConnection.connect(url, autocommit=True)
    queries = Queries(PsycopgDriver(producer))
    pgq = PgQueuer(PsycopgDriver(consumer))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        return None

    await asyncio.to_thread(barrier.wait)
    start = time.perf_counter()
    for first in range(share.start, share.stop, batch):
        ids = range(first, min(first + batch, share.stop))
        await queries.enqueue(
            ["noop"] * len(ids),
            [json.dumps(changes_of(i)).encode() for i in ids],
            [0] * len(ids),
        )
    results.put(("enqueue", index, start, time.perf_counter(), len(share)))
    await asyncio.to_thread(barrier.wait)  # all enqueued
    await asyncio.to_thread(barrier.wait)  # drain
    start = time.perf_counter()
    await pgq.run(batch_size=batch, mode=QueueExecutionMode.drain)
    results.put(("drain", index, start, time.perf_counter(), -1))
    await producer.close()


# --------------------------------------------------------------------------- orchestration


def shares(n: int, workers: int) -> list[range]:
    step = -(-n // workers)
    return [range(i, min(i + step, n)) for i in range(0, n, step)]


def run_processes(
    targets: list[tuple[Any, tuple[Any, ...]]],
    barrier: Any,
    results: Any,
    *,
    between: Callable[[], None] | None = None,
    timeout: float,
) -> dict[str, Any]:
    """Start the workers, release them together, and time both phases across them.

    ``between`` runs (untimed) after every worker enqueued and before any drains. A drain
    still running after ``timeout`` seconds is stopped (``finished`` is then False).
    """
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=fn, args=args, daemon=True) for fn, args in targets]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=120)  # everyone connected: enqueue starts
        barrier.wait(timeout=900)  # everyone enqueued
        if between is not None:
            between()
        barrier.wait(timeout=60)  # drain starts
        released = time.perf_counter()
        got: dict[str, list[tuple[Any, ...]]] = {"enqueue": [], "drain": []}
        finished = True
        while len(got["drain"]) < len(procs):
            left = released + timeout - time.perf_counter()
            try:
                item = results.get(timeout=max(0.1, left))
            except queue.Empty:
                finished = False
                break
            if item[0] == "error":
                raise RuntimeError(f"worker {item[1]} failed:\n{item[2]}")
            got[item[0]].append(item)
        stopped = time.perf_counter()
    finally:
        for proc in procs:
            if proc.is_alive() and not finished:
                proc.terminate()
            proc.join(timeout=60)
    enqueue = max(r[3] for r in got["enqueue"]) - min(r[2] for r in got["enqueue"])
    if finished:
        drain = max(r[3] for r in got["drain"]) - min(r[2] for r in got["drain"])
    else:
        drain = stopped - released
    return {"enqueue_s": enqueue, "drain_s": drain, "finished": finished}


def measure_xavyo(
    server: str,
    n: int,
    batch: int,
    workers: int,
    tmp: Path,
    *,
    analyze: bool = False,
    timeout: float = 600,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One xavyo measurement in a fresh database; ``analyze``: with table statistics."""
    import psycopg

    from xavyo_connectors_core.connectors import create_connector
    from xavyo_connectors_core.tenancy import ensure_tenant

    url = create_database(server)
    try:
        files = tmp / "files"
        deps = bench_deps(url, files, migrate=True)
        tenant = ensure_tenant(deps, "bench")
        connector = create_connector(
            deps, tenant.id, {"name": "noop", "type": "noop", "role": "target", "config": {}}
        )
        deps.store.close()
        ctx = mp.get_context("spawn")
        barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
        targets = [
            (
                xavyo_worker,
                (
                    url,
                    str(files),
                    str(tenant.id),
                    str(connector.id),
                    i,
                    share,
                    batch,
                    barrier,
                    results,
                    str(profile / f"xavyo-b{batch}-w{i}") if profile and i == 0 else None,
                ),
            )
            for i, share in enumerate(shares(n, workers))
        ]

        def analyze_operations() -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE operations")

        timing = run_processes(
            targets,
            barrier,
            results,
            between=analyze_operations if analyze else None,
            timeout=timeout,
        )
        # verification only (not timed): every operation acked as succeeded
        with psycopg.connect(url) as conn:
            counts: dict[str, int] = dict(
                conn.execute("SELECT status, count(*) FROM operations GROUP BY status").fetchall()
            )
        timing["done"] = counts.get("succeeded", 0)
        if timing["finished"]:
            assert counts == {"succeeded": n}, counts
        return timing
    finally:
        drop_database(server, url)


def measure_pgqueuer(
    server: str, n: int, batch: int, workers: int, *, timeout: float = 600
) -> dict[str, Any]:
    import psycopg
    from pgqueuer import PsycopgDriver, Queries

    url = create_database(server)
    try:

        async def install() -> None:
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
            await Queries(PsycopgDriver(conn)).install()
            await conn.close()

        asyncio.run(install())
        ctx = mp.get_context("spawn")
        barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
        targets = [
            (pgqueuer_worker, (url, i, share, batch, barrier, results))
            for i, share in enumerate(shares(n, workers))
        ]
        timing = run_processes(targets, barrier, results, timeout=timeout)
        with psycopg.connect(url) as conn:
            left = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()
            logged = conn.execute(
                "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'"
            ).fetchone()
        assert left is not None and logged is not None
        timing["done"] = logged[0]
        if timing["finished"]:
            assert left[0] == 0 and logged[0] == n, f"{left[0]} left, {logged[0]} of {n} logged"
        return timing
    finally:
        drop_database(server, url)


def rate(n: int, timing: Mapping[str, Any]) -> dict[str, float]:
    """Operations/s through all four steps; a drain stopped early counts what it acked."""
    total = timing["enqueue_s"] + timing["drain_s"]
    return {
        "ops_per_s": timing["done"] / total,
        "enqueue_per_s": n / timing["enqueue_s"],
        "drain_per_s": timing["done"] / timing["drain_s"],
        "total_s": total,
    }


SYSTEMS = {
    "xavyo": "xavyo as shipped (operations table never analyzed: a new store or a burst)",
    "xavyo+stats": "xavyo with table statistics (ANALYZE operations, untimed, after enqueue)",
    "pgqueuer": "pgqueuer (psycopg driver)",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ops", type=int, default=50_000, help="operations, batched run")
    parser.add_argument("--unbatched-ops", type=int, default=5_000, help="unbatched run")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--only", choices=sorted(SYSTEMS), action="append", help="repeatable")
    parser.add_argument("--mode", choices=["batched", "unbatched"], help="only this one")
    parser.add_argument("--quick", action="store_true", help="5,000 / 1,000 operations")
    parser.add_argument(
        "--timeout", type=float, default=180, help="stop a drain after this many seconds"
    )
    parser.add_argument("--profile", type=Path, help="profile xavyo+stats worker 0 into DIR")
    parser.add_argument("--json", type=Path, help="write the results as JSON")
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each system N times, interleaved; best"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.ops, args.unbatched_ops = 5_000, 1_000
    systems = args.only or list(SYSTEMS)
    if "pgqueuer" in systems:
        try:
            import pgqueuer  # noqa: F401
        except ImportError:
            print("pgqueuer is not installed: pip install pgqueuer", file=sys.stderr)
            return 2
    modes = [
        (label, batch, n)
        for label, batch, n in (
            ("batched", BATCHED, args.ops),
            ("unbatched", UNBATCHED, args.unbatched_ops),
        )
        if not args.mode or label == args.mode
    ]

    report: dict[str, Any] = {"machine": machine(), "workers": args.workers, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="xavyo-qbench-") as tmp, postgres_server() as server:
        report["postgres"] = postgres_version(server) + " (durable: default fsync settings)"
        print(f"machine: {report['machine']}")
        print(f"PostgreSQL {report['postgres']}; {args.workers} worker processes")
        for label, batch, n in modes:
            runs: dict[str, Any] = {"batch": batch, "n": n, "all": {s: [] for s in systems}}
            for attempt in range(args.repeat):
                for system in systems:  # interleaved, so load drift hits every system alike
                    if system == "pgqueuer":
                        timing = measure_pgqueuer(
                            server, n, batch, args.workers, timeout=args.timeout
                        )
                    else:
                        timing = measure_xavyo(
                            server,
                            n,
                            batch,
                            args.workers,
                            Path(tmp),
                            analyze=system == "xavyo+stats",
                            timeout=args.timeout,
                        )
                    r = {**timing, **rate(n, timing), "loadavg": os.getloadavg()[0]}
                    runs["all"][system].append(r)
                    note = "" if r["finished"] else f"  STOPPED after {args.timeout:g} s"
                    print(
                        f"{label:9} batch {batch:3} #{attempt + 1} {system:11} n={n:,}:"
                        f" {r['ops_per_s']:8,.0f} ops/s  (enqueue {r['enqueue_per_s']:,.0f}/s"
                        f" in {r['enqueue_s']:.2f} s; claim+apply+ack {r['drain_per_s']:,.0f}/s,"
                        f" {r['done']:,} in {r['drain_s']:.2f} s; load {r['loadavg']:.1f}){note}",
                        flush=True,
                    )
            for system in systems:
                runs[system] = max(runs["all"][system], key=lambda r: r["ops_per_s"])
                if args.repeat > 1:
                    print(
                        f"{label:9} best of {args.repeat} {system:11}:"
                        f" {runs[system]['ops_per_s']:8,.0f} ops/s",
                        flush=True,
                    )
            for system in ("xavyo", "xavyo+stats"):
                if system in runs and "pgqueuer" in runs:
                    ratio = runs[system]["ops_per_s"] / runs["pgqueuer"]["ops_per_s"]
                    runs[f"ratio {system}"] = ratio
                    print(f"{label:9} {system} / pgqueuer = {ratio:.2f}", flush=True)
            report["runs"][label] = runs
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            for label, batch, n in modes:
                measure_xavyo(
                    server, n, batch, args.workers, Path(tmp), analyze=True, profile=args.profile
                )
                for phase in ("enqueue", "drain"):
                    path = args.profile / f"xavyo-b{batch}-w0-{phase}.prof"
                    print(f"\n===== profile: xavyo+stats {label}, worker 0, {phase} ({path})")
                    print(top_functions(path, 30))

    print("\nSPEC §7 targets:")
    checks: list[tuple[str, float, float]] = []
    for label, target in (("batched", TARGET_BATCHED), ("unbatched", TARGET_UNBATCHED)):
        runs = report["runs"].get(label, {})
        for system in ("xavyo", "xavyo+stats"):
            if system in runs:
                checks.append(
                    (f"{label} {system} ≥ {target:,} ops/s", runs[system]["ops_per_s"], target)
                )
            if f"ratio {system}" in runs:
                checks.append(
                    (f"{label} {system} ≥ 1.0 x pgqueuer", runs[f"ratio {system}"], TARGET_RATIO)
                )
    for what, value, goal in checks:
        print(f"  {what}: {value:,.2f} → {'met' if value >= goal else 'MISSED'}")
    report["targets"] = {what: {"value": v, "met": v >= t} for what, v, t in checks}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
