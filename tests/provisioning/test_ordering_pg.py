"""Per-account ordering of the provisioning queue under concurrency (SPEC §3.7, issue 5).

Real PostgreSQL store, real PostgreSQL target: the ``sql`` connector type writes a table
``accounts (id, version)``; an ``AFTER INSERT OR UPDATE`` trigger appends every write the
target *saw* to the append-only table ``audit``, in the order the target saw them (a
``bigserial``; writes of one row are serialised by its row lock). Each account gets a
create (``version`` 0) and updates ``version`` 1..k, so the audit rows of an account must
read 0, 1, ..., k: a reordering, a lost operation or a repeated one shows there.

Workers are real ``Provisioner`` instances (different owners, small batches) in threads
sharing one ``PostgresStore``, as ``serve`` and ``xavyo-connectors worker`` run them.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

import psycopg
import pytest

from tests.support.postgres import fresh_database
from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import (
    AttributeDelta,
    Capability,
    Connector,
    Operation,
    OperationKind,
    OperationStatus,
)
from xavyo_connectors_core.provisioning import Provisioner, enqueue, new_operation, replace_deltas
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.spi import ConnectorObject, OpenContext
from xavyo_connectors_core.tenancy import ensure_tenant
from xavyo_connectors_core.types.sql import TYPE as SQL_TYPE

pytestmark = [pytest.mark.postgres]

TARGET_SCHEMA = """
CREATE TABLE accounts (
    id      text    PRIMARY KEY,
    version integer NOT NULL
);
CREATE TABLE audit (
    n       bigserial   PRIMARY KEY,
    account text        NOT NULL,
    action  text        NOT NULL,
    version integer     NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION audit_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (account, action, version) VALUES (NEW.id, TG_OP, NEW.version);
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_audit AFTER INSERT OR UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION audit_accounts();
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""

UNFINISHED = [
    OperationStatus.PENDING,
    OperationStatus.RETRYING,
    OperationStatus.IN_PROGRESS,
    OperationStatus.DEAD,
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def target_url(postgres_server_url: str) -> Iterator[str]:
    """A separate database holding the target table and its audit trigger."""
    with fresh_database(postgres_server_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(TARGET_SCHEMA)
        yield url


@pytest.fixture
def pg_deps(postgres_url: str, tmp_path: Path) -> Iterator[Deps]:
    from xavyo_connectors_core.stores import open_store

    store = open_store(postgres_url)
    files = tmp_path / "files"
    files.mkdir()
    registry = default_registry()
    registry.register(GatedSqlType())
    yield Deps(
        store=store,
        registry=registry,
        keyring=KeyRing([generate_key()]),
        clock=SystemClock(),
        files_root=files.resolve(),
    )
    store.close()


@pytest.fixture
def tenant_id(pg_deps: Deps) -> UUID:
    return ensure_tenant(pg_deps, "acme").id


def target_connector(deps: Deps, tenant_id: UUID, url: str, *, type: str = "sql") -> Connector:
    return create_connector(
        deps,
        tenant_id,
        {
            "name": "app",
            "type": type,
            "role": "target",
            "config": {"url": url, "table": "accounts", "uid_column": "id"},
        },
    )


# --------------------------------------------------------------------------- helpers


def create_op(deps: Deps, connector: Connector, identity_id: UUID, uid: str) -> Operation:
    return new_operation(
        deps,
        connector,
        OperationKind.CREATE,
        identity_id=identity_id,
        account_uid=None,
        changes=replace_deltas({"id": uid, "version": 0}),
        reason=f"create {uid}",
    )


def update_op(deps: Deps, connector: Connector, identity_id: UUID, version: int) -> Operation:
    return new_operation(
        deps,
        connector,
        OperationKind.UPDATE,
        identity_id=identity_id,
        account_uid=None,
        changes=replace_deltas({"version": version}),
        reason=f"update to {version}",
    )


def audit_trail(url: str) -> dict[str, list[tuple[str, int]]]:
    """Every write the target saw, per account, in the order it saw them."""
    trail: dict[str, list[tuple[str, int]]] = defaultdict(list)
    with psycopg.connect(url) as conn:
        for account, action, version in conn.execute(
            "SELECT account, action, version FROM audit ORDER BY n"
        ):
            trail[account].append((action, version))
    return dict(trail)


def final_versions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT id, version FROM accounts").fetchall())


def all_operations(deps: Deps, tenant_id: UUID) -> list[Operation]:
    found: list[Operation] = []
    cursor = None
    with deps.store.unit_of_work() as uow:
        while True:
            page = uow.operations.list(tenant_id, limit=500, cursor=cursor)
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor


def queue_idle(deps: Deps, tenant_id: UUID) -> bool:
    with deps.store.unit_of_work() as uow:
        return not uow.operations.list(tenant_id, limit=1, statuses=UNFINISHED).items


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class WorkerThreads:
    """Provisioners looping ``run_batch`` in threads until stopped; errors are kept."""

    def __init__(
        self, provisioners: Sequence[Provisioner], *, rng: random.Random | None = None
    ) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.processed: Counter[str] = Counter()
        self._rng = rng
        self._threads = [
            threading.Thread(target=self._loop, args=(p,), name=p.owner, daemon=True)
            for p in provisioners
        ]

    def _loop(self, provisioner: Provisioner) -> None:
        rng = random.Random(self._rng.random()) if self._rng else None
        try:
            while not self.stop.is_set():
                done = provisioner.run_batch()
                self.processed[provisioner.owner] += done
                if rng is not None:
                    time.sleep(rng.choice((0, 0, 0.001, 0.003)))
                if not done:
                    self.stop.wait(0.005)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def __enter__(self) -> WorkerThreads:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def assert_in_order(
    trail: Mapping[str, Sequence[tuple[str, int]]],
    expected_last: Mapping[str, int],
    *,
    exact: bool,
    context: str = "",
) -> None:
    """Per account: a create of 0 first, then strictly increasing updates, ending at last.

    ``exact``: every version 0..last appears (no coalescing happened).
    """
    assert set(trail) == set(expected_last), f"accounts missing or extra {context}"
    for account, last in expected_last.items():
        writes = list(trail[account])
        versions = [v for _, v in writes]
        assert writes[0] == ("INSERT", 0), f"{account}: first write {writes[0]} {context}"
        assert all(action == "UPDATE" for action, _ in writes[1:]), f"{account}: {writes}"
        assert all(a < b for a, b in itertools.pairwise(versions)), (
            f"{account}: applied out of order or twice: {versions} {context}"
        )
        assert versions[-1] == last, f"{account}: last applied {versions[-1]} != {last}"
        if exact:
            assert versions == list(range(last + 1)), f"{account}: {versions} {context}"


# --------------------------------------------------------------------------- the stress test


ACCOUNTS = 200
UPDATES = 4
BATCH_SIZES = (1, 3, 5, 8)


def test_four_workers_apply_each_account_in_creation_order(
    pg_deps: Deps, tenant_id: UUID, target_url: str
) -> None:
    """200 accounts x (create + 4 updates), shuffled across accounts, 4 concurrent workers.

    The target's audit trail shows, per account, exactly INSERT 0, UPDATE 1, ..., UPDATE 4:
    in creation order, each operation once (no lease expired, so no re-application).
    """
    deps = pg_deps
    connector = target_connector(deps, tenant_id, target_url)
    rng = random.Random(20260101)
    chains: dict[str, list[Operation]] = {}
    for i in range(ACCOUNTS):
        identity_id = uuid.uuid4()
        uid = f"a{i:04d}"
        chains[uid] = [
            create_op(deps, connector, identity_id, uid),
            *(update_op(deps, connector, identity_id, v) for v in range(1, UPDATES + 1)),
        ]
    # one random interleaving of the accounts that keeps each account's own order
    cursors = dict.fromkeys(chains, 0)
    ordered: list[Operation] = []
    while cursors:
        uid = rng.choice(sorted(cursors))
        ordered.append(chains[uid][cursors[uid]])
        cursors[uid] += 1
        if cursors[uid] == len(chains[uid]):
            del cursors[uid]
    for start in range(0, len(ordered), 250):
        with deps.store.unit_of_work() as uow:
            uow.operations.enqueue_many(ordered[start : start + 250])
            uow.commit()

    workers = [
        Provisioner(deps, owner=f"w{i}", batch_size=size) for i, size in enumerate(BATCH_SIZES)
    ]
    with WorkerThreads(workers) as running:
        wait_until(
            lambda: bool(running.errors) or queue_idle(deps, tenant_id), 25, "the queue to drain"
        )
    assert not running.errors, running.errors
    assert sum(running.processed.values()) == ACCOUNTS * (UPDATES + 1)
    assert sum(1 for n in running.processed.values() if n) >= 3, running.processed

    statuses = Counter(op.status for op in all_operations(deps, tenant_id))
    assert statuses == {OperationStatus.SUCCEEDED: ACCOUNTS * (UPDATES + 1)}
    assert_in_order(audit_trail(target_url), dict.fromkeys(chains, UPDATES), exact=True)
    assert final_versions(target_url) == dict.fromkeys(chains, UPDATES)


# --------------------------------------------------------------------------- property style


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_interleavings_of_enqueue_and_claim(
    pg_deps: Deps, tenant_id: UUID, target_url: str, seed: int
) -> None:
    """Enqueuers and workers race: whatever the interleaving, each account ends in order.

    Two enqueuer threads (each owning half of the accounts) push creates and updates
    through ``provisioning.enqueue`` — which coalesces an update into a still-pending one
    — one to three per transaction, at random moments, while four workers with random
    batch sizes claim and apply. Per account, the target must see its create first and
    then strictly increasing versions ending at the last one enqueued; every stored
    operation succeeds and is applied exactly once.
    """
    deps = pg_deps
    connector = target_connector(deps, tenant_id, target_url)
    rng = random.Random(seed)
    accounts_per_enqueuer, max_version = 30, 6
    last: dict[str, int] = {}
    errors: list[BaseException] = []

    def enqueuer(index: int, erng: random.Random) -> None:
        try:
            mine = {f"e{index}-{i:03d}": uuid.uuid4() for i in range(accounts_per_enqueuer)}
            versions: dict[str, int] = {}
            todo = {uid: erng.randint(1, max_version) for uid in mine}
            while todo:
                ops = []
                for _ in range(erng.randint(1, 3)):
                    if not todo:
                        break
                    uid = erng.choice(sorted(todo))
                    if uid not in versions:
                        versions[uid] = 0
                        ops.append(create_op(deps, connector, mine[uid], uid))
                    else:
                        versions[uid] += 1
                        ops.append(update_op(deps, connector, mine[uid], versions[uid]))
                    if versions[uid] == todo[uid]:
                        del todo[uid]
                with deps.store.unit_of_work() as uow:
                    enqueue(uow, ops)
                    uow.commit()
                time.sleep(erng.choice((0, 0, 0.001, 0.004)))
            last.update(versions)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    workers = [
        Provisioner(deps, owner=f"s{seed}-w{i}", batch_size=rng.randint(1, 5)) for i in range(4)
    ]
    producers = [
        threading.Thread(target=enqueuer, args=(i, random.Random(rng.random()))) for i in range(2)
    ]
    with WorkerThreads(workers, rng=rng) as running:
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.join(timeout=25)
        assert not errors, errors
        wait_until(
            lambda: bool(running.errors) or queue_idle(deps, tenant_id), 25, "the queue to drain"
        )
    assert not running.errors, running.errors

    context = f"(seed {seed})"
    ops = all_operations(deps, tenant_id)
    assert {op.status for op in ops} == {OperationStatus.SUCCEEDED}, context
    trail = audit_trail(target_url)
    assert_in_order(trail, last, exact=False, context=context)
    # applied exactly once: one target write per stored (possibly coalesced) operation
    writes = sum(len(w) for w in trail.values())
    assert writes == len(ops), f"{writes} writes for {len(ops)} operations {context}"
    assert final_versions(target_url) == last


# --------------------------------------------------------------------------- lease expiry


class GatedConnection:
    """A real ``sql`` connection whose writes first wait at the gate of the calling thread."""

    def __init__(self, inner: Any, gate: threading.Event | None) -> None:
        self._inner = inner
        self._gate = gate

    def __enter__(self) -> GatedConnection:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(*exc)

    def _wait(self) -> None:
        if self._gate is not None and not self._gate.wait(timeout=20):
            raise AssertionError("gate never opened")

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        self._wait()
        result: ConnectorObject = self._inner.create(object_class, attributes)
        return result

    def update(
        self, object_class: str, uid: str, deltas: Sequence[AttributeDelta]
    ) -> ConnectorObject:
        self._wait()
        result: ConnectorObject = self._inner.update(object_class, uid, deltas)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class GatedSqlType:
    """The built-in ``sql`` type, with a gate per worker thread name (test-only)."""

    key = "gated-sql"
    description = "The sql type; writes wait at a gate the test holds per thread."
    config_spec = SQL_TYPE.config_spec
    capabilities: frozenset[Capability] = SQL_TYPE.capabilities
    gates: dict[str, threading.Event] = {}

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        return SQL_TYPE.account_object_class(config)

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> GatedConnection:
        gate = self.gates.get(threading.current_thread().name)
        return GatedConnection(SQL_TYPE.open(config, secrets, context), gate)


def test_a_worker_past_its_lease_cannot_release_the_next_operation(
    pg_deps: Deps, tenant_id: UUID, target_url: str
) -> None:
    """A slow worker (lease expired, operation taken over) must not unblock the account.

    A claims update 1 with a 0.5 s lease and stalls before writing; B takes update 1 over
    once the lease expired and stalls too. A wakes up, writes and acks. Update 2 must stay
    held back until B — the lease holder — finishes; otherwise C applies update 2 and B's
    update 1 lands on top of it.
    """
    deps = pg_deps
    connector = target_connector(deps, tenant_id, target_url, type="gated-sql")
    identity_id = uuid.uuid4()
    with deps.store.unit_of_work() as uow:
        uow.operations.enqueue_many([create_op(deps, connector, identity_id, "a0")])
        uow.commit()
    assert Provisioner(deps, owner="setup").drain() == 1
    with deps.store.unit_of_work() as uow:
        uow.operations.enqueue_many(
            [update_op(deps, connector, identity_id, 1), update_op(deps, connector, identity_id, 2)]
        )
        uow.commit()

    gates = GatedSqlType.gates
    gates.clear()
    gates["stale-A"], gates["owner-B"] = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def run(provisioner: Provisioner) -> None:
        try:
            provisioner.run_batch()
        except BaseException as exc:  # a refused stale ack may raise: that is fine
            failures.append(exc)

    def holder() -> str | None:
        with deps.store.unit_of_work() as uow:
            ops = uow.operations.list(tenant_id, limit=10, statuses=[OperationStatus.IN_PROGRESS])
            return ops.items[0].lease_owner if ops.items else None

    a = Provisioner(deps, owner="stale-A", batch_size=1, lease_seconds=0.5)
    b = Provisioner(deps, owner="owner-B", batch_size=1, lease_seconds=30)
    thread_a = threading.Thread(target=run, args=(a,), name="stale-A", daemon=True)
    thread_b = threading.Thread(target=run, args=(b,), name="owner-B", daemon=True)
    try:
        thread_a.start()
        wait_until(lambda: holder() == "stale-A", 10, "A to claim update 1")
        time.sleep(0.7)  # A's lease expires while it stalls
        thread_b.start()
        wait_until(lambda: holder() == "owner-B", 10, "B to take update 1 over")
        gates["stale-A"].set()
        thread_a.join(timeout=20)
        Provisioner(deps, owner="C", batch_size=10).run_batch()  # must not get update 2 yet
        gates["owner-B"].set()
        thread_b.join(timeout=20)
        Provisioner(deps, owner="C", batch_size=10).drain()
    finally:
        for gate in gates.values():
            gate.set()
        gates.clear()
    versions = [v for _, v in audit_trail(target_url)["a0"]]
    assert versions == sorted(versions), f"update 1 landed after update 2: {versions}"
    assert final_versions(target_url) == {"a0": 2}


class TakeOverAfterFence(Provisioner):
    """Runs ``take_over`` once, right after its lease fence said "still ours"."""

    take_over: Callable[[], None] | None = None

    def _still_ours(self, uow: Any, operation: Operation) -> bool:
        ours: bool = super()._still_ours(uow, operation)
        if ours and self.take_over is not None:
            take_over, self.take_over = self.take_over, None
            take_over()
        return ours


def test_the_lease_fence_holds_against_a_take_over_between_check_and_ack(
    pg_deps: Deps, tenant_id: UUID, target_url: str
) -> None:
    """A's lease expires; B claims the operation just after A's fence check passed.

    Either A's check locked the row (B gets nothing and A's ack stands) or A's ack must be
    refused (B keeps the operation in progress and the account's next one stays held).
    """
    deps = pg_deps
    connector = target_connector(deps, tenant_id, target_url)
    identity_id = uuid.uuid4()
    with deps.store.unit_of_work() as uow:
        uow.operations.enqueue_many([create_op(deps, connector, identity_id, "a0")])
        uow.commit()
    assert Provisioner(deps, owner="setup").drain() == 1
    with deps.store.unit_of_work() as uow:
        first, _ = uow.operations.enqueue_many(
            [update_op(deps, connector, identity_id, 1), update_op(deps, connector, identity_id, 2)]
        )
        uow.commit()

    b = Provisioner(deps, owner="owner-B", batch_size=10, lease_seconds=30)
    b_claimed: list[Operation] = []

    def take_over() -> None:
        time.sleep(0.6)  # A's 0.5 s lease has expired
        b_claimed.extend(b.claim())

    a = TakeOverAfterFence(deps, owner="stale-A", batch_size=1, lease_seconds=0.5)
    a.take_over = take_over
    with contextlib.suppress(Exception):  # a refused stale ack may raise: that is fine
        a.run_batch()
    with deps.store.unit_of_work() as uow:
        stored = uow.operations.get(tenant_id, first.id)
    if b_claimed:
        assert [op.id for op in b_claimed] == [first.id]
        assert (stored.status, stored.lease_owner) == (OperationStatus.IN_PROGRESS, "owner-B"), (
            f"A's stale ack overwrote B's claim: {stored.status}"
        )
        assert Provisioner(deps, owner="C").claim() == [], "update 2 released while B holds 1"
    else:
        assert stored.status is OperationStatus.SUCCEEDED


# --------------------------------------------------------------------------- claim plan


def _plan_nodes(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_claim_probe_uses_the_account_index_without_statistics(
    pg_deps: Deps, tenant_id: UUID, target_url: str, postgres_url: str
) -> None:
    """The plan of ``operation_claim_due`` on 20,000 pending operations, never analyzed."""
    from xavyo_connectors_core.stores._sql import load_queries

    deps = pg_deps
    connector = target_connector(deps, tenant_id, target_url)
    ops = [
        new_operation(
            deps,
            connector,
            OperationKind.UPDATE,
            identity_id=None,
            account_uid=f"u{i}",
            changes=(),
            reason="plan",
        )
        for i in range(20_000)
    ]
    with deps.store.unit_of_work() as uow:
        uow.operations.enqueue_many(ops)
        uow.commit()
    query = load_queries("postgres")["operation_claim_due"]
    params = {
        "owner": "plan",
        "now": "2100-01-01T00:00:00Z",
        "lease_expires_at": "2100-01-01T00:00:30Z",
        "limit": 100,
    }
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("EXPLAIN (FORMAT JSON) " + query.strip().rstrip(";"), params).fetchone()
        conn.rollback()
    assert row is not None
    probes = [
        node
        for node in _plan_nodes(row[0][0]["Plan"])
        if node.get("Alias") == "e" and "Index Name" in node
    ]
    assert probes, "the probe is not an index scan"
    for probe in probes:
        assert "account_key" in probe.get("Index Cond", ""), (
            f"probe on {probe['Index Name']}: {probe.get('Index Cond')}"
        )
