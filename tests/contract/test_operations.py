"""Provisioning operations: store-assigned order, dead-lettering, queue stats."""

from __future__ import annotations

import uuid

import attrs
import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import NotFound
from xavyo_connectors_core.model import OperationStatus
from xavyo_connectors_core.ports import Store


class TestEnqueue:
    def test_seq_is_assigned_in_enqueue_order(self, store: Store) -> None:
        """The store numbers operations increasingly; reads carry the number."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        with store.unit_of_work() as uow:
            first = uow.operations.enqueue_many([b.operation(tenant, conn) for _ in range(3)])
            second = uow.operations.enqueue_many(iter([b.operation(uuid.uuid4(), conn)]))
            assert uow.operations.enqueue_many([]) == []
            uow.commit()
        seqs = [op.seq for op in [*first, *second]]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] >= 1
        with store.unit_of_work() as uow:
            assert uow.operations.get(tenant, first[1].id) == first[1]
            assert list(uow.operations.list(tenant, limit=10).items) == first

    def test_update_keeps_the_place_in_the_queue(self, store: Store) -> None:
        """An update writes the mutable fields; ``seq`` stays the store's."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        with store.unit_of_work() as uow:
            (op,) = uow.operations.enqueue_many([b.operation(tenant, conn)])
            done = attrs.evolve(
                op,
                status=OperationStatus.RETRYING,
                attempts=1,
                last_error="timeout",
                next_attempt_at=b.at(2),
                updated_at=b.at(1),
            )
            uow.operations.update(attrs.evolve(done, seq=999_999))
            assert uow.operations.get(tenant, op.id) == done
            with pytest.raises(NotFound):
                uow.operations.update(b.operation(tenant, conn))

    def test_list_filters(self, store: Store) -> None:
        """Operations filter by statuses and connector, in queue order."""
        tenant, conn, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        with store.unit_of_work() as uow:
            ops = uow.operations.enqueue_many(
                [
                    b.operation(tenant, conn, status=OperationStatus.DEAD),
                    b.operation(tenant, other),
                    b.operation(tenant, conn, status=OperationStatus.SUCCEEDED),
                    b.operation(tenant, conn),
                ]
            )

            def ids(**kw: object) -> list[uuid.UUID]:
                return [o.id for o in uow.operations.list(tenant, limit=10, **kw).items]  # type: ignore[arg-type]

            assert ids(connector_id=conn) == [ops[0].id, ops[2].id, ops[3].id]
            assert ids(statuses=[OperationStatus.DEAD]) == [ops[0].id]
            assert ids(statuses=[OperationStatus.PENDING], connector_id=conn) == [ops[3].id]
            assert ids(statuses=[]) == []


class TestDeadLetter:
    def test_unfinished_operations_of_a_connector_die(self, store: Store) -> None:
        """Pending, in-progress and retrying ones become dead with the reason."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        statuses = list(OperationStatus)
        with store.unit_of_work() as uow:
            ops = uow.operations.enqueue_many(
                [b.operation(tenant, conn, status=s, lease_owner="w") for s in statuses]
            )
            other = uow.operations.enqueue_many([b.operation(tenant, uuid.uuid4())])
            moved = uow.operations.dead_letter_for_connector(
                tenant, conn, "connector deleted", b.at(60)
            )
            assert moved == 3
            after = {o.id: uow.operations.get(tenant, o.id) for o in ops}
            for op in ops:
                now = after[op.id]
                if op.status in (
                    OperationStatus.PENDING,
                    OperationStatus.IN_PROGRESS,
                    OperationStatus.RETRYING,
                ):
                    assert now == attrs.evolve(
                        op,
                        status=OperationStatus.DEAD,
                        last_error="connector deleted",
                        updated_at=b.at(60),
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                else:
                    assert now == op
            assert uow.operations.get(tenant, other[0].id) == other[0]


class TestStats:
    def test_queue_stats(self, store: Store) -> None:
        """Counts per status and per connector, and the age of the oldest waiting one."""
        tenant, a, c = uuid.uuid4(), uuid.UUID(int=1), uuid.UUID(int=2)
        S = OperationStatus
        with store.unit_of_work() as uow:
            empty = uow.operations.stats(tenant, b.at(0))
            assert empty == {
                "pending": 0,
                "in_progress": 0,
                "retrying": 0,
                "dead": 0,
                "oldest_pending_age_seconds": None,
                "connectors": [],
            }
            uow.operations.enqueue_many(
                [
                    b.operation(tenant, a, created_at=b.at(10)),
                    b.operation(tenant, a, status=S.RETRYING, created_at=b.at(5)),
                    b.operation(tenant, a, status=S.DEAD, created_at=b.at(1)),
                    b.operation(tenant, c, status=S.IN_PROGRESS, created_at=b.at(0)),
                    b.operation(tenant, c, status=S.SUCCEEDED),
                    b.operation(tenant, c, status=S.DISCARDED),
                    b.operation(uuid.uuid4(), a),
                ]
            )
            stats = uow.operations.stats(tenant, b.at(65.5))
        assert stats == {
            "pending": 1,
            "in_progress": 1,
            "retrying": 1,
            "dead": 1,
            "oldest_pending_age_seconds": 60.5,
            "connectors": [
                {
                    "connector_id": str(a),
                    "pending": 1,
                    "retrying": 1,
                    "dead": 1,
                    "quarantined_until": None,
                },
                {
                    "connector_id": str(c),
                    "pending": 0,
                    "retrying": 0,
                    "dead": 0,
                    "quarantined_until": None,
                },
            ],
        }
