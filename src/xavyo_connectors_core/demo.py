"""``xavyo-connectors demo``: a runnable example in a data directory.

It writes an HR ``csv`` source of 1,000 people and a SQLite application table, creates a
source and a target connector with mappings, correlation and scope, runs a sync, drains
the provisioning queue, runs a reconciliation, and returns a summary.
"""

from __future__ import annotations

import csv
import random
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

from xavyo_connectors_core.connectors import create_connector, list_connectors
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import Conflict
from xavyo_connectors_core.model import Connector, Run
from xavyo_connectors_core.reconciliation import start_reconciliation
from xavyo_connectors_core.runs import get_run, start_sync
from xavyo_connectors_core.worker import drain_all

FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
DEPARTMENTS = ["engineering", "sales", "support", "finance"]


def write_people(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)  # noqa: S311 - sample data
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["employee_id", "email", "given_name", "family_name", "department"])
        for i in range(1, count + 1):
            given, family = rng.choice(FIRST), rng.choice(LAST)
            writer.writerow(
                [
                    f"E{i:05d}",
                    f"{given}.{family}{i}@example.org".lower(),
                    given,
                    family,
                    rng.choice(DEPARTMENTS),
                ]
            )


def write_app_table(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS users ("
            " login TEXT PRIMARY KEY, email TEXT NOT NULL, display_name TEXT,"
            " active INTEGER NOT NULL DEFAULT 1)"
        )


def _connector(deps: Deps, tenant_id: UUID, document: dict[str, Any]) -> Connector:
    try:
        return create_connector(deps, tenant_id, document)
    except Conflict:
        page = list_connectors(deps, tenant_id, limit=500)
        return next(c for c in page.items if c.name == document["name"])


def run_demo(deps: Deps, tenant_id: UUID, *, people: int = 1000) -> dict[str, Any]:
    """Seed, sync, provision, reconcile; return what happened."""
    root = deps.files_root
    write_people(root / "demo-hr.csv", people)
    write_app_table(root / "demo-app.db")
    hr = _connector(
        deps,
        tenant_id,
        {
            "name": "demo-hr",
            "type": "csv",
            "role": "source",
            "description": "HR feed: the source of truth",
            "config": {"path": "demo-hr.csv", "uid_column": "employee_id"},
            "mappings": [
                {"identity": n, "account": n, "direction": "inbound"}
                for n in ("employee_id", "given_name", "family_name", "department")
            ]
            + [
                {
                    "identity": "email",
                    "account": "email",
                    "direction": "inbound",
                    "transform": ["trim", "lower"],
                },
            ],
            "correlation": [{"identity": "employee_id", "account": "employee_id"}],
        },
    )
    app = _connector(
        deps,
        tenant_id,
        {
            "name": "demo-app",
            "type": "sql",
            "role": "target",
            "description": "An application's user table; engineering only",
            "config": {
                "url": "sqlite:///demo-app.db",
                "table": "users",
                "uid_column": "login",
                "name_column": "login",
                "enabled_column": "active",
            },
            "mappings": [
                {
                    "identity": "employee_id",
                    "account": "login",
                    "direction": "outbound",
                    "transform": "lower",
                },
                {"identity": "email", "account": "email", "direction": "outbound"},
                {
                    "account": "display_name",
                    "direction": "outbound",
                    "template": "{given_name} {family_name}",
                },
            ],
            "correlation": [{"identity": "employee_id", "account": "login", "transform": "lower"}],
            "scope": [{"identity": "department", "op": "eq", "value": "engineering"}],
        },
    )
    sync = start_sync(deps, tenant_id, hr.id, {"mode": "full"})
    _runs, operations = drain_all(deps)
    first_recon = start_reconciliation(
        deps, tenant_id, {"connector_id": str(app.id), "mode": "remediate"}
    )
    _, more_ops = drain_all(deps)
    report = start_reconciliation(deps, tenant_id, {"connector_id": str(app.id), "mode": "report"})
    drain_all(deps)
    with sqlite3.connect(root / "demo-app.db") as conn:
        rows = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    return {
        "hr": hr,
        "app": app,
        "sync": get_run(deps, tenant_id, sync.id),
        "remediate": get_run(deps, tenant_id, first_recon.id),
        "report": get_run(deps, tenant_id, report.id),
        "operations": operations + more_ops,
        "app_rows": rows,
    }


def summary_lines(result: dict[str, Any], *, api: str, token_hint: str) -> list[str]:
    def counts(run: Run) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(run.counts.items())) or "-"

    hr, app = result["hr"], result["app"]
    return [
        "xavyo-connectors demo",
        f"  source  {hr.name:<10} {hr.id}  (csv, 1 row per person)",
        f"  target  {app.name:<10} {app.id}  (sql/SQLite, scope: department = engineering)",
        f"  sync        {result['sync'].status.value:<10} {counts(result['sync'])}",
        f"  provisioned {result['operations']} operation(s); app table rows: {result['app_rows']}",
        f"  remediate   {result['remediate'].status.value:<10} {counts(result['remediate'])}",
        f"  report      {result['report'].status.value:<10} {counts(result['report'])}",
        "",
        "Explore it (start the server with `xavyo-connectors serve` first):",
        f"  TOKEN={token_hint}",
        f'  curl -s {api}/connectors -H "Authorization: Bearer $TOKEN"',
        f'  curl -s {api}/connectors/{hr.id}/sync/runs -H "Authorization: Bearer $TOKEN"',
        f"  curl -s '{api}/connectors/{app.id}/accounts?limit=5' "
        '-H "Authorization: Bearer $TOKEN"',
        f"  curl -s {api}/reconciliation/runs/{result['report'].id} "
        '-H "Authorization: Bearer $TOKEN"',
        f'  curl -s {api}/provisioning/queue -H "Authorization: Bearer $TOKEN"',
    ]
