"""SPEC §7: reconciliation of N accounts vs N identities with a 7 % delta.

The SPEC §7 target (measured at 1,000,000): ≤ 30 s wall on 2 cores; ≤ 3 x a baseline
measured in the same run; peak RSS ≤ 300 MB; time(1M) ≤ 11 x time(100k); RSS flat across
100k / 300k / 1M.

Setup, per store (SQLite file; PostgreSQL in a throwaway *durable* cluster) and per N:

- N identities (employee_id, email, given_name, family_name, department), added through
  ``uow.identities.add_many`` (``add`` where a store has no ``add_many`` yet);
- two ``target`` connectors with outbound mappings for those five attributes and
  correlation on the employee id: ``sql`` (an SQLite table ``accounts`` in the files
  root) and ``csv`` (``accounts.csv`` in the files root);
- per connector, N shadows linked to the N identities, as an earlier run left them,
  through ``uow.shadows.upsert_many``;
- the external systems then hold N accounts with the SPEC delta: 1 % of the linked
  accounts are gone (``deleted``, and their identities ``missing``), 5 % have a changed
  ``given_name`` (``mismatched``), and 1 % are new accounts no identity correlates to
  (``unmatched``). The external systems are written directly.

Seeding runs in its own process (both connectors share the N identities of one store).
Then, per connector type in turn, each step in a fresh process whose peak RSS
(``VmHWM``) and CPU time it reports itself:

- the **baseline**: read every account through the connector's ``search`` in pages of
  ``reconciliation.PAGE_SIZE``, the shadows of each page through ``shadows.get_many``
  (one unit of work per page, as the engine does), and every identity through
  ``identities.iter_scope`` in the same page size — nothing else;
- the **run**: a ``report`` reconciliation queued with ``start_reconciliation`` and
  executed in-process by ``Worker(deps).drain()``; its counts are checked against the
  seeded delta;
- the baseline again; the better of the two is the one the run is compared with.

Reported: wall time, accounts/s, the ratio to the baseline (wall, and process CPU time,
which other load on the machine disturbs less), peak RSS, and the SPEC verdicts.

From the repository root (not for CI):

    python benchmarks/reconcile.py [--n 100000 --n 300000 | --full | --quick]
        [--store sqlite|postgres|both] [--type sql|csv|both] [--profile DIR] [--json FILE]
        [--pg-setting shared_buffers=1GB ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Run as ``python benchmarks/<name>.py``: Python puts ``benchmarks/`` first on the path,
# where a module may shadow the stdlib (``benchmarks/queue.py`` hides ``queue``). Use the
# repository root instead (``benchmarks`` and ``tests.support`` are imported from it).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from tests.support.drift import changed, expected_counts, gone  # noqa: E402

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
    run_child,
    seed_store,
    top_functions,
)

SCRIPT = Path(__file__).resolve()
TARGET_SECONDS_1M = 30.0
TARGET_RATIO = 3.0
TARGET_RSS_MB = 300.0
TARGET_LINEARITY = 11.0
COLUMNS = ("uid", "email", "given_name", "family_name", "department")
DEPARTMENTS = ("eng", "sales", "ops", "legal", "finance", "hr", "support", "marketing")
TYPES = ("sql", "csv")


# --------------------------------------------------------------------------- the delta


def identity_attributes(i: int) -> dict[str, str]:
    return {
        "employee_id": f"E{i:07d}",
        "email": f"person.{i}@example.org",
        "given_name": f"Given{i}",
        "family_name": f"Family{i}",
        "department": DEPARTMENTS[i % len(DEPARTMENTS)],
    }


def account_row(i: int) -> tuple[str, ...]:
    """The account as the mappings expect it (what the linked shadow holds)."""
    a = identity_attributes(i)
    return (a["employee_id"], a["email"], a["given_name"], a["family_name"], a["department"])


def system_rows(n: int) -> Iterator[tuple[str, ...]]:
    """The external system after the drift, in uid order."""
    for i in range(n):
        if gone(i):
            continue
        uid, email, given, family, dept = account_row(i)
        yield (uid, email, f"Renamed{i}" if changed(i) else given, family, dept)
    for j in range(n // 100):
        yield (f"N{j:07d}", f"new.{j}@example.org", f"New{j}", f"Newcomer{j}", "eng")


# --------------------------------------------------------------------------- children


def connector_doc(kind: str) -> dict[str, Any]:
    config: dict[str, Any]
    if kind == "sql":
        config = {
            "url": "sqlite:///app.db",
            "table": "accounts",
            "uid_column": "uid",
            "name_column": "email",
        }
    else:
        config = {"path": "accounts.csv", "uid_column": "uid", "name_column": "email"}
    mappings = [
        {"identity": "employee_id", "account": "uid", "direction": "outbound"},
        *(
            {"identity": c, "account": c, "direction": "outbound"}
            for c in ("email", "given_name", "family_name", "department")
        ),
    ]
    return {
        "name": f"app-{kind}",
        "type": kind,
        "role": "target",
        "config": config,
        "mappings": mappings,
        "correlation": [{"identity": "employee_id", "account": "uid"}],
    }


def child_seed(spec: dict[str, Any]) -> dict[str, Any]:
    from xavyo_connectors_core.connectors import create_connector
    from xavyo_connectors_core.mappings import attributes_hash
    from xavyo_connectors_core.model import Identity, Shadow, Situation
    from xavyo_connectors_core.tenancy import ensure_tenant

    n = int(spec["n"])
    files = Path(spec["files"])
    files.mkdir(parents=True, exist_ok=True)
    # the external systems: created empty (schemas are discovered at connector creation)
    with sqlite3.connect(files / "app.db") as conn:
        conn.execute(
            "CREATE TABLE accounts (uid TEXT PRIMARY KEY, email TEXT NOT NULL, "
            "given_name TEXT, family_name TEXT, department TEXT)"
        )
    conn.close()
    (files / "accounts.csv").write_text(",".join(COLUMNS) + "\n", encoding="utf-8")

    deps = make_deps(spec["store"], files)
    try:
        tenant_id = ensure_tenant(deps, "bench").id
        connectors = {
            k: create_connector(deps, tenant_id, connector_doc(k)).id for k in spec["types"]
        }
        now = datetime.now(UTC)
        ids = [uuid.uuid4() for _ in range(n)]

        def identities() -> Iterator[Identity]:
            for i in range(n):
                yield Identity(
                    id=ids[i],
                    tenant_id=tenant_id,
                    attributes=identity_attributes(i),
                    created_at=now,
                    updated_at=now,
                )

        def shadows() -> Iterator[Shadow]:
            for connector_id in connectors.values():
                for i in range(n):
                    attributes = dict(zip(COLUMNS, account_row(i), strict=True))
                    yield Shadow(
                        tenant_id=tenant_id,
                        connector_id=connector_id,
                        uid=attributes["uid"],
                        name=attributes["email"],
                        attributes=attributes,
                        attributes_hash=attributes_hash(attributes),
                        situation=Situation.LINKED,
                        last_seen_at=now,
                        identity_id=ids[i],
                    )

        with Timer() as t_store:
            path = seed_store(deps, identities(), shadows())
    finally:
        deps.store.close()

    with Timer() as t_system:
        with sqlite3.connect(files / "app.db") as conn:
            conn.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?, ?)", system_rows(n))
        conn.close()
        with (files / "accounts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(system_rows(n))
    return {
        "tenant_id": str(tenant_id),
        "connectors": {k: str(v) for k, v in connectors.items()},
        "seed_store_s": round(t_store.seconds, 2),
        "seed_systems_s": round(t_system.seconds, 2),
        "identity_path": path,
    }


def _connector(deps: Any, spec: dict[str, Any]) -> Any:
    with deps.store.unit_of_work() as uow:
        return uow.connectors.get(uuid.UUID(spec["tenant_id"]), uuid.UUID(spec["connector_id"]))


def child_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    from xavyo_connectors_core.connectors import open_connection
    from xavyo_connectors_core.reconciliation import PAGE_SIZE
    from xavyo_connectors_core.sync import batched

    deps = make_deps(spec["store"], Path(spec["files"]), migrate=False)
    try:
        connector = _connector(deps, spec)
        tenant_id = connector.tenant_id
        object_class = deps.registry.get(connector.type).account_object_class(connector.config)
        accounts = shadows = identities = 0
        with Timer() as t_total:
            with Timer() as t_accounts, open_connection(deps, connector) as conn:
                for page in batched(conn.search(object_class, PAGE_SIZE), PAGE_SIZE):
                    accounts += len(page)
                    with deps.store.unit_of_work() as uow:
                        found = uow.shadows.get_many(tenant_id, connector.id, [o.uid for o in page])
                    shadows += len(found)
            with Timer() as t_identities, deps.store.unit_of_work() as uow:
                for ipage in uow.identities.iter_scope(
                    tenant_id, connector.scope, page_size=PAGE_SIZE
                ):
                    identities += len(ipage)
    finally:
        deps.store.close()
    return {
        "seconds": t_total.seconds,
        "cpu_s": t_total.cpu,
        "accounts_and_shadows_s": t_accounts.seconds,
        "identities_s": t_identities.seconds,
        "accounts": accounts,
        "shadows": shadows,
        "identities": identities,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_run(spec: dict[str, Any]) -> dict[str, Any]:
    from xavyo_connectors_core.reconciliation import start_reconciliation
    from xavyo_connectors_core.runs import get_run
    from xavyo_connectors_core.worker import Worker

    deps = make_deps(spec["store"], Path(spec["files"]), migrate=False)
    profile = Path(spec["profile"]) if spec.get("profile") else None
    try:
        tenant_id = uuid.UUID(spec["tenant_id"])
        rss_before = peak_rss_mb()
        with Timer() as t_run, profile_to(profile):
            started = start_reconciliation(
                deps, tenant_id, {"connector_id": spec["connector_id"], "mode": "report"}
            )
            Worker(deps, owner="bench").drain()
        run = get_run(deps, tenant_id, started.id)
    finally:
        deps.store.close()
    return {
        "status": run.status.value,
        "error": run.error,
        "checkpoint": run.checkpoint,
        "seconds": t_run.seconds,
        "cpu_s": t_run.cpu,
        "counts": dict(run.counts),
        "processed": run.progress.processed,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_run_mb": rss_before,
    }


CHILDREN = {"seed": child_seed, "baseline": child_baseline, "run": child_run}


# --------------------------------------------------------------------------- parent


def situations(counts: dict[str, Any]) -> dict[str, int]:
    keys = ("linked", "mismatched", "unmatched", "deleted", "missing", "unlinked", "disputed")
    return {k: int(counts[k]) for k in keys if counts.get(k)}


def bench_size(
    store_kind: str,
    server: str | None,
    n: int,
    types: tuple[str, ...],
    profile: Path | None,
) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix=f"xv-recon-{store_kind}-{n}-"))
    files = workdir / "files"
    store_url = str(workdir / "store.db") if store_kind == "sqlite" else None
    try:
        if store_url is None:
            assert server is not None
            store_url = create_database(server)
        print(f"\n== store {store_kind}, N = {n:,}: seeding (own process) …", flush=True)
        seed_spec = {"store": store_url, "files": str(files), "n": n, "types": list(types)}
        seed = run_child(SCRIPT, ["--child", "seed", json.dumps(seed_spec)])
        print(
            f"   store seeded in {seed['seed_store_s']} s ({seed['identity_path']}, "
            f"shadows.upsert_many), systems in {seed['seed_systems_s']} s",
            flush=True,
        )
        results = []
        want = expected_counts(n)
        for kind in types:
            spec = {
                "store": store_url,
                "files": str(files),
                "tenant_id": seed["tenant_id"],
                "connector_id": seed["connectors"][kind],
            }
            base = run_child(SCRIPT, ["--child", "baseline", json.dumps(spec)])
            assert base["accounts"] == n and base["identities"] == n, base
            prof = profile / f"reconcile_{store_kind}_{kind}_{n}.prof" if profile else None
            run_spec = {**spec, "profile": str(prof) if prof else None}
            run = run_child(SCRIPT, ["--child", "run", json.dumps(run_spec)])
            base2 = run_child(SCRIPT, ["--child", "baseline", json.dumps(spec)])
            got = situations(run["counts"])
            baseline_s = min(base["seconds"], base2["seconds"])
            result = {
                "store": store_kind,
                "type": kind,
                "n": n,
                "status": run["status"],
                "error": run["error"],
                "run_s": round(run["seconds"], 2),
                "accounts_per_s": round(n / run["seconds"]),
                "baseline_s": round(baseline_s, 2),
                "baseline_parts_s": {
                    "accounts+shadows": round(base["accounts_and_shadows_s"], 2),
                    "identities": round(base["identities_s"], 2),
                },
                "ratio": round(run["seconds"] / baseline_s, 2),
                "run_cpu_s": round(run["cpu_s"], 2),
                "baseline_cpu_s": round(min(base["cpu_s"], base2["cpu_s"]), 2),
                "cpu_ratio": round(run["cpu_s"] / min(base["cpu_s"], base2["cpu_s"]), 2),
                "run_peak_rss_mb": round(run["peak_rss_mb"], 1),
                "baseline_peak_rss_mb": round(base["peak_rss_mb"], 1),
                "counts_ok": got == want,
                "situations": got,
                "checkpoint": run["checkpoint"],
                "seed_store_s": seed["seed_store_s"],
            }
            results.append(result)
            if run["status"] != "succeeded":
                print(
                    f"   !! {kind}: the run ended {run['status']} after {result['run_s']} s: "
                    f"{run['error']} (checkpoint {run['checkpoint']})",
                    flush=True,
                )
                continue
            if got != want:
                print(f"   !! counts {got} differ from the seeded delta {want}", flush=True)
            print(
                f"   {kind}: run {result['run_s']} s "
                f"({result['accounts_per_s']:,} accounts/s), baseline {result['baseline_s']} s, "
                f"ratio {result['ratio']}x (≤ {TARGET_RATIO:g}x); process CPU run "
                f"{result['run_cpu_s']} s / baseline {result['baseline_cpu_s']} s = "
                f"{result['cpu_ratio']}x; peak RSS "
                f"{result['run_peak_rss_mb']} MB (baseline {result['baseline_peak_rss_mb']} MB); "
                f"situations {got}",
                flush=True,
            )
            if prof is not None:
                print(top_functions(prof, 20))
        return results
    finally:
        if store_kind == "postgres" and store_url and server:
            drop_database(server, store_url)
        shutil.rmtree(workdir, ignore_errors=True)


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def verdicts(results: list[dict[str, Any]]) -> list[str]:
    lines = []
    ok = [r for r in results if r["status"] == "succeeded"]
    for r in results:
        if r["status"] != "succeeded":
            lines.append(
                f"- {r['store']}/{r['type']} N={r['n']:,}: the run FAILED ({r['error']}); no figure"
            )
            continue
        line = (
            f"- {r['store']}/{r['type']} N={r['n']:,}: ratio {r['ratio']}x "
            f"{_met(r['ratio'] <= TARGET_RATIO)} (≤ 3x); RSS {r['run_peak_rss_mb']} MB "
            f"{_met(r['run_peak_rss_mb'] <= TARGET_RSS_MB)} (≤ 300 MB)"
        )
        if r["n"] >= 1_000_000:
            line += f"; wall {r['run_s']} s {_met(r['run_s'] <= TARGET_SECONDS_1M)} (≤ 30 s at 1M)"
        else:
            projected = r["run_s"] * 1_000_000 / r["n"]
            line += f"; linear projection to 1M: {projected:.0f} s (target ≤ 30 s)"
        lines.append(line)
    by_key: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for r in ok:
        by_key.setdefault((r["store"], r["type"]), {})[r["n"]] = r
    for (store, kind), sizes in by_key.items():
        if len(sizes) < 2:
            continue
        small, large = min(sizes), max(sizes)
        factor = sizes[large]["run_s"] / sizes[small]["run_s"]
        rss = [sizes[k]["run_peak_rss_mb"] for k in sorted(sizes)]
        lines.append(
            f"- {store}/{kind}: time({large:,}) = {factor:.2f} x time({small:,}) "
            f"(linear: {large / small:g}x; SPEC allows 11x for 1M vs 100k); "
            f"peak RSS across sizes {rss} MB"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", choices=tuple(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("spec", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, action="append", help="sizes (100000 and 300000)")
    parser.add_argument("--full", action="store_true", help="also N = 1,000,000")
    parser.add_argument("--quick", action="store_true", help="N = 10,000 (while developing)")
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--type", choices=(*TYPES, "both"), default="both")
    parser.add_argument("--profile", type=Path, help="write cProfile dumps of the runs here")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting of the throwaway PostgreSQL cluster (repeatable)",
    )
    args = parser.parse_args(argv)
    for setting in args.pg_setting:
        if "=" not in setting:
            parser.error(f"--pg-setting {setting!r}: expected NAME=VALUE")

    if args.child:
        result = CHILDREN[args.child](json.loads(args.spec))
        print(json.dumps(result))
        return 0

    if args.quick:
        sizes = [10_000]
    else:
        sizes = sorted(set(args.n or [100_000, 300_000]) | ({1_000_000} if args.full else set()))
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    types = TYPES if args.type == "both" else (args.type,)
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)

    info = machine()
    print(f"machine: {json.dumps(info)}", flush=True)
    results: list[dict[str, Any]] = []
    with ExitStack() as stack:
        server = (
            stack.enter_context(postgres_server(args.pg_setting)) if "postgres" in stores else None
        )
        if server:
            info["postgres"] = postgres_version(server) + " (throwaway cluster, durable)"
            info["postgres_settings"] = args.pg_setting
        for store_kind in stores:
            for n in sizes:
                results.extend(bench_size(store_kind, server, n, types, args.profile))
                if args.json:
                    args.json.write_text(
                        json.dumps({"machine": info, "results": results}, indent=2)
                    )

    print(
        "\n| store | type | N | run | accounts/s | baseline | ratio (≤ 3x) | CPU run / baseline "
        "| peak RSS (≤ 300 MB) | situations as seeded |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        status = "" if r["status"] == "succeeded" else f" ({r['status'].upper()})"
        print(
            f"| {r['store']} | {r['type']} | {r['n']:,} | {r['run_s']} s{status} "
            f"| {r['accounts_per_s']:,} | {r['baseline_s']} s | {r['ratio']}x "
            f"| {r['run_cpu_s']} s / {r['baseline_cpu_s']} s = {r['cpu_ratio']}x "
            f"| {r['run_peak_rss_mb']} MB | {'yes' if r['counts_ok'] else 'NO'} |"
        )
    print()
    print("\n".join(verdicts(results)))
    print(f"load average at the end: {[round(x, 2) for x in os.getloadavg()]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
