"""``get(add(x)) == x`` on every store, for every stored domain class (Hypothesis).

Each example lives in a fresh tenant (ids and slugs are made unique per example), so one
store serves every example: Hypothesis may generate the same ids twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import attrs
from hypothesis import given

from tests.contract import builders as b
from tests.contract.stores import hypothesis_settings
from xavyo_connectors_core import testing as strategies
from xavyo_connectors_core.model import (
    ApiToken,
    Connector,
    Discrepancy,
    Identity,
    Operation,
    Run,
    SchemaVersion,
    Shadow,
    SyncToken,
    Tenant,
)
from xavyo_connectors_core.ports import Store, UnitOfWork
from xavyo_connectors_core.stores._common import element_keys


def assert_utc(obj: Any) -> None:
    """Every datetime inside ``obj`` is aware UTC (``==`` alone would accept any zone)."""
    if isinstance(obj, datetime):
        assert obj.tzinfo is UTC, obj
    elif attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            assert_utc(getattr(obj, field.name))
    elif isinstance(obj, list | tuple):
        for item in obj:
            assert_utc(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            assert_utc(item)


def _owner(uow: UnitOfWork, tenant_id: uuid.UUID, connector_id: uuid.UUID) -> None:
    uow.connectors.add(b.connector(tenant_id, id=connector_id))


class TestRoundTrip:
    def test_tenants(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.tenants())
        def check(tenant: Tenant) -> None:
            tenant = attrs.evolve(tenant, id=uuid.uuid4(), slug=f"{tenant.slug}-{uuid.uuid4().hex}")
            with store.unit_of_work() as uow:
                uow.tenants.add(tenant)
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.tenants.get(tenant.id) == tenant
                assert_utc(uow.tenants.get(tenant.id))
                assert uow.tenants.get_by_slug(tenant.slug) == tenant

        check()

    def test_api_tokens(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.api_tokens())
        def check(token: ApiToken) -> None:
            token = attrs.evolve(token, id=uuid.uuid4(), digest=uuid.uuid4().hex + token.digest)
            with store.unit_of_work() as uow:
                uow.api_tokens.add(token)
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.api_tokens.get_by_digest(token.digest) == token
                assert_utc(uow.api_tokens.get_by_digest(token.digest))

        check()

    def test_connectors(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.connectors())
        def check(connector: Connector) -> None:
            connector = attrs.evolve(connector, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                uow.connectors.add(connector)
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.connectors.get(connector.tenant_id, connector.id) == connector
                assert_utc(uow.connectors.get(connector.tenant_id, connector.id))
                assert uow.connectors.list(connector.tenant_id, limit=5).items == (connector,)
                bumped = attrs.evolve(connector, version=connector.version + 1)
                uow.connectors.update(bumped)
                assert uow.connectors.get(connector.tenant_id, connector.id) == bumped

        check()

    def test_schema_versions(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.schema_versions())
        def check(version: SchemaVersion) -> None:
            version = attrs.evolve(version, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                _owner(uow, version.tenant_id, version.connector_id)
                uow.schemas.add(version)
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.schemas.latest(version.tenant_id, version.connector_id) == version
                assert_utc(uow.schemas.latest(version.tenant_id, version.connector_id))

        check()

    def test_shadows(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.shadows())
        def check(shadow: Shadow) -> None:
            shadow = attrs.evolve(shadow, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                _owner(uow, shadow.tenant_id, shadow.connector_id)
                uow.shadows.upsert_many([shadow])
                uow.commit()
            with store.unit_of_work() as uow:
                key = (shadow.tenant_id, shadow.connector_id)
                assert uow.shadows.get(*key, shadow.uid) == shadow
                assert_utc(uow.shadows.get(*key, shadow.uid))
                assert uow.shadows.list(*key, limit=5).items == (shadow,)
                if shadow.identity_id is not None:
                    assert uow.shadows.by_identities(*key, [shadow.identity_id]) == {
                        shadow.identity_id: shadow
                    }

        check()

    def test_identities(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.identities())
        def check(identity: Identity) -> None:
            identity = attrs.evolve(identity, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                uow.identities.add(identity)
                uow.commit()
            with store.unit_of_work() as uow:
                tenant = identity.tenant_id
                assert uow.identities.get(tenant, identity.id) == identity
                assert_utc(uow.identities.get(tenant, identity.id))
                # every value of every attribute finds the identity again
                for name, value in identity.attributes.items():
                    elements: list[Any] = value if isinstance(value, list) else [value]
                    for element in elements:
                        if element_keys(element):
                            found = uow.identities.find_by_values(tenant, name, [element])
                            assert [i.id for i in found[element]] == [identity.id]

        check()

    def test_runs(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.runs())
        def check(run: Run) -> None:
            run = attrs.evolve(run, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                uow.runs.add(run)
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.runs.get(run.tenant_id, run.id) == run
                assert_utc(uow.runs.get(run.tenant_id, run.id))
                uow.runs.update(run)
                assert uow.runs.list(run.tenant_id, limit=5).items == (run,)

        check()

    def test_discrepancies(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.discrepancies())
        def check(discrepancy: Discrepancy) -> None:
            discrepancy = attrs.evolve(discrepancy, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                uow.discrepancies.add_many([discrepancy])
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.discrepancies.get(discrepancy.tenant_id, discrepancy.id) == discrepancy
                assert_utc(uow.discrepancies.get(discrepancy.tenant_id, discrepancy.id))

        check()

    def test_operations(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.operations())
        def check(operation: Operation) -> None:
            operation = attrs.evolve(operation, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                (stored,) = uow.operations.enqueue_many([operation])
                uow.commit()
            assert stored == attrs.evolve(operation, seq=stored.seq)
            with store.unit_of_work() as uow:
                assert uow.operations.get(operation.tenant_id, operation.id) == stored
                assert_utc(uow.operations.get(operation.tenant_id, operation.id))

        check()

    def test_sync_tokens(self, store: Store, store_kind: str) -> None:
        @hypothesis_settings(store_kind)
        @given(strategies.sync_tokens())
        def check(token: SyncToken) -> None:
            token = attrs.evolve(token, tenant_id=uuid.uuid4())
            with store.unit_of_work() as uow:
                _owner(uow, token.tenant_id, token.connector_id)
                uow.sync_tokens.put(token)
                uow.commit()
            with store.unit_of_work() as uow:
                assert uow.sync_tokens.get(token.tenant_id, token.connector_id) == token
                assert_utc(uow.sync_tokens.get(token.tenant_id, token.connector_id))

        check()
