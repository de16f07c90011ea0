"""Keyset pagination: stable order, opaque cursors, no repeats or skips under inserts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.contract import builders as b
from xavyo_connectors_core.errors import InvalidInput
from xavyo_connectors_core.model import Page, RunStatus
from xavyo_connectors_core.pagination import encode_cursor
from xavyo_connectors_core.ports import Store, UnitOfWork

TENANT = uuid.uuid4()
CONN = uuid.uuid4()
RUN = uuid.uuid4()


class Kind:
    """How to make, store, list and identify the items of one paginated repository."""

    def __init__(
        self,
        make: Callable[[int], Any],
        add: Callable[[UnitOfWork, Any], None],
        page: Callable[[UnitOfWork, int, str | None], Page[Any]],
        key: Callable[[Any], Any],
        owned: bool = False,
    ) -> None:
        self.make, self.add, self.page, self.key = make, add, page, key
        self.owned = owned  # the items belong to connector CONN, which must exist


def _ops_add(uow: UnitOfWork, op: Any) -> None:
    uow.operations.enqueue_many([op])


KINDS = {
    "connectors": Kind(
        # many ties on time: the id decides
        lambda i: b.connector(TENANT, created_at=b.at(i * 7 % 5)),
        lambda uow, c: uow.connectors.add(c),
        lambda uow, limit, cur: uow.connectors.list(TENANT, limit=limit, cursor=cur),
        lambda c: c.id,
    ),
    "identities": Kind(
        lambda i: b.identity(TENANT, created_at=b.at(i * 7 % 5)),
        lambda uow, x: uow.identities.add(x),
        lambda uow, limit, cur: uow.identities.list(TENANT, limit=limit, cursor=cur),
        lambda x: x.id,
    ),
    "discrepancies": Kind(
        lambda i: b.discrepancy(TENANT, RUN, CONN, created_at=b.at(i * 7 % 5)),
        lambda uow, d: uow.discrepancies.add_many([d]),
        lambda uow, limit, cur: uow.discrepancies.list(TENANT, RUN, limit=limit, cursor=cur),
        lambda d: d.id,
    ),
    "operations": Kind(
        lambda i: b.operation(TENANT, CONN, created_at=b.at(-i)),  # seq order, not time
        _ops_add,
        lambda uow, limit, cur: uow.operations.list(TENANT, limit=limit, cursor=cur),
        lambda o: o.id,
    ),
    "runs": Kind(
        lambda i: b.run(
            TENANT, uuid.uuid4(), queued_at=b.at(i * 7 % 5), status=RunStatus.SUCCEEDED
        ),
        lambda uow, r: uow.runs.add(r),
        lambda uow, limit, cur: uow.runs.list(TENANT, limit=limit, cursor=cur),
        lambda r: r.id,
    ),
    "shadows": Kind(
        lambda i: b.shadow(TENANT, CONN, f"u{i * 7919 % 1000:04d}-{uuid.uuid4().hex[:4]}"),
        lambda uow, s: uow.shadows.upsert_many([s]),
        lambda uow, limit, cur: uow.shadows.list(TENANT, CONN, limit=limit, cursor=cur),
        lambda s: s.uid,
        owned=True,
    ),
    "schema versions": Kind(
        lambda i: b.schema_version(TENANT, CONN, 1000 + (i * 7919) % 1000),
        lambda uow, v: uow.schemas.add(v),
        lambda uow, limit, cur: uow.schemas.list(TENANT, CONN, limit=limit, cursor=cur),
        lambda v: v.version,
        owned=True,
    ),
}


def _setup(uow: UnitOfWork, kind: Kind) -> None:
    if kind.owned:
        uow.connectors.add(b.connector(TENANT, "owner", id=CONN))


def _walk(uow: UnitOfWork, kind: Kind, limit: int, between: Callable[[int], None]) -> list[Any]:
    seen: list[Any] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = kind.page(uow, limit, cursor)
        assert len(page.items) <= limit
        seen.extend(kind.key(item) for item in page.items)
        pages += 1
        if page.next_cursor is None:
            return seen
        between(pages)
        cursor = page.next_cursor


@pytest.mark.parametrize("name", list(KINDS))
class TestPaging:
    def test_pages_walk_the_whole_list_in_order(self, store: Store, name: str) -> None:
        """Pages of every size cover every item once, in the documented order."""
        kind = KINDS[name]
        items = [kind.make(i) for i in range(11)]
        with store.unit_of_work() as uow:
            _setup(uow, kind)
            for item in items:
                kind.add(uow, item)
            everything = _walk(uow, kind, 500, lambda _: None)
            assert sorted(everything, key=str) == sorted((kind.key(i) for i in items), key=str)
            for limit in (1, 2, 3, 10, 11):
                assert _walk(uow, kind, limit, lambda _: None) == everything

    def test_inserts_between_pages_never_repeat_or_skip(self, store: Store, name: str) -> None:
        """Items inserted while paging may or may not show; existing ones show exactly once."""
        kind = KINDS[name]
        existing = [kind.make(i) for i in range(10)]
        extra = iter(kind.make(i) for i in range(10, 40))
        with store.unit_of_work() as uow:
            _setup(uow, kind)
            for item in existing:
                kind.add(uow, item)
            uow.commit()

        def insert(_page: int) -> None:
            with store.unit_of_work() as other:
                for _ in range(3):
                    item = next(extra, None)
                    if item is not None:
                        kind.add(other, item)
                other.commit()

        # one unit of work per page: memory and SQLite serialize units of work, so the
        # concurrent inserts land between pages like an API client paging would see
        seen: list[Any] = []
        cursor: str | None = None
        while True:
            with store.unit_of_work() as uow:
                page = kind.page(uow, 3, cursor)
            seen.extend(kind.key(i) for i in page.items)
            if page.next_cursor is None:
                break
            insert(len(seen))
            cursor = page.next_cursor
        assert len(seen) == len(set(seen)), "an item was repeated"
        assert {kind.key(i) for i in existing} <= set(seen), "an existing item was skipped"
        final = _walk_fresh(store, kind)
        assert seen == [key for key in final if key in set(seen)], "pages are out of order"

    def test_limit_bounds(self, store: Store, name: str) -> None:
        """A limit outside 1..500 is invalid input on ``limit``."""
        kind = KINDS[name]
        with store.unit_of_work() as uow:
            for limit in (0, -1, 501):
                with pytest.raises(InvalidInput) as caught:
                    kind.page(uow, limit, None)
                assert [e.path for e in caught.value.errors] == ["limit"]

    def test_bad_cursors(self, store: Store, name: str) -> None:
        """Tampered cursors are invalid input on ``cursor``, never a crash."""
        kind = KINDS[name]
        bad = [
            "not a cursor!",
            encode_cursor(),
            encode_cursor("x", "y", "z"),
            encode_cursor([1], {"a": 1}),
            encode_cursor("x"),
            encode_cursor(1.5),
            encode_cursor(2**70, "not-a-uuid"),
            encode_cursor(True),
            encode_cursor(None),
            encode_cursor(2**64),
            encode_cursor("a\x00b"),
        ]
        with store.unit_of_work() as uow:
            for cursor in bad:
                try:
                    kind.page(uow, 5, cursor)
                except InvalidInput as exc:
                    assert [e.path for e in exc.errors] == ["cursor"]


def _walk_fresh(store: Store, kind: Kind) -> list[Any]:
    with store.unit_of_work() as uow:
        return _walk(uow, kind, 500, lambda _: None)
