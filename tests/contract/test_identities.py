"""The reference identity store: versions, batch lookups by value, scopes."""

from __future__ import annotations

import uuid

import attrs
import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import Conflict, InvalidInput, NotFound, VersionConflict
from xavyo_connectors_core.model import ScopeCondition, ScopeOp
from xavyo_connectors_core.ports import Store


class TestWrites:
    def test_add_get_update_delete(self, store: Store) -> None:
        """Identities are versioned like connectors and deleted by id."""
        tenant = uuid.uuid4()
        ident = b.identity(tenant, {"email": "a@x.org", "groups": ["g1", "g2"]})
        with store.unit_of_work() as uow:
            uow.identities.add(ident)
            with pytest.raises(Conflict):
                uow.identities.add(ident)
            v2 = attrs.evolve(ident, attributes={"email": "b@x.org"}, version=2)
            uow.identities.update(v2)
            with pytest.raises(VersionConflict):
                uow.identities.update(attrs.evolve(ident, enabled=False, version=2))
            assert uow.identities.get(tenant, ident.id) == v2
            uow.identities.delete(tenant, ident.id)
            with pytest.raises(NotFound):
                uow.identities.get(tenant, ident.id)
            with pytest.raises(NotFound):
                uow.identities.update(attrs.evolve(v2, version=3))
            with pytest.raises(NotFound):
                uow.identities.delete(tenant, ident.id)

    def test_get_many(self, store: Store) -> None:
        """``get_many`` returns what exists, keyed by id."""
        tenant = uuid.uuid4()
        made = [b.identity(tenant) for _ in range(4)]
        with store.unit_of_work() as uow:
            for ident in made:
                uow.identities.add(ident)
            got = uow.identities.get_many(tenant, [made[0].id, made[3].id, uuid.uuid4()])
            assert got == {made[0].id: made[0], made[3].id: made[3]}
            assert uow.identities.get_many(tenant, []) == {}

    def test_add_many(self, store: Store) -> None:
        """A batch of any size (read lazily) is added with its value index."""
        tenant = uuid.uuid4()
        made = [b.identity(tenant, {"mail": f"u{i}@x.org", "n": i}) for i in range(1205)]
        with store.unit_of_work() as uow:
            uow.identities.add_many(iter(made))
            uow.identities.add_many([])
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.identities.get_many(tenant, [i.id for i in made]) == {i.id: i for i in made}
            found = uow.identities.find_by_values(tenant, "mail", ["U7@X.org", "u1204@x.org"])
            assert found == {"U7@X.org": [made[7]], "u1204@x.org": [made[1204]]}
            assert uow.identities.find_by_values(tenant, "n", ["1000"]) == {"1000": [made[1000]]}

    def test_add_many_is_all_or_nothing(self, store: Store) -> None:
        """A taken or repeated id fails the whole batch with Conflict; the unit of work
        goes on."""
        tenant = uuid.uuid4()
        taken = b.identity(tenant)
        fresh = [b.identity(tenant, {"mail": f"n{i}@x.org"}) for i in range(3)]
        with store.unit_of_work() as uow:
            uow.identities.add(taken)
            with pytest.raises(Conflict):
                uow.identities.add_many([*fresh, taken])
            with pytest.raises(Conflict):
                uow.identities.add_many([fresh[0], fresh[1], fresh[0]])
            assert uow.identities.get_many(tenant, [i.id for i in fresh]) == {}
            assert uow.identities.find_by_values(tenant, "mail", ["n0@x.org"]) == {}
            uow.identities.add_many(fresh)
            assert len(uow.identities.get_many(tenant, [i.id for i in fresh])) == 3

    def test_list_filters_enabled(self, store: Store) -> None:
        """Identity lists filter by ``enabled``."""
        tenant = uuid.uuid4()
        on, off = b.identity(tenant, created_at=b.at(1)), b.identity(tenant, enabled=False)
        with store.unit_of_work() as uow:
            uow.identities.add(on)
            uow.identities.add(off)
            assert [i.id for i in uow.identities.list(tenant, limit=5).items] == [off.id, on.id]
            assert uow.identities.list(tenant, limit=5, enabled=True).items == (on,)
            assert uow.identities.list(tenant, limit=5, enabled=False).items == (off,)


class TestFindByValues:
    def test_loose_candidates_per_value(self, store: Store) -> None:
        """Each value maps to the identities whose attribute matches it loosely (its text,
        stripped and casefolded); lists match through any item."""
        tenant = uuid.uuid4()
        ann = b.identity(tenant, {"mail": "ann@x.org", "groups": ["admins", "staff"], "n": 1})
        bob = b.identity(tenant, {"mail": " Bob@X.org ", "groups": "STAFF", "n": 2.5})
        cat = b.identity(tenant, {"mail": "cat@x.org", "n": True, "flag": 1.0, "no": None})
        with store.unit_of_work() as uow:
            for ident in (ann, bob, cat):
                uow.identities.add(ident)
            find = uow.identities.find_by_values
            assert find(tenant, "mail", ["ann@x.org", "BOB@x.org", "nobody"]) == {
                "ann@x.org": [ann],
                "BOB@x.org": [bob],
            }
            # every requested spelling gets its own entry
            assert find(tenant, "mail", ["John@X.org", "Ann@X.org", "  ann@x.org"]) == {
                "Ann@X.org": [ann],
                "  ann@x.org": [ann],
            }
            staff = find(tenant, "groups", ["staff", "Admins"])
            assert staff["Admins"] == [ann]
            assert [i.id for i in staff["staff"]] == sorted([ann.id, bob.id])
            # numbers and booleans are compared as their text
            assert find(tenant, "n", ["1", " 2.5", "TRUE"]) == {
                "1": [ann],
                " 2.5": [bob],
                "TRUE": [cat],
            }
            assert find(tenant, "n", [1]) == {1: [ann]}
            assert find(tenant, "n", [1.0]) == {}  # "1.0" is not "1"
            assert find(tenant, "flag", ["1.0", 1]) == {"1.0": [cat]}
            assert find(tenant, "mail", [True, None, ["ann@x.org"], {"a": 1}, float("nan")]) == {}
            assert find(tenant, "no", [None, "", "none"]) == {}
            assert find(tenant, "mail", []) == {}
            assert find(tenant, "missing", ["x"]) == {}

    def test_candidates_are_ordered_and_distinct(self, store: Store) -> None:
        """An identity appears once per value (even if several items match), by id."""
        tenant = uuid.uuid4()
        made = [
            b.identity(tenant, {"aliases": ["Ann", "ANN ", "x"]}),
            b.identity(tenant, {"aliases": "ann"}),
            b.identity(tenant, {"aliases": ["bob"]}),
        ]
        with store.unit_of_work() as uow:
            for ident in made:
                uow.identities.add(ident)
            found = uow.identities.find_by_values(tenant, "aliases", ["ann", "X"])
        assert [i.id for i in found["ann"]] == sorted([made[0].id, made[1].id])
        assert found["X"] == [made[0]]

    def test_follows_updates_and_deletes(self, store: Store) -> None:
        """The value index changes with the identity."""
        tenant = uuid.uuid4()
        ident = b.identity(tenant, {"mail": "old@x.org"})
        with store.unit_of_work() as uow:
            uow.identities.add(ident)
            uow.identities.update(attrs.evolve(ident, attributes={"mail": "new@x.org"}, version=2))
            assert uow.identities.find_by_values(tenant, "mail", ["old@x.org"]) == {}
            assert list(uow.identities.find_by_values(tenant, "mail", ["new@x.org"])) == [
                "new@x.org"
            ]
            uow.identities.delete(tenant, ident.id)
            assert uow.identities.find_by_values(tenant, "mail", ["new@x.org"]) == {}

    def test_long_values_and_big_batches(self, store: Store) -> None:
        """Values of any length are found, and batches larger than one query work."""
        tenant = uuid.uuid4()
        long_value = "x" * 5000
        with store.unit_of_work() as uow:
            uow.identities.add(b.identity(tenant, {"cert": long_value}))
            for i in range(30):
                uow.identities.add(b.identity(tenant, {"mail": f"u{i}@x.org"}))
            assert len(uow.identities.find_by_values(tenant, "cert", [long_value])[long_value]) == 1
            assert uow.identities.find_by_values(tenant, "cert", ["x" * 4999]) == {}
            wanted = [f"u{i}@x.org" for i in range(2500)]
            assert len(uow.identities.find_by_values(tenant, "mail", wanted)) == 30


class TestScope:
    def test_pages_of_identities_in_scope(self, store: Store) -> None:
        """``iter_scope`` yields full pages (by id) of the identities matching every condition."""
        tenant = uuid.uuid4()
        made = [
            b.identity(tenant, {"dept": "eng" if i % 3 else "ops", "tags": ["a", str(i)]})
            for i in range(20)
        ]
        with store.unit_of_work() as uow:
            for ident in made:
                uow.identities.add(ident)
            eng = sorted(i.id for i in made if i.attributes["dept"] == "eng")
            pages = list(
                uow.identities.iter_scope(
                    tenant, [ScopeCondition("dept", ScopeOp.EQ, "eng")], page_size=4
                )
            )
            assert [len(p) for p in pages] == [4, 4, 4, 1]
            assert [i.id for p in pages for i in p] == eng
            everyone = [
                i.id for p in uow.identities.iter_scope(tenant, None, page_size=7) for i in p
            ]
            assert everyone == sorted(i.id for i in made)
            scope = [
                ScopeCondition("dept", ScopeOp.NE, "eng"),
                ScopeCondition("tags", ScopeOp.IN, ["3", "9", "10"]),
                ScopeCondition("tags", ScopeOp.PRESENT),
                ScopeCondition("missing", ScopeOp.ABSENT),
            ]
            picked = [
                i.id for p in uow.identities.iter_scope(tenant, scope, page_size=2) for i in p
            ]
            assert picked == sorted(made[i].id for i in (3, 9))
            assert (
                list(
                    uow.identities.iter_scope(
                        tenant, [ScopeCondition("dept", ScopeOp.EQ, "x")], page_size=3
                    )
                )
                == []
            )
            with pytest.raises(InvalidInput):
                next(uow.identities.iter_scope(tenant, None, page_size=0))

    def test_extreme_ids(self, store: Store) -> None:
        """The smallest and largest UUIDs are paged like any other."""
        tenant = uuid.uuid4()
        low = b.identity(tenant, id=uuid.UUID(int=0))
        high = b.identity(tenant, id=uuid.UUID(int=2**128 - 1))
        with store.unit_of_work() as uow:
            uow.identities.add(high)
            uow.identities.add(low)
            pages = list(uow.identities.iter_scope(tenant, None, page_size=1))
            assert [p[0].id for p in pages] == [low.id, high.id]
