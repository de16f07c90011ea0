"""SPEC §7: incremental sync of 100,000 changes from a ``sql`` source, ≥ 20,000 changes/s.

For each store (SQLite file, PostgreSQL in a throwaway *durable* cluster):

1. a source table ``people`` (uid, email, given_name, family_name, department,
   updated_at — a monotonic integer sequence used as ``change_column``, indexed with the
   uid) with N rows, in an SQLite file inside the files root (``--source postgres``: a
   table in the throwaway PostgreSQL cluster instead);
2. a ``source`` connector of type ``sql`` with inbound mappings for the five attributes
   and correlation on the employee id (``employee_id`` = ``uid``);
3. **(a) first sync**: the connector has no token, so the engine does a full scan and
   creates N identities (``unmatched`` → ``create_identity``);
4. every row is touched (department changed, ``updated_at`` moved past the token);
5. **(c) baseline**, in the same run: the time to merely read the N changes through the
   connector's ``changes(token)`` (and, for reference, all N rows through ``search``),
   nothing else — measured before and after (b), best of the two;
6. **(b) incremental sync**: N changes through ``changes(token)``, each updating its
   shadow and its identity, in batches of 500 committed with the token.

Reported: changes/s applied, the ratio of (b) to the ``changes()`` baseline, and the SPEC
target. Runs are executed in-process by ``Worker(deps).drain()`` — the code path of
``serve`` and ``xavyo-connectors worker``. Not for CI. From the repository root:

    python benchmarks/sync.py [--n 100000 | --quick] [--store sqlite|postgres|both]
                              [--source sqlite|postgres] [--profile DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

# Run as ``python benchmarks/<name>.py``: Python puts ``benchmarks/`` first on the path,
# where a module may shadow the stdlib (``benchmarks/queue.py`` hides ``queue``). Use the
# repository root instead (``benchmarks`` and ``tests.support`` are imported from it).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from benchmarks._common import (  # noqa: E402
    Timer,
    create_database,
    drop_database,
    machine,
    make_deps,
    peak_rss_mb,
    postgres_server,
    postgres_version,
    profile_to,
    top_functions,
)

TARGET = 20_000
"""SPEC §7: changes applied per second, incremental sync of 100k changes from ``sql``."""

TABLE = "people"
COLUMNS = ("uid", "email", "given_name", "family_name", "department", "updated_at")
DEPARTMENTS = ("eng", "sales", "ops", "legal", "finance", "hr", "support", "marketing")


def row(i: int, seq: int, suffix: str = "") -> tuple[Any, ...]:
    return (
        f"E{i:07d}",
        f"Person.{i}@Example.org",
        f"Given{i}",
        f"Family{i}",
        DEPARTMENTS[i % len(DEPARTMENTS)] + suffix,
        seq,
    )


# --------------------------------------------------------------------------- the source


class SqliteSource:
    """The source table in an SQLite file inside the files root."""

    def __init__(self, files_root: Path) -> None:
        self.path = files_root / "hr.db"
        self.url = "sqlite:///hr.db"

    def seed(self, n: int) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(
                f"CREATE TABLE {TABLE} (uid TEXT PRIMARY KEY, email TEXT NOT NULL, "
                "given_name TEXT, family_name TEXT, department TEXT, "
                "updated_at INTEGER NOT NULL)"
            )
            conn.execute(f"CREATE INDEX {TABLE}_change ON {TABLE} (updated_at, uid)")
            conn.executemany(
                f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                (row(i, i + 1) for i in range(n)),
            )
        conn.close()

    def touch_all(self, n: int) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(
                f"UPDATE {TABLE} SET department = department || '-2', updated_at = updated_at + ?",
                (n,),
            )
        conn.close()


class PostgresSource:
    """The source table in a database of the throwaway PostgreSQL cluster."""

    def __init__(self, url: str) -> None:
        self.url = url

    def seed(self, n: int) -> None:
        import psycopg

        with psycopg.connect(self.url) as conn:
            conn.execute(
                f"CREATE TABLE {TABLE} (uid text PRIMARY KEY, email text NOT NULL, "
                "given_name text, family_name text, department text, "
                "updated_at bigint NOT NULL)"
            )
            conn.execute(f"CREATE INDEX {TABLE}_change ON {TABLE} (updated_at, uid)")
            with conn.cursor() as cur, cur.copy(f"COPY {TABLE} FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row(row(i, i + 1))
            conn.execute(f"ANALYZE {TABLE}")

    def touch_all(self, n: int) -> None:
        import psycopg

        with psycopg.connect(self.url) as conn:
            conn.execute(
                f"UPDATE {TABLE} SET department = department || '-2', updated_at = updated_at + %s",
                (n,),
            )
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {TABLE}")


# --------------------------------------------------------------------------- one store


def hr_connector(deps: Any, tenant_id: UUID, source_url: str) -> UUID:
    from xavyo_connectors_core.connectors import create_connector

    doc = {
        "name": "hr",
        "type": "sql",
        "role": "source",
        "config": {
            "url": source_url,
            "table": TABLE,
            "uid_column": "uid",
            "name_column": "email",
            "change_column": "updated_at",
        },
        "mappings": [
            {"identity": "employee_id", "account": "uid", "direction": "inbound"},
            {"identity": "email", "account": "email", "direction": "inbound", "transform": "lower"},
            {"identity": "given_name", "account": "given_name", "direction": "inbound"},
            {"identity": "family_name", "account": "family_name", "direction": "inbound"},
            {"identity": "department", "account": "department", "direction": "inbound"},
        ],
        "correlation": [{"identity": "employee_id", "account": "uid"}],
    }
    return create_connector(deps, tenant_id, doc).id


def sync_once(deps: Any, tenant_id: UUID, connector_id: UUID) -> Any:
    from xavyo_connectors_core.runs import get_run, start_sync
    from xavyo_connectors_core.worker import Worker

    run = start_sync(deps, tenant_id, connector_id)
    Worker(deps, owner="bench").drain()
    return get_run(deps, tenant_id, run.id)


def read_baseline(deps: Any, tenant_id: UUID, connector_id: UUID, token: str) -> dict[str, Any]:
    """Only read: the N changes through ``changes(token)``, then all rows via ``search``."""
    from xavyo_connectors_core.connectors import open_connection

    with deps.store.unit_of_work() as uow:
        connector = uow.connectors.get(tenant_id, connector_id)
    object_class = deps.registry.get(connector.type).account_object_class(connector.config)
    with open_connection(deps, connector) as conn:
        with Timer() as t_changes:
            changes = sum(1 for _ in conn.changes(object_class, token))
        with Timer() as t_search:
            searched = sum(1 for _ in conn.search(object_class, 500))
    return {
        "changes": changes,
        "changes_s": t_changes.seconds,
        "changes_cpu_s": t_changes.cpu,
        "searched": searched,
        "search_s": t_search.seconds,
    }


def bench_store(
    label: str, store_url: str, source: Any, files: Path, n: int, profile_dir: Path | None
) -> dict[str, Any]:
    from xavyo_connectors_core.model import RunStatus
    from xavyo_connectors_core.tenancy import ensure_tenant

    print(f"\n== store {label}: seeding a source table of {n:,} rows", flush=True)
    with Timer() as t_seed:
        source.seed(n)
    deps = make_deps(store_url, files)
    try:
        tenant_id = ensure_tenant(deps, "bench").id
        connector_id = hr_connector(deps, tenant_id, source.url)
        print(f"   seeded in {t_seed.seconds:.1f} s; (a) first sync (full scan) …", flush=True)

        with Timer() as t_first:
            first = sync_once(deps, tenant_id, connector_id)
        assert first.status is RunStatus.SUCCEEDED, first.error
        created = int(first.counts.get("identity_created", 0))
        assert created == n, f"first sync created {created} identities, expected {n}"
        print(
            f"   (a) {n:,} identities created in {t_first.seconds:.2f} s "
            f"= {n / t_first.seconds:,.0f}/s",
            flush=True,
        )
        with deps.store.unit_of_work() as uow:
            token = uow.sync_tokens.get(tenant_id, connector_id)
        assert token is not None and token.token, "the first sync stored no token"

        source.touch_all(n)
        before = read_baseline(deps, tenant_id, connector_id, token.token)
        assert before["changes"] == n, before
        print(
            f"   (c) baseline: changes() read {n:,} in {before['changes_s']:.2f} s "
            f"= {n / before['changes_s']:,.0f}/s; search() {before['search_s']:.2f} s",
            flush=True,
        )

        profile = profile_dir / f"sync_incremental_{label}.prof" if profile_dir else None
        with Timer() as t_incr, profile_to(profile):
            incr = sync_once(deps, tenant_id, connector_id)
        assert incr.status is RunStatus.SUCCEEDED, incr.error
        updated = int(incr.counts.get("identity_updated", 0))
        assert int(incr.counts.get("upsert", 0)) == n, incr.counts
        assert updated == n, f"incremental sync updated {updated} identities, expected {n}"

        after = read_baseline(deps, tenant_id, connector_id, token.token)
        baseline_changes = min(before["changes_s"], after["changes_s"])
        baseline_search = min(before["search_s"], after["search_s"])
        rate = n / t_incr.seconds
        result = {
            "store": label,
            "n": n,
            "seed_source_s": round(t_seed.seconds, 2),
            "first_sync_s": round(t_first.seconds, 2),
            "first_sync_per_s": round(n / t_first.seconds),
            "first_sync_cpu_s": round(t_first.cpu, 2),
            "incremental_s": round(t_incr.seconds, 2),
            "changes_per_s": round(rate),
            "incremental_cpu_s": round(t_incr.cpu, 2),
            "baseline_changes_cpu_s": round(
                min(before["changes_cpu_s"], after["changes_cpu_s"]), 3
            ),
            "baseline_changes_s": round(baseline_changes, 3),
            "baseline_changes_per_s": round(n / baseline_changes),
            "baseline_search_s": round(baseline_search, 3),
            "ratio_to_changes_baseline": round(t_incr.seconds / baseline_changes, 2),
            "target_per_s": TARGET,
            "target_met": rate >= TARGET,
            "counts": dict(incr.counts),
            "peak_rss_mb": round(peak_rss_mb()),
        }
        print(
            f"   (b) incremental: {n:,} changes in {t_incr.seconds:.2f} s = {rate:,.0f}/s "
            f"(target ≥ {TARGET:,}/s: {'MET' if rate >= TARGET else 'MISSED'}); "
            f"{result['ratio_to_changes_baseline']}x the changes() baseline; "
            f"process CPU {t_incr.cpu:.2f} s",
            flush=True,
        )
        if profile is not None:
            print(top_functions(profile, 20))
        return result
    finally:
        deps.store.close()


@contextmanager
def store_and_source(
    stack: ExitStack, kind: str, source_kind: str, workdir: Path, server: str | None
) -> Iterator[tuple[str, Any]]:
    files = workdir / "files"
    files.mkdir(parents=True, exist_ok=True)
    dbs: list[str] = []
    try:
        if kind == "sqlite":
            store_url = str(workdir / "store.db")
        else:
            assert server is not None
            store_url = create_database(server)
            dbs.append(store_url)
        if source_kind == "sqlite":
            source: Any = SqliteSource(files)
        else:
            assert server is not None
            source_db = create_database(server)
            dbs.append(source_db)
            source = PostgresSource(source_db)
        yield store_url, source
    finally:
        for url in dbs:
            assert server is not None
            drop_database(server, url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="rows / changes (100000)")
    parser.add_argument("--quick", action="store_true", help="N = 10,000 (while developing)")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--source", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", type=Path, help="write cProfile dumps of (b) here")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    n = 10_000 if args.quick else args.n
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    info = machine()
    print(f"machine: {json.dumps(info)}")
    results = []
    with ExitStack() as stack:
        needs_pg = "postgres" in stores or args.source == "postgres"
        server = stack.enter_context(postgres_server()) if needs_pg else None
        if server:
            info["postgres"] = postgres_version(server) + " (throwaway cluster, durable)"
        for kind in stores:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="xv-sync-")))
            with store_and_source(stack, kind, args.source, workdir, server) as (url, source):
                label = f"{kind} (source {args.source})"
                try:
                    results.append(
                        bench_store(label, url, source, workdir / "files", n, args.profile)
                    )
                except Exception as exc:  # report the failure, go on with the next store
                    traceback.print_exc()
                    results.append(
                        {"store": label, "n": n, "error": f"{type(exc).__name__}: {exc}"}
                    )
            if args.json:
                args.json.write_text(json.dumps({"machine": info, "results": results}, indent=2))

    print(
        "\n| store | N | first sync | incremental | changes/s | baseline changes() "
        "| ratio | target ≥ 20k/s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        if "error" in r:
            print(f"| {r['store']} | {r['n']:,} | FAILED: {r['error']} | | | | | |")
            continue
        print(
            f"| {r['store']} | {r['n']:,} | {r['first_sync_s']} s ({r['first_sync_per_s']:,}/s) "
            f"| {r['incremental_s']} s | {r['changes_per_s']:,} "
            f"| {r['baseline_changes_s']} s ({r['baseline_changes_per_s']:,}/s) "
            f"| {r['ratio_to_changes_baseline']}x "
            f"| {'met' if r['target_met'] else 'MISSED'} |"
        )
    print(f"load average at the end: {[round(x, 2) for x in os.getloadavg()]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
