"""Connectors: unique names per tenant (case-insensitive), optimistic versions, deletes."""

from __future__ import annotations

import uuid

import attrs
import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import Conflict, NotFound, VersionConflict
from xavyo_connectors_core.model import Role, RunKind, RunStatus
from xavyo_connectors_core.ports import Store


class TestNames:
    def test_names_are_unique_case_insensitively(self, store: Store) -> None:
        """ "HR" and "hr" are the same name in one tenant."""
        tenant = uuid.uuid4()
        with store.unit_of_work() as uow:
            uow.connectors.add(b.connector(tenant, "HR"))
            with pytest.raises(Conflict) as caught:
                uow.connectors.add(b.connector(tenant, "hr"))
            assert type(caught.value) is Conflict
            assert "hr" not in str(caught.value).lower()  # names are not echoed

    def test_unicode_casefold(self, store: Store) -> None:
        """Names are compared by ``casefold()``: "Straße" and "STRASSE" collide."""
        tenant = uuid.uuid4()
        with store.unit_of_work() as uow:
            uow.connectors.add(b.connector(tenant, "Straße"))
            with pytest.raises(Conflict):
                uow.connectors.add(b.connector(tenant, "STRASSE"))

    def test_same_name_in_another_tenant(self, store: Store) -> None:
        """Names are unique per tenant only."""
        with store.unit_of_work() as uow:
            uow.connectors.add(b.connector(uuid.uuid4(), "hr"))
            uow.connectors.add(b.connector(uuid.uuid4(), "hr"))
            uow.commit()

    def test_rename_onto_a_taken_name(self, store: Store) -> None:
        """An update cannot take another connector's name, and changes nothing."""
        tenant = uuid.uuid4()
        first, second = b.connector(tenant, "hr"), b.connector(tenant, "ldap")
        with store.unit_of_work() as uow:
            uow.connectors.add(first)
            uow.connectors.add(second)
            with pytest.raises(Conflict):
                uow.connectors.update(attrs.evolve(second, name="Hr", version=2))
            assert uow.connectors.get(tenant, second.id) == second
            # renaming to a new case of its own name is fine
            uow.connectors.update(attrs.evolve(first, name="HR", version=2))
            assert uow.connectors.get(tenant, first.id).name == "HR"

    def test_duplicate_id(self, store: Store) -> None:
        """The same connector cannot be added twice."""
        conn = b.connector(uuid.uuid4())
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            with pytest.raises(Conflict):
                uow.connectors.add(attrs.evolve(conn, name="other"))


class TestVersions:
    def test_update_needs_the_next_version(self, store: Store) -> None:
        """An update succeeds only on top of the version it was read at."""
        conn = b.connector(uuid.uuid4())
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            v2 = attrs.evolve(conn, description="v2", version=2)
            uow.connectors.update(v2)
            assert uow.connectors.get(conn.tenant_id, conn.id) == v2
            with pytest.raises(VersionConflict):
                uow.connectors.update(attrs.evolve(conn, description="stale", version=2))
            with pytest.raises(VersionConflict):
                uow.connectors.update(attrs.evolve(conn, description="skip", version=4))
            assert uow.connectors.get(conn.tenant_id, conn.id) == v2

    def test_update_of_a_missing_connector(self, store: Store) -> None:
        """Updating what is not there is NotFound, not a version conflict."""
        with store.unit_of_work() as uow, pytest.raises(NotFound):
            uow.connectors.update(b.connector(uuid.uuid4(), version=2))


class TestDelete:
    def test_delete_takes_shadows_schema_and_token_but_keeps_history(self, store: Store) -> None:
        """Deleting a connector removes what it owns; runs, discrepancies, operations stay."""
        tenant = uuid.uuid4()
        conn = b.connector(tenant)
        run = b.run(tenant, conn.id, status=RunStatus.SUCCEEDED, finished_at=b.at(5))
        disc = b.discrepancy(tenant, run.id, conn.id)
        op = b.operation(tenant, conn.id)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            uow.shadows.upsert_many([b.shadow(tenant, conn.id, "u1")])
            uow.schemas.add(b.schema_version(tenant, conn.id, 1))
            uow.sync_tokens.put(b.sync_token(tenant, conn.id))
            uow.runs.add(run)
            uow.discrepancies.add_many([disc])
            (stored_op,) = uow.operations.enqueue_many([op])
            uow.commit()
        with store.unit_of_work() as uow:
            uow.connectors.delete(tenant, conn.id)
            uow.commit()
        with store.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.connectors.get(tenant, conn.id)
            with pytest.raises(NotFound):
                uow.connectors.delete(tenant, conn.id)
            assert uow.shadows.count(tenant, conn.id) == 0
            assert uow.schemas.latest(tenant, conn.id) is None
            assert uow.sync_tokens.get(tenant, conn.id) is None
            assert uow.runs.get(tenant, run.id) == run
            assert uow.runs.last_finished(tenant, conn.id, RunKind.RECONCILIATION) == run
            assert uow.discrepancies.get(tenant, disc.id) == disc
            assert uow.operations.get(tenant, op.id) == stored_op
            # the name is free again
            uow.connectors.add(b.connector(tenant, conn.name))


class TestList:
    def test_filters(self, store: Store) -> None:
        """Lists filter by type, role and enabled."""
        tenant = uuid.uuid4()
        csv_source = b.connector(tenant, type="csv", role=Role.SOURCE, created_at=b.at(1))
        ldap_target = b.connector(tenant, type="ldap", created_at=b.at(2), enabled=False)
        scim_target = b.connector(tenant, type="scim", created_at=b.at(3))
        with store.unit_of_work() as uow:
            for conn in (scim_target, csv_source, ldap_target):
                uow.connectors.add(conn)

            def ids(**kw: object) -> list[uuid.UUID]:
                return [c.id for c in uow.connectors.list(tenant, limit=50, **kw).items]  # type: ignore[arg-type]

            assert ids() == [csv_source.id, ldap_target.id, scim_target.id]
            assert ids(type="ldap") == [ldap_target.id]
            assert ids(role=Role.TARGET) == [ldap_target.id, scim_target.id]
            assert ids(enabled=True) == [csv_source.id, scim_target.id]
            assert ids(enabled=False, role=Role.SOURCE) == []

    def test_iter_all_crosses_tenants(self, store: Store) -> None:
        """``iter_all`` yields every connector of every tenant, oldest first."""
        made = [b.connector(uuid.uuid4(), created_at=b.at(i)) for i in range(7)]
        with store.unit_of_work() as uow:
            for conn in reversed(made):
                uow.connectors.add(conn)
            assert list(uow.connectors.iter_all()) == made
