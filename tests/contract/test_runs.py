"""Runs: one active run per connector, scheduled slots, claims with leases."""

from __future__ import annotations

import uuid

import attrs
import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import Conflict, NotFound
from xavyo_connectors_core.model import Progress, RunKind, RunMode, RunStatus
from xavyo_connectors_core.ports import Store


class TestOneActiveRun:
    def test_a_second_active_run_is_refused_with_the_first_ones_id(self, store: Store) -> None:
        """Queued or running, a connector has one active run; the conflict names it."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        first = b.run(tenant, conn, kind=RunKind.SYNC, mode=RunMode.INCREMENTAL)
        with store.unit_of_work() as uow:
            uow.runs.add(first)
            uow.commit()
        for status in (RunStatus.QUEUED, RunStatus.RUNNING):
            with store.unit_of_work() as uow:
                uow.runs.update(attrs.evolve(first, status=status))
                with pytest.raises(Conflict) as caught:
                    uow.runs.add(b.run(tenant, conn, status=status))
                assert caught.value.run_id == first.id
                uow.commit()

    def test_finished_runs_do_not_block(self, store: Store) -> None:
        """Once the active run finishes, a new one may be queued; old ones are kept."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        first = b.run(tenant, conn)
        with store.unit_of_work() as uow:
            uow.runs.add(first)
            for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
                uow.runs.add(b.run(tenant, conn, status=status))
            done = attrs.evolve(first, status=RunStatus.SUCCEEDED, finished_at=b.at(9))
            uow.runs.update(done)
            second = b.run(tenant, conn, queued_at=b.at(10))
            uow.runs.add(second)
            assert uow.runs.active_for_connector(tenant, conn) == second
            assert uow.runs.get(tenant, first.id) == done
            uow.commit()

    def test_update_cannot_reactivate_beside_an_active_run(self, store: Store) -> None:
        """Re-queueing a finished run while another is active is a conflict."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        old = b.run(tenant, conn, status=RunStatus.FAILED)
        active = b.run(tenant, conn)
        with store.unit_of_work() as uow:
            uow.runs.add(old)
            uow.runs.add(active)
            with pytest.raises(Conflict) as caught:
                uow.runs.update(attrs.evolve(old, status=RunStatus.QUEUED))
            assert caught.value.run_id == active.id
            assert uow.runs.get(tenant, old.id) == old
            uow.runs.update(attrs.evolve(active, progress=Progress(processed=3)))
            uow.commit()

    def test_other_connectors_and_tenants_are_independent(self, store: Store) -> None:
        """The limit is per connector of a tenant."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        with store.unit_of_work() as uow:
            uow.runs.add(b.run(tenant, conn))
            uow.runs.add(b.run(tenant, uuid.uuid4()))
            uow.runs.add(b.run(uuid.uuid4(), conn))
            uow.commit()

    def test_duplicate_id_and_missing_run(self, store: Store) -> None:
        """A run id is unique; an unknown run is NotFound."""
        tenant = uuid.uuid4()
        run = b.run(tenant, uuid.uuid4(), status=RunStatus.SUCCEEDED)
        with store.unit_of_work() as uow:
            uow.runs.add(run)
            with pytest.raises(Conflict) as caught:
                uow.runs.add(run)
            assert caught.value.run_id is None
            with pytest.raises(NotFound):
                uow.runs.get(tenant, uuid.uuid4())
            with pytest.raises(NotFound):
                uow.runs.update(b.run(tenant, uuid.uuid4()))


class TestScheduledSlots:
    def test_one_run_per_slot(self, store: Store) -> None:
        """Two schedulers queueing the same slot: the second gets a conflict."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        first = b.run(
            tenant, conn, kind=RunKind.SYNC, scheduled_slot=42, status=RunStatus.SUCCEEDED
        )
        with store.unit_of_work() as uow:
            uow.runs.add(first)
            with pytest.raises(Conflict) as caught:
                uow.runs.add(b.run(tenant, conn, kind=RunKind.SYNC, scheduled_slot=42))
            assert caught.value.run_id == first.id
            uow.runs.add(b.run(tenant, conn, kind=RunKind.SYNC, scheduled_slot=43))
            uow.runs.add(b.run(tenant, uuid.uuid4(), kind=RunKind.SYNC, scheduled_slot=42))
            uow.commit()


class TestQueries:
    def test_last_finished_and_last_queued(self, store: Store) -> None:
        """The latest finished run of a kind, and the latest queued of a kind."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        early = b.run(
            tenant,
            conn,
            kind=RunKind.SYNC,
            mode=RunMode.FULL,
            queued_at=b.at(1),
            status=RunStatus.SUCCEEDED,
            finished_at=b.at(2),
        )
        late = b.run(
            tenant,
            conn,
            kind=RunKind.SYNC,
            mode=RunMode.FULL,
            queued_at=b.at(3),
            status=RunStatus.FAILED,
            finished_at=b.at(4),
        )
        recon = b.run(tenant, conn, queued_at=b.at(5), status=RunStatus.CANCELLED)
        queued = b.run(tenant, conn, kind=RunKind.SYNC, mode=RunMode.FULL, queued_at=b.at(6))
        with store.unit_of_work() as uow:
            for run in (late, queued, early, recon):
                uow.runs.add(run)
            assert uow.runs.last_finished(tenant, conn, RunKind.SYNC) == late
            assert uow.runs.last_finished(tenant, conn, RunKind.RECONCILIATION) == recon
            assert uow.runs.last_queued(tenant, conn, RunKind.SYNC) == queued
            assert uow.runs.last_queued(tenant, conn, RunKind.RECONCILIATION) == recon
            assert uow.runs.last_finished(tenant, uuid.uuid4(), RunKind.SYNC) is None
            assert uow.runs.active_for_connector(tenant, conn) == queued

    def test_list_is_newest_first_with_filters(self, store: Store) -> None:
        """Run lists are newest first and filter by kind, connector and status."""
        tenant, conn, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        a = b.run(tenant, conn, queued_at=b.at(1), status=RunStatus.SUCCEEDED)
        s = b.run(tenant, conn, kind=RunKind.SYNC, queued_at=b.at(2))
        c = b.run(tenant, other, queued_at=b.at(3), status=RunStatus.FAILED)
        with store.unit_of_work() as uow:
            for run in (a, s, c):
                uow.runs.add(run)

            def ids(**kw: object) -> list[uuid.UUID]:
                return [r.id for r in uow.runs.list(tenant, limit=10, **kw).items]  # type: ignore[arg-type]

            assert ids() == [c.id, s.id, a.id]
            assert ids(kind=RunKind.RECONCILIATION) == [c.id, a.id]
            assert ids(connector_id=conn) == [s.id, a.id]
            assert ids(status=RunStatus.QUEUED) == [s.id]


class TestClaim:
    def test_claims_the_oldest_queued_run_of_any_tenant(self, store: Store) -> None:
        """A claim takes the oldest queued run, sets the lease and the start time."""
        newer = b.run(uuid.uuid4(), uuid.uuid4(), queued_at=b.at(2))
        older = b.run(uuid.uuid4(), uuid.uuid4(), queued_at=b.at(1))
        with store.unit_of_work() as uow:
            uow.runs.add(newer)
            uow.runs.add(older)
            uow.commit()
        with store.unit_of_work() as uow:
            claimed = uow.runs.claim("w1", b.at(10), 30)
            uow.commit()
        assert claimed == attrs.evolve(
            older,
            status=RunStatus.RUNNING,
            lease_owner="w1",
            lease_expires_at=b.at(40),
            started_at=b.at(10),
        )
        with store.unit_of_work() as uow:
            assert uow.runs.get(older.tenant_id, older.id) == claimed
            second = uow.runs.claim("w2", b.at(11), 30)
            assert second is not None and second.id == newer.id
            assert uow.runs.claim("w3", b.at(12), 30) is None  # both leases are live

    def test_an_expired_lease_is_taken_over(self, store: Store) -> None:
        """A running run whose lease expired is claimed again; its start time is kept."""
        run = b.run(uuid.uuid4(), uuid.uuid4())
        with store.unit_of_work() as uow:
            uow.runs.add(run)
            first = uow.runs.claim("w1", b.at(0), 30)
            uow.commit()
        assert first is not None
        with store.unit_of_work() as uow:
            assert uow.runs.claim("w2", b.at(29), 30) is None
            taken = uow.runs.claim("w2", b.at(30), 60)
            uow.commit()
        assert taken is not None
        assert (taken.id, taken.lease_owner, taken.lease_expires_at) == (run.id, "w2", b.at(90))
        assert taken.started_at == b.at(0)

    def test_finished_runs_are_never_claimed(self, store: Store) -> None:
        """Only queued runs and running ones with expired leases are claimable."""
        with store.unit_of_work() as uow:
            for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
                uow.runs.add(b.run(uuid.uuid4(), uuid.uuid4(), status=status))
            assert uow.runs.claim("w", b.at(10**6), 30) is None

    def test_a_claim_is_rolled_back_with_its_unit_of_work(self, store: Store) -> None:
        """An uncommitted claim leaves the run queued."""
        run = b.run(uuid.uuid4(), uuid.uuid4())
        with store.unit_of_work() as uow:
            uow.runs.add(run)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.runs.claim("w", b.at(1), 30) is not None
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.tenant_id, run.id) == run
