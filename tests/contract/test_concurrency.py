"""Concurrent writers: one wins, the others get a conflict — decided by the database.

The races with both transactions open at once (a barrier *inside* the units of work) run
on PostgreSQL only: memory and SQLite serialize units of work, so there they would wait
for each other instead. The races between whole units of work run on every store.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from tests.contract import builders as b
from tests.contract.stores import EMPTY
from xavyo_connectors_core.errors import Conflict, VersionConflict
from xavyo_connectors_core.ports import Store


def race(*workers: Callable[[threading.Barrier], Any]) -> list[Any]:
    """Run workers in threads that meet at one barrier; return results or exceptions."""
    barrier = threading.Barrier(len(workers), timeout=10)
    results: list[Any] = [None] * len(workers)

    def run(index: int) -> None:
        try:
            results[index] = workers[index](barrier)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    return results


def outcomes(results: list[Any]) -> list[str]:
    return sorted(type(r).__name__ if isinstance(r, Exception) else "ok" for r in results)


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The PostgreSQL store (emptied), for races inside open transactions."""
    shared, admin = request.getfixturevalue("contract_postgres")
    admin.execute(EMPTY)
    yield shared


@pytest.mark.postgres
class TestOpenTransactionsOnPostgres:
    def test_two_updates_of_the_same_version(self, pg: Store) -> None:
        """Both read version 1 and write version 2: one commits, one VersionConflict."""
        conn = b.connector(uuid.uuid4())
        with pg.unit_of_work() as uow:
            uow.connectors.add(conn)
            uow.commit()

        def writer(text: str) -> Callable[[threading.Barrier], str]:
            def work(barrier: threading.Barrier) -> str:
                with pg.unit_of_work() as uow:
                    read = uow.connectors.get(conn.tenant_id, conn.id)
                    barrier.wait()
                    uow.connectors.update(attrs.evolve(read, description=text, version=2))
                    uow.commit()
                return text

            return work

        results = race(writer("a"), writer("b"))
        assert outcomes(results) == ["VersionConflict", "ok"]
        winner = next(r for r in results if isinstance(r, str))
        with pg.unit_of_work() as uow:
            stored = uow.connectors.get(conn.tenant_id, conn.id)
        assert (stored.description, stored.version) == (winner, 2)

    def test_two_identity_updates_of_the_same_version(self, pg: Store) -> None:
        """Identities are compare-and-set like connectors."""
        ident = b.identity(uuid.uuid4(), {"mail": "a@x.org"})
        with pg.unit_of_work() as uow:
            uow.identities.add(ident)
            uow.commit()

        def writer(mail: str) -> Callable[[threading.Barrier], None]:
            def work(barrier: threading.Barrier) -> None:
                with pg.unit_of_work() as uow:
                    read = uow.identities.get(ident.tenant_id, ident.id)
                    barrier.wait()
                    uow.identities.update(
                        attrs.evolve(read, attributes={"mail": mail}, version=read.version + 1)
                    )
                    uow.commit()

            return work

        assert outcomes(race(writer("b@x.org"), writer("c@x.org"))) == ["VersionConflict", "ok"]
        with pg.unit_of_work() as uow:
            found = uow.identities.find_by_values(
                ident.tenant_id, "mail", ["a@x.org", "b@x.org", "c@x.org"]
            )
        assert len(found) == 1 and next(iter(found.values()))[0].version == 2

    def test_two_connectors_with_one_name(self, pg: Store) -> None:
        """ "HR" and "hr" added at once: the database lets one in."""
        tenant = uuid.uuid4()

        def adder(name: str) -> Callable[[threading.Barrier], None]:
            def work(barrier: threading.Barrier) -> None:
                with pg.unit_of_work() as uow:
                    uow.connectors.list(tenant, limit=1)  # the transaction is open
                    barrier.wait()
                    uow.connectors.add(b.connector(tenant, name))
                    uow.commit()

            return work

        assert outcomes(race(adder("HR"), adder("hr"))) == ["Conflict", "ok"]

    def test_two_active_runs_for_one_connector(self, pg: Store) -> None:
        """Two syncs requested at once: one is queued, the other names it."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        runs = [b.run(tenant, conn), b.run(tenant, conn)]

        def adder(index: int) -> Callable[[threading.Barrier], uuid.UUID]:
            def work(barrier: threading.Barrier) -> uuid.UUID:
                with pg.unit_of_work() as uow:
                    uow.runs.list(tenant, limit=1)
                    barrier.wait()
                    uow.runs.add(runs[index])
                    uow.commit()
                return runs[index].id

            return work

        results = race(adder(0), adder(1))
        assert outcomes(results) == ["Conflict", "ok"]
        winner = next(r for r in results if isinstance(r, uuid.UUID))
        loser = next(r for r in results if isinstance(r, Conflict))
        assert loser.run_id == winner

    def test_concurrent_claims_skip_each_other(self, pg: Store) -> None:
        """Workers claiming at once get different runs and never wait for each other."""
        queued = [b.run(uuid.uuid4(), uuid.uuid4(), queued_at=b.at(i)) for i in range(2)]
        with pg.unit_of_work() as uow:
            for run in queued:
                uow.runs.add(run)
            uow.commit()
        claimed_both = threading.Barrier(3, timeout=10)

        def claimer(owner: str) -> Callable[[threading.Barrier], Any]:
            def work(barrier: threading.Barrier) -> Any:
                with pg.unit_of_work() as uow:
                    uow.runs.list(uuid.uuid4(), limit=1)
                    barrier.wait()
                    got = uow.runs.claim(owner, b.at(100), 30)
                    claimed_both.wait()  # hold the row lock until all have claimed
                    uow.commit()
                return None if got is None else got.id

            return work

        results = race(claimer("w1"), claimer("w2"), claimer("w3"))
        assert sorted(map(str, results)) == sorted([str(r.id) for r in queued] + ["None"])


class TestWholeUnitsOfWork:
    """Races between whole units of work, on every store."""

    def test_many_writers_one_name(self, store: Store) -> None:
        """Of four writers adding the same name, exactly one succeeds."""
        tenant = uuid.uuid4()

        def adder(barrier: threading.Barrier) -> None:
            barrier.wait()
            with store.unit_of_work() as uow:
                uow.connectors.add(b.connector(tenant, "HR"))
                uow.commit()

        assert outcomes(race(adder, adder, adder, adder)) == ["Conflict"] * 3 + ["ok"]

    def test_read_modify_write_loses_no_update(self, store: Store) -> None:
        """Writers retrying on VersionConflict apply every increment exactly once."""
        conn = b.connector(uuid.uuid4(), max_attempts=0)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            uow.commit()

        def incrementer(barrier: threading.Barrier) -> int:
            barrier.wait()
            done = 0
            while done < 5:
                try:
                    with store.unit_of_work() as uow:
                        read = uow.connectors.get(conn.tenant_id, conn.id)
                        uow.connectors.update(
                            attrs.evolve(
                                read, max_attempts=read.max_attempts + 1, version=read.version + 1
                            )
                        )
                        uow.commit()
                    done += 1
                except VersionConflict:
                    continue
            return done

        assert race(incrementer, incrementer, incrementer) == [5, 5, 5]
        with store.unit_of_work() as uow:
            final = uow.connectors.get(conn.tenant_id, conn.id)
        assert (final.max_attempts, final.version) == (15, 16)

    def test_concurrent_enqueues_get_distinct_increasing_seqs(self, store: Store) -> None:
        """Operations enqueued from many threads all get distinct sequence numbers."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()

        def enqueuer(barrier: threading.Barrier) -> list[int]:
            barrier.wait()
            seqs: list[int] = []
            for _ in range(5):
                with store.unit_of_work() as uow:
                    stored = uow.operations.enqueue_many(
                        [b.operation(tenant, conn) for _ in range(3)]
                    )
                    uow.commit()
                seqs.extend(op.seq for op in stored)
            assert seqs == sorted(seqs)
            return seqs

        results = race(enqueuer, enqueuer, enqueuer)
        every = [s for r in results for s in r]
        assert len(set(every)) == 45
        with store.unit_of_work() as uow:
            listed = uow.operations.list(tenant, limit=500).items
        assert sorted(op.seq for op in listed) == sorted(every)
