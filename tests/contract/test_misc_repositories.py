"""Schema versions, sync tokens and discrepancies."""

from __future__ import annotations

import uuid

import attrs
import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import Conflict, NotFound
from xavyo_connectors_core.model import (
    Difference,
    DiscrepancyStatus,
    Outcome,
    Situation,
)
from xavyo_connectors_core.ports import Store


class TestSchemaVersions:
    def test_versions_newest_first(self, store: Store) -> None:
        """Versions are unique per connector, listed newest first; ``latest`` is the top."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            assert uow.schemas.latest(tenant, conn.id) is None
            versions = [b.schema_version(tenant, conn.id, v) for v in (1, 3, 2)]
            for version in versions:
                uow.schemas.add(version)
            with pytest.raises(Conflict):
                uow.schemas.add(b.schema_version(tenant, conn.id, 2))
            with pytest.raises(NotFound):
                uow.schemas.add(b.schema_version(tenant, uuid.uuid4(), 1))
            assert uow.schemas.latest(tenant, conn.id) == versions[1]
            listed = uow.schemas.list(tenant, conn.id, limit=10).items
            assert [v.version for v in listed] == [3, 2, 1]
            uow.schemas.delete_for_connector(tenant, conn.id)
            assert uow.schemas.latest(tenant, conn.id) is None


class TestSyncTokens:
    def test_put_replaces_and_delete_forgets(self, store: Store) -> None:
        """A connector has one token; ``put`` replaces it; it needs the connector."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            assert uow.sync_tokens.get(tenant, conn.id) is None
            uow.sync_tokens.put(b.sync_token(tenant, conn.id, "t1"))
            second = attrs.evolve(b.sync_token(tenant, conn.id, None), updated_at=b.at(5))
            uow.sync_tokens.put(second)
            assert uow.sync_tokens.get(tenant, conn.id) == second
            uow.sync_tokens.delete(tenant, conn.id)
            uow.sync_tokens.delete(tenant, conn.id)
            assert uow.sync_tokens.get(tenant, conn.id) is None
            with pytest.raises(NotFound):
                uow.sync_tokens.put(b.sync_token(tenant, uuid.uuid4()))


class TestDiscrepancies:
    def test_add_update_list(self, store: Store) -> None:
        """Discrepancies of a run are listed oldest first and filter by situation, status."""
        tenant, run, conn = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        found = [
            b.discrepancy(tenant, run, conn, created_at=b.at(2), situation=Situation.DELETED),
            b.discrepancy(
                tenant,
                run,
                conn,
                created_at=b.at(1),
                situation=Situation.MISMATCHED,
                differences=(Difference("mail", "a@x", ["b@x", None]),),
            ),
            b.discrepancy(tenant, uuid.uuid4(), conn),
        ]
        with store.unit_of_work() as uow:
            uow.discrepancies.add_many(iter(found))
            uow.discrepancies.add_many([])
            with pytest.raises(Conflict):
                uow.discrepancies.add_many([found[0]])
            resolved = attrs.evolve(
                found[0], status=DiscrepancyStatus.RESOLVED, outcome=Outcome.APPLIED
            )
            uow.discrepancies.update(resolved)
            assert uow.discrepancies.get(tenant, found[1].id) == found[1]
            with pytest.raises(NotFound):
                uow.discrepancies.update(b.discrepancy(tenant, run, conn))

            def ids(**kw: object) -> list[uuid.UUID]:
                page = uow.discrepancies.list(tenant, run, limit=10, **kw)  # type: ignore[arg-type]
                return [d.id for d in page.items]

            assert ids() == [found[1].id, found[0].id]
            assert ids(situation=Situation.DELETED) == [found[0].id]
            assert ids(status=DiscrepancyStatus.OPEN) == [found[1].id]
