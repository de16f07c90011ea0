"""Shadows: batch upserts, batch reads, pass-2 pages, and what they must belong to."""

from __future__ import annotations

import datetime
import uuid

import attrs
import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import InvalidInput, NotFound
from xavyo_connectors_core.model import Situation
from xavyo_connectors_core.ports import Store


@pytest.fixture
def owner(store: Store) -> tuple[uuid.UUID, uuid.UUID]:
    tenant = uuid.uuid4()
    conn = b.connector(tenant)
    with store.unit_of_work() as uow:
        uow.connectors.add(conn)
        uow.commit()
    return tenant, conn.id


class TestUpsert:
    def test_insert_then_update_in_batches(
        self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]
    ) -> None:
        """``upsert_many`` inserts new uids and replaces known ones."""
        tenant, conn = owner
        first = [b.shadow(tenant, conn, f"u{i}") for i in range(5)]
        with store.unit_of_work() as uow:
            uow.shadows.upsert_many(first)
            changed = attrs.evolve(first[2], name="renamed", attributes={"mail": ["x", 1]})
            uow.shadows.upsert_many(iter([changed, b.shadow(tenant, conn, "u9")]))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.shadows.count(tenant, conn) == 6
            assert uow.shadows.get(tenant, conn, "u2") == changed
            assert uow.shadows.get(tenant, conn, "u0") == first[0]
            uow.shadows.upsert_many([])

    def test_needs_an_existing_connector(
        self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]
    ) -> None:
        """Shadows belong to a connector of their own tenant; nothing of a bad batch stays."""
        tenant, conn = owner
        with store.unit_of_work() as uow:
            with pytest.raises(NotFound):
                uow.shadows.upsert_many(
                    [b.shadow(tenant, conn, "ok"), b.shadow(tenant, uuid.uuid4(), "orphan")]
                )
            assert uow.shadows.count(tenant, conn) == 0

    def test_uid_must_not_be_empty(self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]) -> None:
        """An empty uid is invalid input."""
        tenant, conn = owner
        with store.unit_of_work() as uow, pytest.raises(InvalidInput):
            uow.shadows.upsert_many([b.shadow(tenant, conn, "")])


class TestReads:
    def test_batch_reads(self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]) -> None:
        """``get_many`` by uid and ``by_identities`` by linked identity."""
        tenant, conn = owner
        linked = {uuid.uuid4(): f"u{i}" for i in range(3)}
        shadows = [b.shadow(tenant, conn, uid, identity_id=i) for i, uid in linked.items()]
        shadows.append(b.shadow(tenant, conn, "unlinked"))
        with store.unit_of_work() as uow:
            uow.shadows.upsert_many(shadows)
            got = uow.shadows.get_many(tenant, conn, ["u0", "u2", "missing", "u0"])
            assert sorted(got) == ["u0", "u2"]
            assert got["u0"] == shadows[0]
            wanted = [*list(linked)[:2], uuid.uuid4()]
            by_identity = uow.shadows.by_identities(tenant, conn, wanted)
            assert {k: v.uid for k, v in by_identity.items()} == {
                k: linked[k] for k in list(linked)[:2]
            }
            with pytest.raises(NotFound):
                uow.shadows.get(tenant, conn, "missing")
            many = [f"m{i:05d}" for i in range(2500)]  # more than one batch of keys
            uow.shadows.upsert_many(b.shadow(tenant, conn, uid) for uid in many)
            assert len(uow.shadows.get_many(tenant, conn, many)) == 2500

    def test_list_filters(self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]) -> None:
        """Account lists are ordered by uid and filter by situation and link."""
        tenant, conn = owner
        rows = [
            b.shadow(tenant, conn, "c", situation=Situation.UNMATCHED),
            b.shadow(tenant, conn, "a", identity_id=uuid.uuid4()),
            b.shadow(tenant, conn, "b", situation=Situation.UNLINKED),
            b.shadow(tenant, conn, "B", situation=Situation.UNLINKED),
        ]
        with store.unit_of_work() as uow:
            uow.shadows.upsert_many(rows)

            def uids(**kw: object) -> list[str]:
                page = uow.shadows.list(tenant, conn, limit=10, **kw)  # type: ignore[arg-type]
                return [s.uid for s in page.items]

            assert uids() == ["B", "a", "b", "c"]  # code point order
            assert uids(situation=Situation.UNLINKED) == ["B", "b"]
            assert uids(linked=True) == ["a"]
            assert uids(linked=False, situation=Situation.UNMATCHED) == ["c"]

    def test_delete_many_and_for_connector(
        self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]
    ) -> None:
        """Shadows are deleted by uid, or all of a connector."""
        tenant, conn = owner
        with store.unit_of_work() as uow:
            uow.shadows.upsert_many(b.shadow(tenant, conn, f"u{i}") for i in range(4))
            uow.shadows.delete_many(tenant, conn, ["u1", "u3", "nope"])
            assert sorted(uow.shadows.get_many(tenant, conn, ["u0", "u1", "u2", "u3"])) == [
                "u0",
                "u2",
            ]
            uow.shadows.delete_for_connector(tenant, conn)
            assert uow.shadows.count(tenant, conn) == 0


class TestNotSeen:
    def test_pages_of_shadows_not_stamped_by_the_run(
        self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]
    ) -> None:
        """Pass 2 pages through shadows whose last run is another (or none), by uid."""
        tenant, conn = owner
        run, old = uuid.uuid4(), uuid.uuid4()
        stamped = [b.shadow(tenant, conn, f"s{i}", last_run_id=run) for i in range(3)]
        stale = [b.shadow(tenant, conn, f"o{i}", last_run_id=old) for i in range(4)]
        never = [b.shadow(tenant, conn, "n0")]
        with store.unit_of_work() as uow:
            uow.shadows.upsert_many([*stamped, *stale, *never])
            pages = list(uow.shadows.iter_not_seen_in(tenant, conn, run, page_size=2))
            assert [[s.uid for s in page] for page in pages] == [["n0", "o0"], ["o1", "o2"], ["o3"]]
            # deleting what a page returned, while iterating, does not disturb the walk
            walked: list[str] = []
            for page in uow.shadows.iter_not_seen_in(tenant, conn, run, page_size=2):
                walked.extend(s.uid for s in page)
                uow.shadows.delete_many(tenant, conn, [s.uid for s in page])
            assert walked == ["n0", "o0", "o1", "o2", "o3"]
            assert uow.shadows.count(tenant, conn) == 3
            with pytest.raises(InvalidInput):
                next(uow.shadows.iter_not_seen_in(tenant, conn, run, page_size=0))


class TestReconciliationStamps:
    def test_stamp_many_sets_only_the_run_and_time(
        self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]
    ) -> None:
        """``stamp_many`` marks existing shadows as seen by a run and changes nothing else;
        unknown uids, other connectors and other tenants are untouched."""
        tenant, conn = owner
        other_tenant = uuid.uuid4()
        other_conn = b.connector(other_tenant)
        run = uuid.uuid4()
        seen = b.T0 + datetime.timedelta(hours=1, microseconds=7)
        rows = [
            b.shadow(tenant, conn, f"u{i}", identity_id=uuid.uuid4(), attributes={"n": [i, "x"]})
            for i in range(1500)
        ]
        with store.unit_of_work() as uow:
            uow.connectors.add(other_conn)
            uow.shadows.upsert_many(rows)
            uow.shadows.upsert_many([b.shadow(other_tenant, other_conn.id, "u1")])
            uow.commit()
        stamped_uids = [f"u{i}" for i in range(0, 1500, 2)] + ["nope", "u0"]
        with store.unit_of_work() as uow:
            uow.shadows.stamp_many(tenant, conn, stamped_uids, run, seen)
            uow.shadows.stamp_many(tenant, conn, [], run, seen)
            uow.commit()
        with store.unit_of_work() as uow:
            got = uow.shadows.get_many(tenant, conn, [s.uid for s in rows])
            for i, before in enumerate(rows):
                after = got[before.uid]
                if i % 2 == 0:
                    assert after == attrs.evolve(before, last_run_id=run, last_seen_at=seen)
                else:
                    assert after == before
            assert uow.shadows.count(tenant, conn) == 1500
            untouched = uow.shadows.get(other_tenant, other_conn.id, "u1")
            assert untouched.last_run_id is None and untouched.last_seen_at == b.T0
            # the stamped ones are seen by the run; the others are pass 2's
            not_seen = [
                s.uid
                for page in uow.shadows.iter_not_seen_in(tenant, conn, run, page_size=500)
                for s in page
            ]
            assert sorted(not_seen) == sorted(f"u{i}" for i in range(1, 1500, 2))

    def test_stamp_many_rolls_back_with_the_transaction(
        self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]
    ) -> None:
        tenant, conn = owner
        with store.unit_of_work() as uow:
            uow.shadows.upsert_many([b.shadow(tenant, conn, "u1")])
            uow.commit()
        with store.unit_of_work() as uow:
            uow.shadows.stamp_many(tenant, conn, ["u1"], uuid.uuid4(), b.T0)
            uow.rollback()
        with store.unit_of_work() as uow:
            assert uow.shadows.get(tenant, conn, "u1").last_run_id is None

    def test_live_links(self, store: Store, owner: tuple[uuid.UUID, uuid.UUID]) -> None:
        """``live_links``: the asked identities with an account that is not ``deleted``."""
        tenant, conn = owner
        other_conn = b.connector(tenant)
        ids = [uuid.uuid4() for _ in range(2300)]
        rows = [b.shadow(tenant, conn, f"a{i}", identity_id=ident) for i, ident in enumerate(ids)]
        rows[1] = attrs.evolve(rows[1], situation=Situation.DELETED)
        rows[2] = attrs.evolve(rows[2], situation=Situation.MISMATCHED)
        del rows[3]  # no account at all
        with store.unit_of_work() as uow:
            uow.connectors.add(other_conn)
            uow.shadows.upsert_many(rows)
            # an account of another connector links nothing here
            uow.shadows.upsert_many([b.shadow(tenant, other_conn.id, "x", identity_id=ids[3])])
            uow.shadows.upsert_many([b.shadow(tenant, conn, "unlinked")])
            asked = [*ids, uuid.uuid4(), ids[0]]
            live = uow.shadows.live_links(tenant, conn, asked)
            assert live == set(ids) - {ids[1], ids[3]}
            assert uow.shadows.live_links(tenant, conn, []) == set()
            assert uow.shadows.live_links(uuid.uuid4(), conn, ids) == set()
            assert uow.shadows.live_links(tenant, other_conn.id, ids) == {ids[3]}


def test_upsert_many_repeating_a_uid_keeps_the_last(
    store: Store, owner: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """One batch naming a uid twice stores the later shadow (as two calls would)."""
    tenant, conn = owner
    first = b.shadow(tenant, conn, "u1")
    later = attrs.evolve(first, name="later", situation=Situation.UNLINKED)
    with store.unit_of_work() as uow:
        uow.shadows.upsert_many([first, b.shadow(tenant, conn, "u2"), later])
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.shadows.get(tenant, conn, "u1") == later
        assert uow.shadows.count(tenant, conn) == 2


def test_identities_without_live_account(store: Store, owner: tuple[uuid.UUID, uuid.UUID]) -> None:
    """The store's own identities answer pass 3 in one query: enabled identities with no
    account of the connector that is not ``deleted``, in ``list`` order, paged."""
    tenant, conn = owner
    other = b.connector(tenant)
    people = [
        b.identity(tenant, created_at=b.T0 + datetime.timedelta(seconds=i % 7)) for i in range(30)
    ]
    people[3] = attrs.evolve(people[3], enabled=False)  # disabled: never "missing"
    linked = {p.id for p in people[10:20]}
    shadows = [b.shadow(tenant, conn, f"a{i}", identity_id=p.id) for i, p in enumerate(people)]
    kept = [s for s in shadows if s.identity_id in linked]
    kept[0] = attrs.evolve(kept[0], situation=Situation.DELETED)  # a deleted account: missing
    kept[1] = attrs.evolve(kept[1], situation=Situation.MISMATCHED)  # still an account
    with store.unit_of_work() as uow:
        uow.connectors.add(other)
        uow.identities.add_many(people)
        uow.identities.add(b.identity(uuid.uuid4()))  # another tenant's
        uow.shadows.upsert_many(kept)
        # an account on another connector does not count here
        uow.shadows.upsert_many([b.shadow(tenant, other.id, "x", identity_id=people[0].id)])
        uow.commit()
    want = [
        p.id
        for p in sorted(people, key=lambda p: (p.created_at, p.id))
        if p.enabled and (p.id not in linked or p.id == kept[0].identity_id)
    ]
    with store.unit_of_work() as uow:
        got: list[uuid.UUID] = []
        cursor = None
        while True:
            page = uow.identities.without_live_account(tenant, conn, limit=4, cursor=cursor)
            assert len(page.items) <= 4
            got.extend(i.id for i in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert got == want
        assert uow.identities.without_live_account(uuid.uuid4(), conn, limit=5).items == ()
        everyone = uow.identities.without_live_account(tenant, other.id, limit=500)
        assert len(everyone.items) == 28  # 30, less the disabled one and people[0]
