"""What reconciliation needs from the discrepancy store (SPEC §3.5, §3.10).

A ``report`` discrepancy stays open until a later run finds it gone (``resolve_absent``);
a discrepancy keeps the account's hash so that applying a plan can tell a stale one.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs

from tests.contract import builders as b
from xavyo_connectors_core.model import Discrepancy, DiscrepancyStatus, Outcome, Situation
from xavyo_connectors_core.ports import Store

OPEN, RESOLVED = DiscrepancyStatus.OPEN, DiscrepancyStatus.RESOLVED


def statuses(store: Store, tenant: uuid.UUID, found: list[Discrepancy]) -> list[str]:
    with store.unit_of_work() as uow:
        return [uow.discrepancies.get(tenant, d.id).status.value for d in found]


class TestResolveAbsent:
    def test_what_the_run_no_longer_finds_is_resolved(self, store: Store) -> None:
        """Open discrepancies of the connector's other runs are resolved unless the run
        found the same (situation, account uid, identity id) again."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        old, older, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        ann, bob = uuid.uuid4(), uuid.uuid4()

        def d(run: uuid.UUID, situation: Situation, uid: str | None, who: Any, **kw: Any) -> Any:
            return b.discrepancy(
                tenant, run, conn, situation=situation, account_uid=uid, identity_id=who, **kw
            )

        before = [
            d(old, Situation.UNMATCHED, "u1", None),  # 0 found again
            d(older, Situation.MISSING, None, ann),  # 1 found again (from an older run)
            d(old, Situation.MISMATCHED, "u2", bob),  # 2 found again, other differences
            d(old, Situation.DELETED, "u3", None),  # 3 now unmatched: a different one
            d(old, Situation.UNLINKED, "u4", ann),  # 4 now correlates to bob
            d(old, Situation.UNMATCHED, "u5", None),  # 5 gone
            d(old, Situation.MISSING, None, bob),  # 6 gone (the new one has a uid)
            d(old, Situation.UNMATCHED, "u6", None, status=RESOLVED),  # 7 stays resolved
        ]
        elsewhere = [
            b.discrepancy(tenant, old, uuid.uuid4(), account_uid="u9"),  # other connector
            b.discrepancy(uuid.uuid4(), old, conn, account_uid="u9"),  # other tenant
        ]
        found = [
            d(new, Situation.UNMATCHED, "u1", None),
            d(new, Situation.MISSING, None, ann, status=RESOLVED),  # any status counts
            d(new, Situation.MISMATCHED, "u2", bob, outcome=Outcome.QUEUED),
            d(new, Situation.UNMATCHED, "u3", None),
            d(new, Situation.UNLINKED, "u4", bob),
            d(new, Situation.MISSING, "u8", bob),
            d(new, Situation.DELETED, "u9", None),
        ]
        with store.unit_of_work() as uow:
            uow.discrepancies.add_many([*before, *elsewhere, *found])
            assert uow.discrepancies.resolve_absent(tenant, conn, new) == 4
            assert uow.discrepancies.resolve_absent(tenant, conn, new) == 0
            uow.commit()
        assert statuses(store, tenant, before) == [
            "open",
            "open",
            "open",
            "resolved",
            "resolved",
            "resolved",
            "resolved",
            "resolved",
        ]
        assert statuses(store, tenant, found) == [d.status.value for d in found]
        for other in elsewhere:
            with store.unit_of_work() as uow:
                assert uow.discrepancies.get(other.tenant_id, other.id) == other
        with store.unit_of_work() as uow:  # only the status changed
            resolved = uow.discrepancies.get(tenant, before[3].id)
        assert resolved == attrs.evolve(before[3], status=RESOLVED)

    def test_missing_values_match_only_missing_values(self, store: Store) -> None:
        """A NULL uid or identity matches a NULL, never an empty or nil value."""
        tenant, conn, old, new = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        nil = uuid.UUID(int=0)

        def d(run: uuid.UUID, uid: str | None, who: uuid.UUID | None) -> Discrepancy:
            return b.discrepancy(tenant, run, conn, account_uid=uid, identity_id=who)

        before = [d(old, None, None), d(old, "", None), d(old, None, nil), d(old, "x", nil)]
        with store.unit_of_work() as uow:
            uow.discrepancies.add_many([*before, d(new, None, None), d(new, "x", nil)])
            assert uow.discrepancies.resolve_absent(tenant, conn, new) == 2
            after = [uow.discrepancies.get(tenant, x.id).status for x in before]
        assert after == [OPEN, RESOLVED, RESOLVED, OPEN]

    def test_an_empty_run_resolves_everything_open(self, store: Store) -> None:
        """A run that found nothing resolves every open discrepancy of its connector."""
        tenant, conn = uuid.uuid4(), uuid.uuid4()
        before = [
            b.discrepancy(tenant, uuid.uuid4(), conn, account_uid=f"u{i}", created_at=b.at(i))
            for i in range(400)
        ]
        with store.unit_of_work() as uow:
            uow.discrepancies.add_many(before)
            assert uow.discrepancies.resolve_absent(tenant, conn, uuid.uuid4()) == 400
            page = uow.discrepancies.list(tenant, before[7].run_id, limit=5)
        assert [x.status for x in page.items] == [RESOLVED]


class TestAccountHash:
    def test_kept_and_updated(self, store: Store) -> None:
        """The account's hash is stored with the discrepancy and changes with ``update``."""
        tenant, run, conn = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        with_hash = b.discrepancy(tenant, run, conn, account_hash="a" * 64)
        without = b.discrepancy(tenant, run, conn)
        with store.unit_of_work() as uow:
            uow.discrepancies.add_many([with_hash, without])
            assert uow.discrepancies.get(tenant, with_hash.id).account_hash == "a" * 64
            assert uow.discrepancies.get(tenant, without.id).account_hash is None
            stale = attrs.evolve(with_hash, account_hash=None, outcome=Outcome.STALE)
            uow.discrepancies.update(stale)
            assert uow.discrepancies.get(tenant, with_hash.id) == stale
            listed = uow.discrepancies.list(tenant, run, limit=5).items
        assert {x.id: x.account_hash for x in listed} == {with_hash.id: None, without.id: None}
