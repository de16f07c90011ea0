"""The provisioning queue: claiming due operations in account order, health, quarantine.

SPEC §3.7: operations of one account are applied in creation order (an earlier unfinished
or dead one holds the later ones back), a quarantined connector pauses, a disabled one's
operations wait, a dead worker's lease is taken over.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given

from tests.contract import builders as b
from tests.contract.stores import EMPTY, hypothesis_settings
from tests.contract.test_concurrency import race
from xavyo_connectors_core import provisioning
from xavyo_connectors_core import testing as strategies
from xavyo_connectors_core.model import ConnectorHealth, Operation, OperationStatus
from xavyo_connectors_core.ports import Store
from xavyo_connectors_core.stores._common import account_key
from xavyo_connectors_core.stores.sqlite import SqliteStore

S = OperationStatus
NOW = b.at(100)


def enqueue(store: Store, *ops: Operation) -> list[Operation]:
    with store.unit_of_work() as uow:
        stored = uow.operations.enqueue_many(ops)
        uow.commit()
    return stored


def claim(store: Store, limit: int = 50, now: Any = NOW, owner: str = "w1") -> list[Operation]:
    with store.unit_of_work() as uow:
        got = uow.operations.claim_due(owner, now, 30, limit)
        uow.commit()
    return got


def finish(store: Store, op: Operation, status: OperationStatus = S.SUCCEEDED) -> Operation:
    done = attrs.evolve(op, status=status, lease_owner=None, lease_expires_at=None)
    with store.unit_of_work() as uow:
        uow.operations.update(done)
        uow.commit()
    return done


def ids(ops: list[Operation]) -> list[uuid.UUID]:
    return [op.id for op in ops]


class TestAccountKey:
    @pytest.mark.parametrize(
        ("identity_id", "uid"),
        [(uuid.UUID(int=7), "u1"), (uuid.UUID(int=7), None), (None, "u1"), (None, None)],
    )
    def test_same_as_provisioning(self, identity_id: uuid.UUID | None, uid: str | None) -> None:
        """The store's account key is the provisioning rule: the identity, else the uid."""
        assert account_key(identity_id, uid) == provisioning.account_key(identity_id, uid)


class TestClaimDue:
    def test_due_operations_oldest_first(self, store: Store) -> None:
        """Pending and retrying operations whose time has come, by seq, up to the limit."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()

        def op(uid: str, **kw: Any) -> Operation:
            return b.operation(tenant, conn, account_uid=uid, **kw)

        stored = enqueue(
            store,
            op("a", next_attempt_at=NOW),  # due exactly now
            op("b", status=S.RETRYING, attempts=2, next_attempt_at=b.at(50)),
            op("c", next_attempt_at=NOW + timedelta(microseconds=1)),  # not yet
            op("d", status=S.SUCCEEDED),
            op("e", status=S.DEAD),
            op("f", status=S.DISCARDED),
            b.operation(uuid.uuid4(), uuid.uuid4(), account_uid="g"),  # another tenant
        )
        first = claim(store, limit=2, owner="w1")
        assert ids(first) == ids(stored[:2])
        for before, after in zip(stored[:2], first, strict=True):
            assert after == attrs.evolve(
                before, status=S.IN_PROGRESS, lease_owner="w1", lease_expires_at=b.at(130)
            )
        with store.unit_of_work() as uow:
            assert uow.operations.get(tenant, stored[0].id) == first[0]
        assert ids(claim(store, owner="w2")) == [stored[6].id]
        assert claim(store) == []
        assert ids(claim(store, now=b.at(101))) == [stored[2].id]
        assert claim(store, limit=0, now=b.at(10_000)) == []

    def test_expired_leases_are_taken_over(self, store: Store) -> None:
        """An in-progress operation whose lease ran out (or that has none) is claimed again."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        expired, live, boundary, orphan = enqueue(
            store,
            *(
                b.operation(tenant, conn, account_uid=uid, status=S.IN_PROGRESS, lease_owner="dead")
                for uid in "abcd"
            ),
        )
        with store.unit_of_work() as uow:
            uow.operations.update(attrs.evolve(expired, lease_expires_at=b.at(99)))
            uow.operations.update(attrs.evolve(live, lease_expires_at=b.at(101)))
            uow.operations.update(attrs.evolve(boundary, lease_expires_at=NOW))
            uow.commit()
        taken = claim(store, owner="w2")
        assert ids(taken) == [expired.id, orphan.id]
        assert {(op.lease_owner, op.lease_expires_at) for op in taken} == {("w2", b.at(130))}
        assert ids(claim(store, now=b.at(129))) == [live.id, boundary.id]
        assert ids(claim(store, now=b.at(160))) == [expired.id, live.id, boundary.id, orphan.id]

    def test_one_operation_of_an_account_at_a_time(self, store: Store) -> None:
        """A later operation waits until every earlier one of its account has succeeded
        or been discarded; a dead one holds the account back."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        ident = uuid.uuid4()
        a1, b1, a2, a3, b2 = enqueue(
            store,
            b.operation(tenant, conn, identity_id=ident, account_uid=None),
            b.operation(tenant, conn, account_uid="bob"),
            b.operation(tenant, conn, identity_id=ident, account_uid="ann"),  # same account
            b.operation(tenant, conn, identity_id=ident, account_uid=None),
            b.operation(tenant, conn, account_uid="bob"),
        )
        assert ids(claim(store)) == [a1.id, b1.id]
        assert claim(store, now=b.at(129)) == []  # both in progress, leases live
        finish(store, claim_one(store, a1))
        assert ids(claim(store)) == [a2.id]
        dead = finish(store, claim_one(store, a2), S.DEAD)
        finish(store, claim_one(store, b1), S.DISCARDED)
        assert ids(claim(store)) == [b2.id]
        assert claim(store) == []  # a3 waits behind the dead a2
        with store.unit_of_work() as uow:
            assert uow.operations.count_behind(dead) == 1
            uow.operations.update(attrs.evolve(dead, status=S.PENDING, attempts=0))  # retried
            uow.commit()
        assert ids(claim(store)) == [a2.id]
        finish(store, claim_one(store, a2))
        assert ids(claim(store)) == [a3.id]

    def test_accounts_are_per_tenant_connector_and_identity_or_uid(self, store: Store) -> None:
        """Only the same tenant, connector and account key order operations."""
        tenant, conn, ident = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        first = b.operation(tenant, conn, identity_id=ident, account_uid="u1")
        others = [
            b.operation(tenant, conn, identity_id=None, account_uid="u1"),  # by uid
            b.operation(tenant, conn, identity_id=uuid.uuid4(), account_uid="u1"),
            b.operation(tenant, uuid.uuid4(), identity_id=ident, account_uid="u1"),
            b.operation(uuid.uuid4(), conn, identity_id=ident, account_uid="u1"),
        ]
        blocked = b.operation(tenant, conn, identity_id=ident, account_uid="u2")
        stored = enqueue(store, first, *others, blocked)
        assert ids(claim(store)) == ids(stored[:-1])

    def test_quarantined_and_disabled_connectors_wait(self, store: Store) -> None:
        """Nothing of a connector quarantined past now, or disabled, is claimed; an
        unknown (deleted) connector's operations are (the worker dead-letters them)."""
        tenant = uuid.uuid4()
        paused, off, fine = (
            b.connector(tenant),
            b.connector(tenant, enabled=False),
            b.connector(tenant),
        )
        with store.unit_of_work() as uow:
            for conn in (paused, off, fine):
                uow.connectors.add(conn)
            uow.operations.put_health(
                ConnectorHealth(
                    tenant, paused.id, consecutive_failures=6, quarantined_until=b.at(160)
                )
            )
            uow.operations.put_health(ConnectorHealth(tenant, fine.id, consecutive_failures=2))
            uow.commit()
        p, o, f, gone = enqueue(
            store,
            b.operation(tenant, paused.id),
            b.operation(tenant, off.id),
            b.operation(tenant, fine.id),
            b.operation(tenant, uuid.uuid4()),
        )
        claimed = claim(store)
        assert ids(claimed) == [f.id, gone.id]
        for op in claimed:
            finish(store, op)
        assert claim(store, now=b.at(159)) == []  # quarantined until 160
        assert ids(claim(store, now=b.at(160))) == [p.id]
        with store.unit_of_work() as uow:
            uow.connectors.update(attrs.evolve(off, enabled=True, version=2))
            uow.commit()
        assert ids(claim(store, now=b.at(160))) == [o.id]

    def test_an_uncommitted_claim_is_undone(self, store: Store) -> None:
        """Claiming is a write like any other: without commit it did not happen."""
        (op,) = enqueue(store, b.operation(uuid.uuid4(), uuid.uuid4()))
        with store.unit_of_work() as uow:
            assert ids(uow.operations.claim_due("w1", NOW, 30, 5)) == [op.id]
        assert ids(claim(store)) == [op.id]


def claim_one(store: Store, op: Operation) -> Operation:
    """``op`` as currently stored (claimed)."""
    with store.unit_of_work() as uow:
        current = uow.operations.get(op.tenant_id, op.id)
    assert current.status is S.IN_PROGRESS
    return current


class TestAccountReads:
    def test_latest_for_account(self, store: Store) -> None:
        """The largest seq of the account, whatever its status; the key follows updates."""
        tenant, conn, ident = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        key = f"i:{ident}"
        with store.unit_of_work() as uow:
            assert uow.operations.latest_for_account(tenant, conn, key) is None
            ops = uow.operations.enqueue_many(
                [
                    b.operation(tenant, conn, identity_id=ident, status=S.SUCCEEDED),
                    b.operation(tenant, conn, identity_id=ident, status=S.DEAD),
                    b.operation(tenant, conn, identity_id=None, account_uid="u1"),
                    b.operation(uuid.uuid4(), conn, identity_id=ident),
                ]
            )
            assert uow.operations.latest_for_account(tenant, conn, key) == ops[1]
            assert uow.operations.latest_for_account(tenant, conn, "u:u1") == ops[2]
            assert uow.operations.latest_for_account(tenant, uuid.uuid4(), key) is None
            linked = attrs.evolve(ops[2], identity_id=ident)  # now acts on the identity
            uow.operations.update(linked)
            assert uow.operations.latest_for_account(tenant, conn, key) == linked
            assert uow.operations.latest_for_account(tenant, conn, "u:u1") is None

    def test_count_behind(self, store: Store) -> None:
        """Unfinished operations of the same account with a larger seq."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        with store.unit_of_work() as uow:
            dead, *rest = uow.operations.enqueue_many(
                [
                    b.operation(tenant, conn, status=S.DEAD),
                    b.operation(tenant, conn, status=S.PENDING),
                    b.operation(tenant, conn, status=S.RETRYING),
                    b.operation(tenant, conn, status=S.IN_PROGRESS),
                    b.operation(tenant, conn, status=S.DEAD),
                    b.operation(tenant, conn, status=S.SUCCEEDED),
                    b.operation(tenant, conn, status=S.DISCARDED),
                    b.operation(tenant, conn, account_uid="other"),
                    b.operation(tenant, uuid.uuid4()),
                ]
            )
            assert uow.operations.count_behind(dead) == 4
            assert uow.operations.count_behind(rest[3]) == 0


class TestHealth:
    def test_put_get_replace(self, store: Store) -> None:
        """A connector has one health row; ``put_health`` replaces it."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            assert uow.operations.get_health(tenant, conn.id) is None
            first = ConnectorHealth(tenant, conn.id, 5, b.at(10))
            uow.operations.put_health(first)
            assert uow.operations.get_health(tenant, conn.id) == first
            second = ConnectorHealth(tenant, conn.id, 0, None)
            uow.operations.put_health(second)
            assert uow.operations.get_health(tenant, conn.id) == second
            assert uow.operations.get_health(uuid.uuid4(), conn.id) is None
            uow.commit()
        with store.unit_of_work() as uow:
            uow.operations.put_health(first)
        with store.unit_of_work() as uow:  # rolled back
            assert uow.operations.get_health(tenant, conn.id) == second

    def test_goes_with_its_connector(self, store: Store) -> None:
        """Deleting the connector deletes its health; a missing connector gets none."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            uow.operations.put_health(ConnectorHealth(tenant, conn.id, 1))
            uow.connectors.delete(tenant, conn.id)
            assert uow.operations.get_health(tenant, conn.id) is None
            uow.operations.put_health(ConnectorHealth(tenant, conn.id, 1))
            assert uow.operations.get_health(tenant, conn.id) is None

    def test_round_trip(self, store: Store, store_kind: str) -> None:
        """``get_health(put_health(x)) == x`` for any health."""

        @hypothesis_settings(store_kind)
        @given(strategies.connector_healths())
        def check(health: ConnectorHealth) -> None:
            health = attrs.evolve(health, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                uow.connectors.add(b.connector(health.tenant_id, id=health.connector_id))
                uow.operations.put_health(health)
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.operations.get_health(health.tenant_id, health.connector_id) == health

        check()


class TestStatsWithQuarantine:
    def test_quarantined_connectors_are_listed(self, store: Store) -> None:
        """A connector quarantined past now shows when it resumes, even with nothing queued."""
        tenant = uuid.uuid4()
        busy, idle, healed = (b.connector(tenant, id=uuid.UUID(int=i)) for i in (1, 2, 3))
        with store.unit_of_work() as uow:
            for conn in (busy, idle, healed):
                uow.connectors.add(conn)
            for conn, until in ((busy, b.at(130)), (idle, b.at(190)), (healed, b.at(50))):
                uow.operations.put_health(ConnectorHealth(tenant, conn.id, 7, until))
            uow.operations.enqueue_many(
                [b.operation(tenant, busy.id, created_at=b.at(90)), b.operation(tenant, healed.id)]
            )
            stats = uow.operations.stats(tenant, NOW)
        assert stats["connectors"] == [
            {
                "connector_id": str(busy.id),
                "pending": 1,
                "retrying": 0,
                "dead": 0,
                "quarantined_until": "2026-01-01T12:02:10.123456Z",
            },
            {
                "connector_id": str(idle.id),
                "pending": 0,
                "retrying": 0,
                "dead": 0,
                "quarantined_until": "2026-01-01T12:03:10.123456Z",
            },
            {
                "connector_id": str(healed.id),
                "pending": 1,
                "retrying": 0,
                "dead": 0,
                "quarantined_until": None,
            },
        ]
        assert stats["pending"] == 2


# --------------------------------------------------------------------------- concurrency


class _Ledger:
    """What the workers did, checked as they do it: one operation in flight per account."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight: dict[str, uuid.UUID] = {}
        self.claims: dict[uuid.UUID, int] = defaultdict(int)
        self.order: dict[str, list[int]] = defaultdict(list)
        self.violations: list[str] = []

    def claimed(self, ops: list[Operation]) -> None:
        with self.lock:
            for op in ops:
                key = account_key(op.identity_id, op.account_uid)
                if key in self.in_flight:
                    self.violations.append(f"{key}: {self.in_flight[key]} and {op.id}")
                self.in_flight[key] = op.id
                self.claims[op.id] += 1
                self.order[key].append(op.seq)

    def acking(self, op: Operation) -> None:
        """Called before the ack commits: until then the account's next op is not due."""
        with self.lock:
            self.in_flight.pop(account_key(op.identity_id, op.account_uid), None)


def _work(store: Store, ledger: _Ledger, owner: str, stop: threading.Event) -> int:
    idle = 0
    while idle < 20 and not stop.is_set():
        with store.unit_of_work() as uow:
            ops = uow.operations.claim_due(owner, NOW, 300, 4)
            uow.commit()
        if not ops:
            idle += 1
            continue
        idle = 0
        ledger.claimed(ops)
        with store.unit_of_work() as uow:
            for op in ops:
                ledger.acking(op)
                uow.operations.update(
                    attrs.evolve(op, status=S.SUCCEEDED, lease_owner=None, lease_expires_at=None)
                )
            uow.commit()
    return 0


class TestConcurrentClaims:
    def test_workers_keep_accounts_in_order(self, store: Store) -> None:
        """Four workers claiming at once over many accounts with several operations each:
        every operation is claimed once, in seq order per account, and no account ever has
        two operations in progress."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        accounts = [uuid.uuid4() for _ in range(30)]
        enqueue(
            store,
            *(
                b.operation(tenant, conn, identity_id=accounts[i % 30], account_uid=None)
                for i in range(150)
            ),
        )
        ledger, stop = _Ledger(), threading.Event()

        def worker(n: int) -> Any:
            def run(barrier: threading.Barrier) -> int:
                barrier.wait()
                try:
                    return _work(store, ledger, f"w{n}", stop)
                except BaseException:
                    stop.set()
                    raise

            return run

        results = race(*(worker(n) for n in range(4)))
        assert results == [0, 0, 0, 0]
        assert ledger.violations == []
        assert len(ledger.claims) == 150 and set(ledger.claims.values()) == {1}
        assert all(seqs == sorted(seqs) for seqs in ledger.order.values())
        with store.unit_of_work() as uow:
            assert uow.operations.stats(tenant, NOW)["pending"] == 0


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[Store]:
    shared, admin = request.getfixturevalue("contract_postgres")
    admin.execute(EMPTY)
    yield shared


@pytest.mark.postgres
class TestCoalescingOnPostgres:
    def test_a_claim_skips_the_operation_being_coalesced(self, pg: Store) -> None:
        """While a unit of work holds a pending ``latest_for_account``, claimers skip that
        operation without waiting for it."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        held, other = enqueue(
            pg,
            b.operation(tenant, conn, account_uid="a"),
            b.operation(tenant, conn, account_uid="b"),
        )
        with pg.unit_of_work() as coalescing:
            latest = coalescing.operations.latest_for_account(tenant, conn, "u:a")
            assert latest == held
            assert race(lambda _barrier: ids(claim(pg))) == [[other.id]]
            merged = attrs.evolve(held, reason="coalesced", updated_at=b.at(1))
            coalescing.operations.update(merged)
            coalescing.commit()
        (claimed,) = claim(pg)
        assert claimed == attrs.evolve(
            merged, status=S.IN_PROGRESS, lease_owner="w1", lease_expires_at=b.at(130)
        )

    def test_an_operation_in_progress_is_not_locked(self, pg: Store) -> None:
        """A worker acks its operation while an enqueuer holds ``latest_for_account``."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        enqueue(pg, b.operation(tenant, conn, account_uid="a"))
        (running,) = claim(pg)
        with pg.unit_of_work() as enqueuer:
            assert enqueuer.operations.latest_for_account(tenant, conn, "u:a") == running
            acked = race(lambda _barrier: finish(pg, running))
            assert [op.status for op in acked] == [S.SUCCEEDED]
            assert enqueuer.operations.latest_for_account(tenant, conn, "u:a") == acked[0]

    def test_a_claim_in_flight_is_waited_for(self, pg: Store) -> None:
        """Asked while a claim holds the pending operation, it answers with the claimed one."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        (op,) = enqueue(pg, b.operation(tenant, conn, account_uid="a"))
        claimed = threading.Event()
        release = threading.Event()

        def claimer(_barrier: threading.Barrier) -> list[Operation]:
            with pg.unit_of_work() as uow:
                got = uow.operations.claim_due("w1", NOW, 30, 5)
                claimed.set()
                release.wait(10)
                uow.commit()
            return got

        def enqueuer(_barrier: threading.Barrier) -> Operation | None:
            claimed.wait(10)
            with pg.unit_of_work() as uow:
                timer = threading.Timer(0.3, release.set)
                timer.start()
                return uow.operations.latest_for_account(tenant, conn, "u:a")

        got, latest = race(claimer, enqueuer)
        assert ids(got) == [op.id] and latest == got[0]
        assert latest is not None and latest.status is S.IN_PROGRESS


@pytest.mark.parametrize(
    "name",
    [
        "operation_claim_due",
        "operation_latest_for_account",
        "operation_count_behind",
        "operation_quarantined",
        "health_get",
        "discrepancy_resolve_absent",
        "identity_find",
    ],
)
def test_queue_and_reconciliation_queries_are_indexed(name: str, tmp_path: Path) -> None:
    """On SQLite (whose planner is predictable), no new query scans a whole table."""
    store = SqliteStore(tmp_path / "plan.db")
    try:
        sql = store._queries[name]
        params = dict.fromkeys(re.findall(r"(?<!:):([a-z_]+)", sql))
        with closing(sqlite3.connect(tmp_path / "plan.db")) as conn:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    finally:
        store.close()
    scans = [step for step in plan if step.startswith("SCAN ")]
    assert all("USING INDEX" in s or "VIRTUAL TABLE" in s for s in scans), plan
    if name == "operation_claim_due":
        assert "SCAN o USING INDEX operations_queue" in plan
        assert any("USING INDEX operations_account" in step for step in plan)
