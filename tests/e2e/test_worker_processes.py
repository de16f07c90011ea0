"""Worker processes on PostgreSQL: kill -9 mid-sync and take-over; scheduled syncs.

Real `xavyo-connectors worker` processes share one real PostgreSQL database.
"""

from __future__ import annotations

import csv
import itertools
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.support.workers import wait_for, worker_cluster
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import Run, RunKind, RunStatus
from xavyo_connectors_core.runs import get_run, start_sync
from xavyo_connectors_core.tenancy import ensure_tenant

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HEADER = ["employee_id", "email", "department"]


@pytest.fixture
def env(postgres_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with worker_cluster(postgres_url, tmp_path, lease_seconds=3) as cluster:
        yield {"deps": cluster.deps, "spawn": cluster.spawn, "files": cluster.files}


def write_people(path: Path, n: int) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(n):
            writer.writerow([f"E{i:06d}", f"p{i}@example.org", "eng" if i % 3 else "ops"])


def source(deps: Deps, tenant_id: UUID, **extra: Any) -> UUID:
    doc = {
        "name": "hr",
        "type": "csv",
        "role": "source",
        "config": {"path": "hr.csv", "uid_column": "employee_id"},
        "mappings": [{"identity": h, "account": h, "direction": "inbound"} for h in HEADER],
        "correlation": [{"identity": "employee_id", "account": "employee_id"}],
        **extra,
    }
    return create_connector(deps, tenant_id, doc).id


def identities(deps: Deps, tenant_id: UUID) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    with deps.store.unit_of_work() as uow:
        for page in uow.identities.iter_scope(tenant_id, None, page_size=1000):
            for identity in page:
                key = identity.attributes["employee_id"]
                assert key not in found, f"duplicate identity for {key}"
                found[key] = dict(identity.attributes)
    return found


def test_kill_9_mid_sync_another_worker_finishes_exactly(env: dict[str, Any]) -> None:
    """A worker killed mid-sync: another takes the run over after the lease, same result."""
    deps: Deps = env["deps"]
    tenant = ensure_tenant(deps, "acme").id
    n = 12_000
    write_people(env["files"] / "hr.csv", n)
    cid = source(deps, tenant)
    run = start_sync(deps, tenant, cid)
    victim = env["spawn"]("w1")

    def mid_run() -> bool:
        current = get_run(deps, tenant, run.id)
        return current.status is RunStatus.RUNNING and 0 < current.progress.processed < n

    wait_for(mid_run, 60, "the sync to be half done")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = get_run(deps, tenant, run.id)
    assert killed_at.status is RunStatus.RUNNING
    taken = time.monotonic()
    env["spawn"]("w2")

    def finished() -> Run | None:
        current = get_run(deps, tenant, run.id)
        return current if not current.status.active else None

    done = wait_for(finished, 120, "the run to be taken over and finished")
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert time.monotonic() - taken < 60
    assert done.lease_owner != killed_at.lease_owner
    found = identities(deps, tenant)
    assert len(found) == n
    assert found["E000004"] == {
        "employee_id": "E000004",
        "email": "p4@example.org",
        "department": "eng",
    }
    assert done.counts.get("identity_created") == n


def test_two_workers_one_sync_per_interval(env: dict[str, Any]) -> None:
    """With two worker processes, a scheduled connector syncs once per interval, not twice."""
    deps: Deps = env["deps"]
    tenant = ensure_tenant(deps, "acme").id
    write_people(env["files"] / "hr.csv", 20)
    cid = source(deps, tenant, sync_interval_seconds=2)
    started = datetime.now(UTC)
    env["spawn"]("w1")
    env["spawn"]("w2")
    time.sleep(7.5)
    elapsed = (datetime.now(UTC) - started).total_seconds()
    with deps.store.unit_of_work() as uow:
        runs = list(uow.runs.list(tenant, limit=500, kind=RunKind.SYNC, connector_id=cid).items)
    slots = [r.scheduled_slot for r in runs]
    assert len(slots) == len(set(slots)), "two syncs in one interval"
    assert 2 <= len(runs) <= int(elapsed // 2) + 1
    queued = sorted(r.queued_at for r in runs)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(queued)]
    assert all(gap >= 1.0 for gap in gaps), gaps
