"""Units of work: nothing is visible before commit; leaving without commit rolls back."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import Conflict, NotFound
from xavyo_connectors_core.ports import Store, UnitOfWork


def _write_everything(uow: UnitOfWork, tenant: uuid.UUID) -> dict[str, uuid.UUID]:
    conn = b.connector(tenant)
    ident = b.identity(tenant)
    run = b.run(tenant, conn.id)
    op = b.operation(tenant, conn.id)
    disc = b.discrepancy(tenant, run.id, conn.id)
    uow.tenants.add(b.tenant())
    uow.connectors.add(conn)
    uow.schemas.add(b.schema_version(tenant, conn.id, 1))
    uow.shadows.upsert_many([b.shadow(tenant, conn.id, "u1")])
    uow.sync_tokens.put(b.sync_token(tenant, conn.id))
    uow.identities.add(ident)
    uow.runs.add(run)
    uow.discrepancies.add_many([disc])
    uow.operations.enqueue_many([op])
    return {"connector": conn.id, "identity": ident.id, "run": run.id, "op": op.id}


def _assert_nothing(store: Store, tenant: uuid.UUID, ids: dict[str, uuid.UUID]) -> None:
    with store.unit_of_work() as uow:
        assert uow.tenants.list() == []
        with pytest.raises(NotFound):
            uow.connectors.get(tenant, ids["connector"])
        assert uow.schemas.latest(tenant, ids["connector"]) is None
        assert uow.shadows.count(tenant, ids["connector"]) == 0
        assert uow.sync_tokens.get(tenant, ids["connector"]) is None
        assert uow.identities.get_many(tenant, [ids["identity"]]) == {}
        assert uow.identities.find_by_values(tenant, "email", ["a@example.org"]) == {}
        assert uow.runs.list(tenant, limit=10).items == ()
        assert uow.discrepancies.list(tenant, ids["run"], limit=10).items == ()
        assert uow.operations.list(tenant, limit=10).items == ()


class TestRollback:
    def test_leaving_without_commit(self, store: Store) -> None:
        """Writes are dropped when the block ends without ``commit()``."""
        tenant = uuid.uuid4()
        with store.unit_of_work() as uow:
            ids = _write_everything(uow, tenant)
        _assert_nothing(store, tenant, ids)

    def test_an_exception_rolls_back(self, store: Store) -> None:
        """An exception leaving the block rolls back everything it wrote."""
        tenant = uuid.uuid4()
        ids: dict[str, uuid.UUID] = {}
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            ids.update(_write_everything(uow, tenant))
            raise RuntimeError("boom")
        _assert_nothing(store, tenant, ids)

    def test_explicit_rollback(self, store: Store) -> None:
        """``rollback()`` drops what was written since the last commit; work goes on."""
        tenant = uuid.uuid4()
        kept = b.connector(tenant, "kept")
        with store.unit_of_work() as uow:
            uow.connectors.add(kept)
            uow.commit()
            ids = _write_everything(uow, tenant)
            uow.rollback()
            assert uow.connectors.get(tenant, kept.id) == kept
            with pytest.raises(NotFound):
                uow.connectors.get(tenant, ids["connector"])
            later = b.connector(tenant, "later")
            uow.connectors.add(later)
            uow.commit()
        with store.unit_of_work() as uow:
            assert {c.name for c in uow.connectors.list(tenant, limit=10).items} == {
                "kept",
                "later",
            }

    def test_commit_then_more_work(self, store: Store) -> None:
        """After ``commit()`` the unit of work goes on; uncommitted later work is dropped."""
        tenant = uuid.uuid4()
        first, second = b.connector(tenant, "first"), b.connector(tenant, "second")
        with store.unit_of_work() as uow:
            uow.connectors.add(first)
            uow.commit()
            uow.connectors.add(second)
        with store.unit_of_work() as uow:
            assert [c.id for c in uow.connectors.list(tenant, limit=10).items] == [first.id]

    def test_a_refused_write_leaves_the_unit_of_work_usable(self, store: Store) -> None:
        """After a Conflict or NotFound the transaction goes on and commits the rest."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant, "hr")
        run = b.run(tenant, conn.id)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            uow.runs.add(run)
            with pytest.raises(Conflict):
                uow.connectors.add(b.connector(tenant, "HR"))
            with pytest.raises(Conflict):
                uow.runs.add(b.run(tenant, conn.id))
            with pytest.raises(Conflict):
                uow.discrepancies.add_many(
                    [b.discrepancy(tenant, run.id, conn.id, id=i) for i in [uuid.uuid4()] * 2]
                )
            with pytest.raises(NotFound):
                uow.shadows.upsert_many(
                    [b.shadow(tenant, conn.id, "ok"), b.shadow(tenant, uuid.uuid4(), "bad")]
                )
            with pytest.raises(NotFound):
                uow.sync_tokens.put(b.sync_token(tenant, uuid.uuid4()))
            uow.shadows.upsert_many([b.shadow(tenant, conn.id, "u1")])
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.connectors.get(tenant, conn.id) == conn
            assert uow.runs.get(tenant, run.id) == run
            assert list(uow.shadows.get_many(tenant, conn.id, ["ok", "u1"])) == ["u1"]
            assert uow.discrepancies.list(tenant, run.id, limit=10).items == ()

    def test_a_failed_batch_writes_nothing(self, store: Store) -> None:
        """A batch with one bad item stores none of it."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            existing = b.operation(tenant, conn.id)
            uow.operations.enqueue_many([existing])
            fresh = b.operation(tenant, conn.id)
            with pytest.raises(Conflict):
                uow.operations.enqueue_many([fresh, existing])
            with pytest.raises(NotFound):
                uow.operations.get(tenant, fresh.id)
            assert len(uow.operations.list(tenant, limit=10).items) == 1


class TestVisibility:
    def test_uncommitted_writes_are_invisible_to_others(self, store: Store) -> None:
        """Another unit of work (another thread) never sees uncommitted writes."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        seen: list[bool] = []

        def reader() -> None:
            with store.unit_of_work() as uow:
                seen.append(bool(uow.connectors.list(tenant, limit=10).items))

        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            # memory and SQLite serialize units of work: the reader waits for us, and
            # must not see the connector afterwards either since we roll back
            thread = threading.Thread(target=reader)
            thread.start()
            thread.join(timeout=0.3)
        thread.join(timeout=10)
        assert seen == [False]

    def test_committed_writes_are_visible(self, store: Store) -> None:
        """Once committed, writes are visible to every later unit of work."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            uow.commit()
        result: list[object] = []
        thread = threading.Thread(
            target=lambda: result.append(_get_connector(store, tenant, conn.id))
        )
        thread.start()
        thread.join(timeout=10)
        assert result == [conn]


def _get_connector(store: Store, tenant: uuid.UUID, conn_id: uuid.UUID) -> object:
    with store.unit_of_work() as uow:
        return uow.connectors.get(tenant, conn_id)
