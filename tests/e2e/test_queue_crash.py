"""``kill -9`` of a worker process mid-batch on PostgreSQL (SPEC §3.7, §7; issue 5).

Two real ``xavyo-connectors worker`` processes (``--lease-seconds 3``) share one real
PostgreSQL store and provision a real PostgreSQL target table through the ``sql`` type.
The target is slow on purpose — its audit trigger sleeps 20 ms per write — so a batch
(the worker's 50 operations) takes about a second and "mid-batch" is a wide window. The
audit table is filled by the trigger, so it counts every write the target saw: each
account once, plus one more for each operation that was re-applied after the crash.
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.support.postgres import fresh_database
from tests.support.workers import wait_for, worker_cluster
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import Operation, OperationKind, OperationStatus
from xavyo_connectors_core.provisioning import new_operation, replace_deltas
from xavyo_connectors_core.tenancy import ensure_tenant

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

LEASE_SECONDS = 3.0
POLL_SECONDS = 0.5
"""The provisioning loop's idle wait (``Provisioner.run_forever``'s default)."""
BATCH = 50
"""Operations per claim of ``xavyo-connectors worker`` (``Provisioner``'s default)."""
ACCOUNTS = 200
WRITE_DELAY = 0.02

TARGET_SCHEMA = f"""
CREATE TABLE accounts (
    id    text PRIMARY KEY,
    email text NOT NULL
);
CREATE TABLE audit (
    n       bigserial   PRIMARY KEY,
    account text        NOT NULL,
    action  text        NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION audit_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep({WRITE_DELAY});
    INSERT INTO audit (account, action) VALUES (NEW.id, TG_OP);
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_audit AFTER INSERT OR UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION audit_accounts();
"""


@pytest.fixture
def env(postgres_url: str, postgres_server_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with (
        worker_cluster(postgres_url, tmp_path, lease_seconds=LEASE_SECONDS) as cluster,
        fresh_database(postgres_server_url) as target_url,
    ):
        with psycopg.connect(target_url, autocommit=True) as conn:
            conn.execute(TARGET_SCHEMA)
        yield {"deps": cluster.deps, "spawn": cluster.spawn, "target_url": target_url}


def operations(deps: Deps, tenant_id: UUID) -> list[Operation]:
    with deps.store.unit_of_work() as uow:
        page = uow.operations.list(tenant_id, limit=500)
    assert page.next_cursor is None
    return list(page.items)


def audit_counts(url: str) -> Counter[str]:
    with psycopg.connect(url) as conn:
        return Counter(row[0] for row in conn.execute("SELECT account FROM audit"))


def test_kill_9_mid_batch_loses_nothing_and_reapplies_at_most_that_batch(
    env: dict[str, Any],
) -> None:
    deps: Deps = env["deps"]
    target_url: str = env["target_url"]
    tenant = ensure_tenant(deps, "acme").id
    connector = create_connector(
        deps,
        tenant,
        {
            "name": "app",
            "type": "sql",
            "role": "target",
            "config": {"url": target_url, "table": "accounts", "uid_column": "id"},
        },
    )
    uid_of: dict[UUID, str] = {}
    ops = []
    for i in range(ACCOUNTS):
        uid = f"a{i:04d}"
        op = new_operation(
            deps,
            connector,
            OperationKind.CREATE,
            identity_id=uuid.uuid4(),
            account_uid=None,
            changes=replace_deltas({"id": uid, "email": f"{uid}@example.org"}),
            reason="crash test",
        )
        uid_of[op.id] = uid
        ops.append(op)
    with deps.store.unit_of_work() as uow:
        uow.operations.enqueue_many(ops)
        uow.commit()

    victim = env["spawn"]("victim")
    victim_prefix = f"{socket.gethostname()}:{victim.pid}:"

    def held_by_victim() -> list[Operation]:
        return [
            op
            for op in operations(deps, tenant)
            if op.status is OperationStatus.IN_PROGRESS
            and (op.lease_owner or "").startswith(victim_prefix)
        ]

    def mid_batch() -> bool:
        held = {uid_of[op.id] for op in held_by_victim()}
        applied = set(audit_counts(target_url))
        # well inside the batch: some written, at least 10 (200 ms) still to go
        return 2 <= len(held & applied) <= len(held) - 10

    env["spawn"]("survivor")
    wait_for(mid_batch, 60, "the victim to be in the middle of a batch")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    held = held_by_victim()
    held_uids = {uid_of[op.id] for op in held}
    applied_at_kill = set(audit_counts(target_url))
    assert held, "the victim held no batch when it was killed"
    assert 0 < len(held_uids & applied_at_kill) < len(held_uids), "not killed mid-batch"

    def taken_over() -> bool:
        ids = {op.id for op in held}
        return not any(
            (op.lease_owner or "").startswith(victim_prefix)
            for op in operations(deps, tenant)
            if op.id in ids
        )

    wait_for(taken_over, 30, "the victim's operations to be taken over")
    takeover = time.monotonic() - killed_at

    def all_finished() -> list[Operation] | None:
        found = operations(deps, tenant)
        busy = (OperationStatus.PENDING, OperationStatus.RETRYING, OperationStatus.IN_PROGRESS)
        return None if any(op.status in busy for op in found) else found

    finished = wait_for(all_finished, 60, "every operation to finish")
    statuses = Counter(op.status for op in finished)
    assert statuses == {OperationStatus.SUCCEEDED: ACCOUNTS}, statuses  # nothing lost

    with psycopg.connect(target_url) as conn:
        rows: dict[str, str] = dict(conn.execute("SELECT id, email FROM accounts").fetchall())
    assert rows == {uid: f"{uid}@example.org" for uid in uid_of.values()}

    writes = audit_counts(target_url)
    reapplied = {uid for uid, n in writes.items() if n > 1}
    print(
        f"killed holding {len(held)} operations ({len(held_uids & applied_at_kill)} written);"
        f" re-applied {len(reapplied)}; taken over {takeover:.2f} s after the kill"
    )
    assert max(writes.values()) <= 2, writes.most_common(3)
    assert reapplied <= held_uids, "an operation outside the killed batch was re-applied"
    assert len(reapplied) <= BATCH
    # what the victim had written but not acked is re-applied (at least once)
    assert held_uids & applied_at_kill <= reapplied
    # taken over once the lease ran out: lease + the survivor's idle poll + the batch it
    # was busy with (about 50 x 20 ms) + slack for a loaded machine
    assert takeover <= LEASE_SECONDS + POLL_SECONDS + BATCH * WRITE_DELAY * 2 + 3.0, takeover
