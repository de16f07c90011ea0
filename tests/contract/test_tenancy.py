"""Tenants, API tokens, and tenant isolation of every repository."""

from __future__ import annotations

import uuid

import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import Conflict, NotFound
from xavyo_connectors_core.model import ApiToken, TokenRole
from xavyo_connectors_core.ports import Store


class TestTenants:
    def test_add_get_and_by_slug(self, store: Store) -> None:
        """A tenant is found by id and by slug."""
        tenant = b.tenant("acme")
        with store.unit_of_work() as uow:
            uow.tenants.add(tenant)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.tenants.get(tenant.id) == tenant
            assert uow.tenants.get_by_slug("acme") == tenant
            assert uow.tenants.list() == [tenant]

    def test_slug_is_unique(self, store: Store) -> None:
        """A second tenant with a taken slug is a conflict."""
        with store.unit_of_work() as uow:
            uow.tenants.add(b.tenant("acme"))
            with pytest.raises(Conflict):
                uow.tenants.add(b.tenant("acme"))

    def test_id_is_unique(self, store: Store) -> None:
        """Adding the same tenant twice is a conflict."""
        tenant = b.tenant()
        with store.unit_of_work() as uow:
            uow.tenants.add(tenant)
            with pytest.raises(Conflict):
                uow.tenants.add(tenant)

    def test_unknown_tenant(self, store: Store) -> None:
        """Unknown ids and slugs are NotFound."""
        with store.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.tenants.get(uuid.uuid4())
            with pytest.raises(NotFound):
                uow.tenants.get_by_slug("nope")

    def test_list_is_oldest_first(self, store: Store) -> None:
        """Tenants are listed by creation time."""
        late, early = b.tenant(created_at=b.at(10)), b.tenant(created_at=b.at(1))
        with store.unit_of_work() as uow:
            uow.tenants.add(late)
            uow.tenants.add(early)
            assert [t.id for t in uow.tenants.list()] == [early.id, late.id]


class TestApiTokens:
    def _token(self, tenant_id: uuid.UUID, digest: str) -> ApiToken:
        return ApiToken(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            role=TokenRole.READER,
            digest=digest,
            name="ci",
            created_at=b.T0,
        )

    def test_found_by_digest(self, store: Store) -> None:
        """A token is looked up by the digest of its value."""
        token = self._token(uuid.uuid4(), "ab" * 32)
        with store.unit_of_work() as uow:
            uow.api_tokens.add(token)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.api_tokens.get_by_digest("ab" * 32) == token
            with pytest.raises(NotFound):
                uow.api_tokens.get_by_digest("cd" * 32)

    def test_digest_is_unique(self, store: Store) -> None:
        """Two tokens cannot share a digest, even in different tenants."""
        with store.unit_of_work() as uow:
            uow.api_tokens.add(self._token(uuid.uuid4(), "ab" * 32))
            with pytest.raises(Conflict):
                uow.api_tokens.add(self._token(uuid.uuid4(), "ab" * 32))


class TestTenantIsolation:
    """Another tenant's record is NotFound (or absent) exactly like an unknown one."""

    def test_every_repository(self, store: Store) -> None:
        """Records of tenant A are invisible and untouchable from tenant B."""
        a, other = uuid.uuid4(), uuid.uuid4()
        conn = b.connector(a, "hr")
        ident = b.identity(a, {"email": "x@example.org"})
        run = b.run(a, conn.id)
        disc = b.discrepancy(a, run.id, conn.id)
        op = b.operation(a, conn.id)
        with store.unit_of_work() as uow:
            uow.connectors.add(conn)
            uow.schemas.add(b.schema_version(a, conn.id, 1))
            uow.shadows.upsert_many([b.shadow(a, conn.id, "u1", identity_id=ident.id)])
            uow.runs.add(run)
            uow.discrepancies.add_many([disc])
            uow.operations.enqueue_many([op])
            uow.sync_tokens.put(b.sync_token(a, conn.id))
            uow.identities.add(ident)
            uow.commit()

        with store.unit_of_work() as uow:
            # connectors
            with pytest.raises(NotFound):
                uow.connectors.get(other, conn.id)
            with pytest.raises(NotFound):
                uow.connectors.update(b.connector(other, "hr", id=conn.id, version=2))
            with pytest.raises(NotFound):
                uow.connectors.delete(other, conn.id)
            assert uow.connectors.list(other, limit=10).items == ()
            # the same name is free in another tenant
            uow.connectors.add(b.connector(other, "HR"))
            # schemas
            assert uow.schemas.latest(other, conn.id) is None
            assert uow.schemas.list(other, conn.id, limit=10).items == ()
            # shadows
            with pytest.raises(NotFound):
                uow.shadows.get(other, conn.id, "u1")
            assert uow.shadows.get_many(other, conn.id, ["u1"]) == {}
            assert uow.shadows.by_identities(other, conn.id, [ident.id]) == {}
            assert uow.shadows.count(other, conn.id) == 0
            assert uow.shadows.list(other, conn.id, limit=10).items == ()
            assert list(uow.shadows.iter_not_seen_in(other, conn.id, run.id, page_size=10)) == []
            with pytest.raises(NotFound):  # a shadow needs a connector of its own tenant
                uow.shadows.upsert_many([b.shadow(other, conn.id, "u9")])
            uow.shadows.delete_many(other, conn.id, ["u1"])
            uow.shadows.delete_for_connector(other, conn.id)
            # runs
            with pytest.raises(NotFound):
                uow.runs.get(other, run.id)
            with pytest.raises(NotFound):
                uow.runs.update(b.run(other, conn.id, id=run.id))
            assert uow.runs.active_for_connector(other, conn.id) is None
            assert uow.runs.last_queued(other, conn.id, run.kind) is None
            assert uow.runs.list(other, limit=10).items == ()
            # a run of the other tenant for "the same" connector id is not blocked
            uow.runs.add(b.run(other, conn.id))
            # discrepancies
            with pytest.raises(NotFound):
                uow.discrepancies.get(other, disc.id)
            with pytest.raises(NotFound):
                uow.discrepancies.update(b.discrepancy(other, run.id, conn.id, id=disc.id))
            assert uow.discrepancies.list(other, run.id, limit=10).items == ()
            # operations
            with pytest.raises(NotFound):
                uow.operations.get(other, op.id)
            with pytest.raises(NotFound):
                uow.operations.update(b.operation(other, conn.id, id=op.id))
            assert uow.operations.list(other, limit=10).items == ()
            assert uow.operations.dead_letter_for_connector(other, conn.id, "x", b.T0) == 0
            assert uow.operations.stats(other, b.T0)["pending"] == 0
            # sync tokens
            assert uow.sync_tokens.get(other, conn.id) is None
            uow.sync_tokens.delete(other, conn.id)
            # identities
            with pytest.raises(NotFound):
                uow.identities.get(other, ident.id)
            with pytest.raises(NotFound):
                uow.identities.update(b.identity(other, id=ident.id, version=2))
            with pytest.raises(NotFound):
                uow.identities.delete(other, ident.id)
            assert uow.identities.get_many(other, [ident.id]) == {}
            assert uow.identities.find_by_values(other, "email", ["x@example.org"]) == {}
            assert list(uow.identities.iter_scope(other, None, page_size=10)) == []
            assert uow.identities.list(other, limit=10).items == ()
            uow.commit()

        with store.unit_of_work() as uow:  # tenant A's data is untouched
            assert uow.connectors.get(a, conn.id) == conn
            assert uow.shadows.count(a, conn.id) == 1
            assert uow.sync_tokens.get(a, conn.id) is not None
            assert uow.schemas.latest(a, conn.id) is not None
            assert uow.operations.stats(a, b.T0)["pending"] == 1
            assert uow.identities.get(a, ident.id) == ident
            assert uow.runs.get(a, run.id) == run
