"""`kill -9` of a real worker process in the middle of a reconciliation run.

Two `sql` target connectors read two identical application tables (SQLite files in the
files root) over one tenant's identities in a real PostgreSQL store, seeded as an
earlier run left them and then drifted by the 7 % of SPEC §7 (1 % gone, 5 % changed,
1 % new). One connector's report run is executed without interruption (in this process);
the other's by a `xavyo-connectors worker` process killed with SIGKILL mid pass 1, then
taken over by a second worker once the lease (3 s) ran out. The resumed run must end with
the counts of the uninterrupted one, those must be the seeded delta, and its recorded
discrepancies must match its counts one for one: no page lost, none counted twice.
"""

from __future__ import annotations

import signal
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from tests.support.drift import changed, expected_counts, gone
from tests.support.workers import WorkerCluster, wait_for, worker_cluster
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.mappings import attributes_hash
from xavyo_connectors_core.model import (
    Discrepancy,
    Identity,
    Run,
    RunStatus,
    Shadow,
    Situation,
)
from xavyo_connectors_core.reconciliation import list_discrepancies, start_reconciliation
from xavyo_connectors_core.runs import get_run
from xavyo_connectors_core.tenancy import ensure_tenant
from xavyo_connectors_core.worker import Worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

N = 40_000
COLUMNS = ("uid", "email", "given_name", "family_name")
IDENTITY_KEYS = ("employee_id", "email", "given_name", "family_name")
SEED_BATCH = 5_000


def account(i: int) -> tuple[str, str, str, str]:
    return (f"E{i:06d}", f"person.{i}@example.org", f"Given{i}", f"Family{i}")


def drifted(n: int) -> Iterator[tuple[str, str, str, str]]:
    for i in range(n):
        if gone(i):
            continue
        uid, email, given, family = account(i)
        yield (uid, email, f"Renamed{i}" if changed(i) else given, family)
    for j in range(n // 100):
        yield (f"N{j:06d}", f"new.{j}@example.org", f"New{j}", f"Newcomer{j}")


def target(deps: Deps, tenant_id: UUID, files: Path, name: str) -> UUID:
    """A `sql` target over its own (empty, for discovery) table ``<name>.db``."""
    with sqlite3.connect(files / f"{name}.db") as conn:
        conn.execute(
            "CREATE TABLE accounts (uid TEXT PRIMARY KEY, email TEXT NOT NULL, "
            "given_name TEXT, family_name TEXT)"
        )
    conn.close()
    doc = {
        "name": name,
        "type": "sql",
        "role": "target",
        "config": {
            "url": f"sqlite:///{name}.db",
            "table": "accounts",
            "uid_column": "uid",
            "name_column": "email",
        },
        "mappings": [
            {"identity": "employee_id", "account": "uid", "direction": "outbound"},
            *(
                {"identity": c, "account": c, "direction": "outbound"}
                for c in ("email", "given_name", "family_name")
            ),
        ],
        "correlation": [{"identity": "employee_id", "account": "uid"}],
    }
    return create_connector(deps, tenant_id, doc).id


def seed(deps: Deps, tenant_id: UUID, connectors: list[UUID], n: int) -> None:
    """N identities, and per connector N linked shadows as an earlier run left them."""
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(n)]
    for start in range(0, n, SEED_BATCH):
        with deps.store.unit_of_work() as uow:
            uow.identities.add_many(
                Identity(
                    id=ids[i],
                    tenant_id=tenant_id,
                    attributes=dict(zip(IDENTITY_KEYS, account(i), strict=True)),
                    created_at=now,
                    updated_at=now,
                )
                for i in range(start, min(start + SEED_BATCH, n))
            )
            uow.commit()
    for connector_id in connectors:
        for start in range(0, n, SEED_BATCH):
            shadows = []
            for i in range(start, min(start + SEED_BATCH, n)):
                attributes = dict(zip(COLUMNS, account(i), strict=True))
                shadows.append(
                    Shadow(
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
                )
            with deps.store.unit_of_work() as uow:
                uow.shadows.upsert_many(shadows)
                uow.commit()


def drift(files: Path, name: str, n: int) -> None:
    with sqlite3.connect(files / f"{name}.db") as conn:
        conn.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)", drifted(n))
    conn.close()


def situations(run: Run) -> dict[str, int]:
    known = {s.value for s in Situation}
    return {k: v for k, v in run.counts.items() if k in known and v}


def all_discrepancies(deps: Deps, tenant_id: UUID, run_id: UUID) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    cursor: str | None = None
    while True:
        page = list_discrepancies(deps, tenant_id, run_id, limit=500, cursor=cursor)
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found


@pytest.fixture
def cluster(postgres_url: str, tmp_path: Path) -> Iterator[WorkerCluster]:
    with worker_cluster(postgres_url, tmp_path, lease_seconds=3) as c:
        yield c


def test_kill_9_mid_reconciliation_resumes_to_the_uninterrupted_counts(
    cluster: WorkerCluster,
) -> None:
    deps = cluster.deps
    tenant = ensure_tenant(deps, "acme").id
    straight = target(deps, tenant, cluster.files, "straight")
    crashed = target(deps, tenant, cluster.files, "crashed")
    seed(deps, tenant, [straight, crashed], N)
    drift(cluster.files, "straight", N)
    drift(cluster.files, "crashed", N)
    want = expected_counts(N)

    first = start_reconciliation(deps, tenant, {"connector_id": str(straight)})
    Worker(deps, owner="straight").drain()
    uninterrupted = get_run(deps, tenant, first.id)
    assert uninterrupted.status is RunStatus.SUCCEEDED, uninterrupted.error
    assert situations(uninterrupted) == want

    run = start_reconciliation(deps, tenant, {"connector_id": str(crashed)})
    victim = cluster.spawn("w1")

    def mid_pass_1() -> Run | None:
        current = get_run(deps, tenant, run.id)
        in_pass_1 = (
            current.status is RunStatus.RUNNING and (current.checkpoint or {}).get("pass", 1) == 1
        )
        return current if in_pass_1 and 0 < current.progress.processed < N // 2 else None

    seen = wait_for(mid_pass_1, 120, "the run to be part-way through pass 1")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = get_run(deps, tenant, run.id)
    assert killed_at.status is RunStatus.RUNNING
    assert seen.progress.processed <= killed_at.progress.processed < N
    taken = time.monotonic()
    cluster.spawn("w2")

    def finished() -> Run | None:
        current = get_run(deps, tenant, run.id)
        return current if not current.status.active else None

    done = wait_for(finished, 180, "the run to be taken over and finished")
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.lease_owner != killed_at.lease_owner
    assert time.monotonic() - taken < 120
    assert situations(done) == situations(uninterrupted) == want
    assert done.progress.processed == uninterrupted.progress.processed

    recorded = all_discrepancies(deps, tenant, done.id)
    per_situation = Counter(d.situation.value for d in recorded)
    assert per_situation == {k: v for k, v in want.items() if k != "linked"}
    keys = [(d.situation, d.account_uid, d.identity_id) for d in recorded]
    assert len(keys) == len(set(keys)), "a discrepancy was recorded twice"
    straight_keys = {
        (d.situation, d.account_uid, d.identity_id)
        for d in all_discrepancies(deps, tenant, uninterrupted.id)
    }
    assert set(keys) == straight_keys
    for d in recorded:
        if d.situation is Situation.MISMATCHED:
            i = int(str(d.account_uid)[1:])
            assert [(x.attribute, x.expected, x.actual) for x in d.differences] == [
                ("given_name", f"Given{i}", f"Renamed{i}")
            ]


def test_expected_counts_match_the_drift() -> None:
    """The seeded delta is the one SPEC §7 describes: 1 % gone, 5 % changed, 1 % new."""
    counts = expected_counts(N)
    assert counts["deleted"] == counts["missing"] == counts["unmatched"] == N // 100
    assert counts["mismatched"] == 5 * N // 100
    assert sum(1 for _ in drifted(N)) == N - N // 100 + N // 100
