"""The in-memory store: the reference semantics of every port, for tests and property tests.

It behaves like the SQL stores, not like a bag of objects:

- a unit of work holds the store's lock from ``__enter__`` to ``__exit__`` (units of work
  are serialized, like SQLite's ``BEGIN IMMEDIATE``) and writes through an undo journal,
  so nothing is visible to others before ``commit()`` and leaving the block without it
  (or with an exception) rolls every write back;
- objects are stored as their JSON text through the one converter and read back as fresh
  objects, so what comes back is exactly what a SQL store would return (tuples inside
  attributes come back as lists, NaN is refused), and callers can never alias stored
  state;
- the same constraints are checked: unique names per tenant on ``casefold()``, one active
  run per connector, shadows, schema versions, sync tokens and connector health belong to
  an existing connector (and go with it), tenant-scoped keys everywhere;
- the queue is handed out like the SQL stores do it (``claim_due``): by ``seq``, one
  operation per account at a time, nothing of a quarantined or disabled connector.
"""

from __future__ import annotations

import builtins
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

import attrs

from xavyo_connectors_core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    VersionConflict,
)
from xavyo_connectors_core.mappings import in_scope
from xavyo_connectors_core.model import (
    ApiToken,
    Connector,
    ConnectorHealth,
    Discrepancy,
    DiscrepancyStatus,
    Identity,
    Operation,
    OperationStatus,
    Page,
    Role,
    Run,
    RunKind,
    RunStatus,
    SchemaVersion,
    ScopeCondition,
    Shadow,
    Situation,
    SyncToken,
    Tenant,
)
from xavyo_connectors_core.pagination import check_limit
from xavyo_connectors_core.ports import (
    ApiTokenRepository,
    ConnectorRepository,
    DiscrepancyRepository,
    OperationRepository,
    ReferenceIdentityStore,
    RunRepository,
    SchemaRepository,
    ShadowRepository,
    SyncTokenRepository,
    TenantRepository,
    UnitOfWork,
)
from xavyo_connectors_core.stores._common import (
    BLOCKING_OPERATION_STATUSES,
    account_key,
    candidates_by_value,
    element_keys,
    freeze,
    int_cursor,
    keys_of_values,
    make_page,
    read_int_cursor,
    read_text_cursor,
    read_time_id_cursor,
    text_cursor,
    thaw,
    time_id_cursor,
)
from xavyo_connectors_core.stores._sql import check_uid, queue_stats

__all__ = ["MemoryStore"]

T = TypeVar("T")
K = TypeVar("K")

_MISSING: Any = object()


@attrs.frozen
class _Row(Generic[T]):
    """A stored object: its JSON text (the truth) and a decoded copy for predicates."""

    obj: T
    text: str


class _Tables:
    """The store's state. Keys always start with the tenant id."""

    def __init__(self) -> None:
        self.tenants: dict[UUID, _Row[Tenant]] = {}
        self.api_tokens: dict[UUID, _Row[ApiToken]] = {}
        self.connectors: dict[tuple[UUID, UUID], _Row[Connector]] = {}
        self.schemas: dict[tuple[UUID, UUID], dict[int, _Row[SchemaVersion]]] = {}
        self.shadows: dict[tuple[UUID, UUID], dict[str, _Row[Shadow]]] = {}
        self.identities: dict[tuple[UUID, UUID], _Row[Identity]] = {}
        self.runs: dict[tuple[UUID, UUID], _Row[Run]] = {}
        self.discrepancies: dict[tuple[UUID, UUID], _Row[Discrepancy]] = {}
        self.operations: dict[tuple[UUID, UUID], _Row[Operation]] = {}
        self.sync_tokens: dict[tuple[UUID, UUID], _Row[SyncToken]] = {}
        self.health: dict[tuple[UUID, UUID], _Row[ConnectorHealth]] = {}
        self.seq = itertools.count(1)


def _row(obj: T) -> _Row[T]:
    text = freeze(obj)
    return _Row(thaw(text, type(obj)), text)


def _fresh(row: _Row[T]) -> T:
    return thaw(row.text, type(row.obj))


class _Journal:
    """Undo log of one unit of work: every write records what it replaced."""

    def __init__(self) -> None:
        self.entries: list[tuple[dict[Any, Any], Any, Any]] = []

    def put(self, table: dict[K, Any], key: K, value: Any) -> None:
        self.entries.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def pop(self, table: dict[K, Any], key: K) -> None:
        self.entries.append((table, key, table.pop(key)))

    def bucket(self, table: dict[K, dict[Any, Any]], key: K) -> dict[Any, Any]:
        inner = table.get(key)
        if inner is None:
            inner = {}
            self.put(table, key, inner)
        return inner

    def undo(self) -> None:
        while self.entries:
            table, key, old = self.entries.pop()
            if old is _MISSING:
                table.pop(key, None)
            else:
                table[key] = old

    def forget(self) -> None:
        self.entries.clear()


class _Repo:
    def __init__(self, uow: _MemoryUnitOfWork) -> None:
        self._uow = uow

    @property
    def _t(self) -> _Tables:
        return self._uow.tables()

    @property
    def _j(self) -> _Journal:
        return self._uow.journal


def _after_time_id(cursor: str | None) -> Callable[[datetime, UUID], bool]:
    if cursor is None:
        return lambda _when, _ident: True
    after = read_time_id_cursor(cursor)
    return lambda when, ident: (when, ident) > after


def _connector_exists(tables: _Tables, tenant_id: UUID, connector_id: UUID) -> None:
    if (tenant_id, connector_id) not in tables.connectors:
        raise NotFound("connector not found")


# --------------------------------------------------------------------------- tenancy


class _Tenants(_Repo):
    def add(self, tenant: Tenant) -> None:
        row = _row(tenant)
        if any(r.obj.slug == tenant.slug for r in self._t.tenants.values()):
            raise Conflict("a tenant with this slug already exists")
        if tenant.id in self._t.tenants:
            raise Conflict("a tenant with this id already exists")
        self._j.put(self._t.tenants, tenant.id, row)

    def get(self, tenant_id: UUID) -> Tenant:
        row = self._t.tenants.get(tenant_id)
        if row is None:
            raise NotFound("tenant not found")
        return _fresh(row)

    def get_by_slug(self, slug: str) -> Tenant:
        for row in self._t.tenants.values():
            if row.obj.slug == slug:
                return _fresh(row)
        raise NotFound("tenant not found")

    def list(self) -> Sequence[Tenant]:
        rows = sorted(self._t.tenants.values(), key=lambda r: (r.obj.created_at, r.obj.id))
        return [_fresh(r) for r in rows]


class _ApiTokens(_Repo):
    def add(self, token: ApiToken) -> None:
        row = _row(token)
        taken = any(r.obj.digest == token.digest for r in self._t.api_tokens.values())
        if taken or token.id in self._t.api_tokens:
            raise Conflict("an API token with this id or digest already exists")
        self._j.put(self._t.api_tokens, token.id, row)

    def get_by_digest(self, digest: str) -> ApiToken:
        for row in self._t.api_tokens.values():
            if row.obj.digest == digest:
                return _fresh(row)
        raise NotFound("API token not found")


# --------------------------------------------------------------------------- connectors


class _Connectors(_Repo):
    def _name_taken(self, connector: Connector) -> bool:
        key = connector.name.casefold()
        return any(
            tenant == connector.tenant_id
            and ident != connector.id
            and row.obj.name.casefold() == key
            for (tenant, ident), row in self._t.connectors.items()
        )

    def add(self, connector: Connector) -> None:
        row = _row(connector)
        key = (connector.tenant_id, connector.id)
        if self._name_taken(connector):
            raise Conflict("a connector with this name already exists")
        if key in self._t.connectors:
            raise Conflict("a connector with this id already exists")
        self._j.put(self._t.connectors, key, row)

    def get(self, tenant_id: UUID, connector_id: UUID) -> Connector:
        row = self._t.connectors.get((tenant_id, connector_id))
        if row is None:
            raise NotFound("connector not found")
        return _fresh(row)

    def update(self, connector: Connector) -> None:
        row = _row(connector)
        key = (connector.tenant_id, connector.id)
        stored = self._t.connectors.get(key)
        if stored is None:
            raise NotFound("connector not found")
        if stored.obj.version != connector.version - 1:
            raise VersionConflict("the connector was changed since it was read")
        if self._name_taken(connector):
            raise Conflict("a connector with this name already exists")
        self._j.put(self._t.connectors, key, row)

    def delete(self, tenant_id: UUID, connector_id: UUID) -> None:
        key = (tenant_id, connector_id)
        if key not in self._t.connectors:
            raise NotFound("connector not found")
        self._j.pop(self._t.connectors, key)
        # what belongs to the connector goes with it (ON DELETE CASCADE in SQL)
        for table in (self._t.schemas, self._t.shadows, self._t.sync_tokens, self._t.health):
            if key in table:
                self._j.pop(table, key)

    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        type: str | None = None,
        role: Role | None = None,
        enabled: bool | None = None,
    ) -> Page[Connector]:
        check_limit(limit)
        after = _after_time_id(cursor)
        rows = sorted(
            (
                r
                for (tenant, _), r in self._t.connectors.items()
                if tenant == tenant_id
                and after(r.obj.created_at, r.obj.id)
                and (type is None or r.obj.type == type)
                and (role is None or r.obj.role == role)
                and (enabled is None or r.obj.enabled == enabled)
            ),
            key=lambda r: (r.obj.created_at, r.obj.id),
        )
        items = [_fresh(r) for r in rows[: limit + 1]]
        return make_page(items, limit, lambda c: time_id_cursor(c.created_at, c.id))

    def iter_all(self) -> Iterator[Connector]:
        rows = sorted(self._t.connectors.values(), key=lambda r: (r.obj.created_at, r.obj.id))
        for row in rows:
            yield _fresh(row)


class _Schemas(_Repo):
    def add(self, version: SchemaVersion) -> None:
        row = _row(version)
        key = (version.tenant_id, version.connector_id)
        _connector_exists(self._t, *key)
        if version.version in self._t.schemas.get(key, {}):
            raise Conflict("this schema version already exists")
        self._j.put(self._j.bucket(self._t.schemas, key), version.version, row)

    def latest(self, tenant_id: UUID, connector_id: UUID) -> SchemaVersion | None:
        page = self.list(tenant_id, connector_id, limit=1)
        return page.items[0] if page.items else None

    def list(
        self, tenant_id: UUID, connector_id: UUID, *, limit: int, cursor: str | None = None
    ) -> Page[SchemaVersion]:
        check_limit(limit)
        before = None if cursor is None else read_int_cursor(cursor)
        versions = self._t.schemas.get((tenant_id, connector_id), {})
        numbers = sorted((v for v in versions if before is None or v < before), reverse=True)
        items = [_fresh(versions[v]) for v in numbers[: limit + 1]]
        return make_page(items, limit, lambda v: int_cursor(v.version))

    def delete_for_connector(self, tenant_id: UUID, connector_id: UUID) -> None:
        if (tenant_id, connector_id) in self._t.schemas:
            self._j.pop(self._t.schemas, (tenant_id, connector_id))


# --------------------------------------------------------------------------- shadows


class _Shadows(_Repo):
    def _of(self, tenant_id: UUID, connector_id: UUID) -> dict[str, _Row[Shadow]]:
        return self._t.shadows.get((tenant_id, connector_id), {})

    def upsert_many(self, shadows: Iterable[Shadow]) -> None:
        rows = []
        for shadow in shadows:
            check_uid(shadow.uid)
            rows.append(_row(shadow))
        for row in rows:
            _connector_exists(self._t, row.obj.tenant_id, row.obj.connector_id)
        for row in rows:
            bucket = self._j.bucket(self._t.shadows, (row.obj.tenant_id, row.obj.connector_id))
            self._j.put(bucket, row.obj.uid, row)

    def get(self, tenant_id: UUID, connector_id: UUID, uid: str) -> Shadow:
        row = self._of(tenant_id, connector_id).get(uid)
        if row is None:
            raise NotFound("account not found")
        return _fresh(row)

    def get_many(
        self, tenant_id: UUID, connector_id: UUID, uids: Iterable[str]
    ) -> dict[str, Shadow]:
        rows = self._of(tenant_id, connector_id)
        return {uid: _fresh(rows[uid]) for uid in sorted(set(uids)) if uid in rows}

    def by_identities(
        self, tenant_id: UUID, connector_id: UUID, identity_ids: Iterable[UUID]
    ) -> dict[UUID, Shadow]:
        wanted = set(identity_ids)
        out: dict[UUID, Shadow] = {}
        rows = self._of(tenant_id, connector_id)
        for uid in sorted(rows):
            ident = rows[uid].obj.identity_id
            if ident is not None and ident in wanted and ident not in out:
                out[ident] = _fresh(rows[uid])
        return out

    def stamp_many(
        self,
        tenant_id: UUID,
        connector_id: UUID,
        uids: Iterable[str],
        run_id: UUID,
        seen_at: datetime,
    ) -> None:
        rows = self._of(tenant_id, connector_id)
        stamped = [
            attrs.evolve(rows[uid].obj, last_run_id=run_id, last_seen_at=seen_at)
            for uid in sorted(set(uids))
            if uid in rows
        ]
        self.upsert_many(stamped)

    def live_links(
        self, tenant_id: UUID, connector_id: UUID, identity_ids: Iterable[UUID]
    ) -> set[UUID]:
        wanted = set(identity_ids)
        found: set[UUID] = set()
        for row in self._of(tenant_id, connector_id).values():
            ident = row.obj.identity_id
            if ident is not None and ident in wanted and row.obj.situation is not Situation.DELETED:
                found.add(ident)
        return found

    def delete_many(self, tenant_id: UUID, connector_id: UUID, uids: Iterable[str]) -> None:
        rows = self._of(tenant_id, connector_id)
        for uid in set(uids):
            if uid in rows:
                self._j.pop(rows, uid)

    def delete_for_connector(self, tenant_id: UUID, connector_id: UUID) -> None:
        if (tenant_id, connector_id) in self._t.shadows:
            self._j.pop(self._t.shadows, (tenant_id, connector_id))

    def count(self, tenant_id: UUID, connector_id: UUID) -> int:
        return len(self._of(tenant_id, connector_id))

    def list(
        self,
        tenant_id: UUID,
        connector_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        situation: Situation | None = None,
        linked: bool | None = None,
    ) -> Page[Shadow]:
        check_limit(limit)
        after = "" if cursor is None else read_text_cursor(cursor)
        rows = self._of(tenant_id, connector_id)
        uids = sorted(
            uid
            for uid, row in rows.items()
            if uid > after
            and (situation is None or row.obj.situation == situation)
            and (linked is None or (row.obj.identity_id is not None) == linked)
        )
        items = [_fresh(rows[uid]) for uid in uids[: limit + 1]]
        return make_page(items, limit, lambda s: text_cursor(s.uid))

    def iter_not_seen_in(
        self, tenant_id: UUID, connector_id: UUID, run_id: UUID, *, page_size: int
    ) -> Iterator[builtins.list[Shadow]]:
        if page_size < 1:
            raise InvalidInput([FieldError("page_size", "must be at least 1")])
        after = ""
        while True:
            rows = self._of(tenant_id, connector_id)
            uids = sorted(
                uid for uid, row in rows.items() if uid > after and row.obj.last_run_id != run_id
            )[:page_size]
            items = [_fresh(rows[uid]) for uid in uids]
            if items:
                yield items
            if len(items) < page_size:
                return
            after = items[-1].uid


# --------------------------------------------------------------------------- runs


class _Runs(_Repo):
    def _active(self, tenant_id: UUID, connector_id: UUID, exclude: UUID | None) -> Run | None:
        for (tenant, ident), row in self._t.runs.items():
            run = row.obj
            if (
                tenant == tenant_id
                and run.connector_id == connector_id
                and run.status.active
                and ident != exclude
            ):
                return _fresh(row)
        return None

    def _conflict(self, run: Run) -> Conflict | None:
        """Why ``run`` cannot be stored next to the others, if it cannot."""
        if run.status.active:
            active = self._active(run.tenant_id, run.connector_id, run.id)
            if active is not None:
                return Conflict(
                    "the connector already has a queued or running run", run_id=active.id
                )
        if run.scheduled_slot is not None:
            for (tenant, ident), row in self._t.runs.items():
                other = row.obj
                if (
                    tenant == run.tenant_id
                    and ident != run.id
                    and other.connector_id == run.connector_id
                    and other.scheduled_slot == run.scheduled_slot
                ):
                    return Conflict("a run is already scheduled for this slot", run_id=ident)
        return None

    def add(self, run: Run) -> None:
        row = _row(run)
        conflict = self._conflict(run)
        if conflict is not None:
            raise conflict
        if (run.tenant_id, run.id) in self._t.runs:
            raise Conflict("a run with this id already exists")
        self._j.put(self._t.runs, (run.tenant_id, run.id), row)

    def get(self, tenant_id: UUID, run_id: UUID) -> Run:
        row = self._t.runs.get((tenant_id, run_id))
        if row is None:
            raise NotFound("run not found")
        return _fresh(row)

    def update(self, run: Run) -> None:
        row = _row(run)
        if (run.tenant_id, run.id) not in self._t.runs:
            raise NotFound("run not found")
        conflict = self._conflict(run)
        if conflict is not None:
            raise conflict
        self._j.put(self._t.runs, (run.tenant_id, run.id), row)

    def active_for_connector(self, tenant_id: UUID, connector_id: UUID) -> Run | None:
        return self._active(tenant_id, connector_id, None)

    def last_finished(self, tenant_id: UUID, connector_id: UUID, kind: RunKind) -> Run | None:
        finished = [
            row
            for (tenant, _), row in self._t.runs.items()
            if tenant == tenant_id
            and row.obj.connector_id == connector_id
            and row.obj.kind == kind
            and row.obj.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)
        ]
        if not finished:
            return None
        # ORDER BY finished_at DESC NULLS LAST, queued_at DESC, id DESC
        with_time = [r for r in finished if r.obj.finished_at is not None]
        if with_time:
            best = max(with_time, key=lambda r: (r.obj.finished_at, r.obj.queued_at, r.obj.id))
        else:
            best = max(finished, key=lambda r: (r.obj.queued_at, r.obj.id))
        return _fresh(best)

    def last_queued(self, tenant_id: UUID, connector_id: UUID, kind: RunKind) -> Run | None:
        runs = [
            row
            for (tenant, _), row in self._t.runs.items()
            if tenant == tenant_id and row.obj.connector_id == connector_id and row.obj.kind == kind
        ]
        if not runs:
            return None
        return _fresh(max(runs, key=lambda r: (r.obj.queued_at, r.obj.id)))

    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        kind: RunKind | None = None,
        connector_id: UUID | None = None,
        status: RunStatus | None = None,
    ) -> Page[Run]:
        check_limit(limit)
        before = None if cursor is None else read_time_id_cursor(cursor)
        rows = sorted(
            (
                row
                for (tenant, _), row in self._t.runs.items()
                if tenant == tenant_id
                and (before is None or (row.obj.queued_at, row.obj.id) < before)
                and (kind is None or row.obj.kind == kind)
                and (connector_id is None or row.obj.connector_id == connector_id)
                and (status is None or row.obj.status == status)
            ),
            key=lambda r: (r.obj.queued_at, r.obj.id),
            reverse=True,
        )
        items = [_fresh(r) for r in rows[: limit + 1]]
        return make_page(items, limit, lambda r: time_id_cursor(r.queued_at, r.id))

    def claim(self, owner: str, now: datetime, lease_seconds: float) -> Run | None:
        def claimable(run: Run) -> bool:
            if run.status is RunStatus.QUEUED:
                return True
            return run.status is RunStatus.RUNNING and (
                run.lease_expires_at is None or run.lease_expires_at <= now
            )

        candidates = [row for row in self._t.runs.values() if claimable(row.obj)]
        if not candidates:
            return None
        oldest = min(candidates, key=lambda r: (r.obj.queued_at, r.obj.id)).obj
        claimed = attrs.evolve(
            oldest,
            status=RunStatus.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            started_at=oldest.started_at if oldest.started_at is not None else now,
        )
        row = _row(claimed)
        self._j.put(self._t.runs, (claimed.tenant_id, claimed.id), row)
        return _fresh(row)


# --------------------------------------------------------------------------- discrepancies


class _Discrepancies(_Repo):
    def add_many(self, discrepancies: Iterable[Discrepancy]) -> None:
        rows = [_row(d) for d in discrepancies]
        keys = [(r.obj.tenant_id, r.obj.id) for r in rows]
        if len(set(keys)) != len(keys) or any(k in self._t.discrepancies for k in keys):
            raise Conflict("a discrepancy with this id already exists")
        for key, row in zip(keys, rows, strict=True):
            self._j.put(self._t.discrepancies, key, row)

    def get(self, tenant_id: UUID, discrepancy_id: UUID) -> Discrepancy:
        row = self._t.discrepancies.get((tenant_id, discrepancy_id))
        if row is None:
            raise NotFound("discrepancy not found")
        return _fresh(row)

    def update(self, discrepancy: Discrepancy) -> None:
        row = _row(discrepancy)
        key = (discrepancy.tenant_id, discrepancy.id)
        if key not in self._t.discrepancies:
            raise NotFound("discrepancy not found")
        self._j.put(self._t.discrepancies, key, row)

    def list(
        self,
        tenant_id: UUID,
        run_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        situation: Situation | None = None,
        status: DiscrepancyStatus | None = None,
    ) -> Page[Discrepancy]:
        check_limit(limit)
        after = _after_time_id(cursor)
        rows = sorted(
            (
                row
                for (tenant, _), row in self._t.discrepancies.items()
                if tenant == tenant_id
                and row.obj.run_id == run_id
                and after(row.obj.created_at, row.obj.id)
                and (situation is None or row.obj.situation == situation)
                and (status is None or row.obj.status == status)
            ),
            key=lambda r: (r.obj.created_at, r.obj.id),
        )
        items = [_fresh(r) for r in rows[: limit + 1]]
        return make_page(items, limit, lambda d: time_id_cursor(d.created_at, d.id))

    def resolve_absent(self, tenant_id: UUID, connector_id: UUID, run_id: UUID) -> int:
        def subject(d: Discrepancy) -> tuple[Situation, str | None, UUID | None]:
            return (d.situation, d.account_uid, d.identity_id)

        mine = [(key, row.obj) for key, row in self._t.discrepancies.items() if key[0] == tenant_id]
        found = {subject(d) for _, d in mine if d.run_id == run_id}
        resolved = 0
        for key, d in mine:
            if (
                d.connector_id == connector_id
                and d.status is DiscrepancyStatus.OPEN
                and d.run_id != run_id
                and subject(d) not in found
            ):
                self._j.put(
                    self._t.discrepancies,
                    key,
                    _row(attrs.evolve(d, status=DiscrepancyStatus.RESOLVED)),
                )
                resolved += 1
        return resolved


# --------------------------------------------------------------------------- operations


class _Operations(_Repo):
    def enqueue_many(self, operations: Iterable[Operation]) -> builtins.list[Operation]:
        pending = list(operations)
        keys = [(op.tenant_id, op.id) for op in pending]
        for op in pending:
            freeze(op)  # refuse what a SQL store would refuse, before taking a seq
        if len(set(keys)) != len(keys) or any(k in self._t.operations for k in keys):
            raise Conflict("an operation with this id already exists")
        stored = []
        for key, op in zip(keys, pending, strict=True):
            row = _row(attrs.evolve(op, seq=next(self._t.seq)))
            self._j.put(self._t.operations, key, row)
            stored.append(_fresh(row))
        return stored

    def get(self, tenant_id: UUID, operation_id: UUID) -> Operation:
        row = self._t.operations.get((tenant_id, operation_id))
        if row is None:
            raise NotFound("operation not found")
        return _fresh(row)

    def update(self, operation: Operation) -> None:
        key = (operation.tenant_id, operation.id)
        stored = self._t.operations.get(key)
        if stored is None:
            raise NotFound("operation not found")
        # seq is the store's: an update never moves an operation in the queue
        self._j.put(self._t.operations, key, _row(attrs.evolve(operation, seq=stored.obj.seq)))

    def ack(self, operation: Operation, owner: str) -> bool:
        key = (operation.tenant_id, operation.id)
        stored = self._t.operations.get(key)
        if (
            stored is None
            or stored.obj.status is not OperationStatus.IN_PROGRESS
            or stored.obj.lease_owner != owner
        ):
            return False
        self._j.put(self._t.operations, key, _row(attrs.evolve(operation, seq=stored.obj.seq)))
        return True

    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        statuses: Sequence[OperationStatus] | None = None,
        connector_id: UUID | None = None,
    ) -> Page[Operation]:
        check_limit(limit)
        after = 0 if cursor is None else read_int_cursor(cursor)
        wanted = None if statuses is None else {OperationStatus(s) for s in statuses}
        rows = sorted(
            (
                row
                for (tenant, _), row in self._t.operations.items()
                if tenant == tenant_id
                and row.obj.seq > after
                and (connector_id is None or row.obj.connector_id == connector_id)
                and (wanted is None or row.obj.status in wanted)
            ),
            key=lambda r: r.obj.seq,
        )
        items = [_fresh(r) for r in rows[: limit + 1]]
        return make_page(items, limit, lambda o: int_cursor(o.seq))

    def dead_letter_for_connector(
        self, tenant_id: UUID, connector_id: UUID, reason: str, now: datetime
    ) -> int:
        unfinished = (
            OperationStatus.PENDING,
            OperationStatus.IN_PROGRESS,
            OperationStatus.RETRYING,
        )
        moved = 0
        for key, row in list(self._t.operations.items()):
            op = row.obj
            if key[0] == tenant_id and op.connector_id == connector_id and op.status in unfinished:
                dead = attrs.evolve(
                    op,
                    status=OperationStatus.DEAD,
                    last_error=reason,
                    updated_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
                self._j.put(self._t.operations, key, _row(dead))
                moved += 1
        return moved

    def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> builtins.list[Operation]:
        blocking = {OperationStatus(s) for s in BLOCKING_OPERATION_STATUSES}
        first_unfinished: dict[tuple[UUID, UUID, str], int] = {}
        for row in self._t.operations.values():
            op = row.obj
            if op.status in blocking:
                key = (op.tenant_id, op.connector_id, account_key(op.identity_id, op.account_uid))
                first_unfinished[key] = min(first_unfinished.get(key, op.seq), op.seq)

        def due(op: Operation) -> bool:
            if op.status in (OperationStatus.PENDING, OperationStatus.RETRYING):
                if op.next_attempt_at > now:
                    return False
            elif op.status is OperationStatus.IN_PROGRESS:
                if op.lease_expires_at is not None and op.lease_expires_at >= now:
                    return False
            else:
                return False
            health = self._t.health.get((op.tenant_id, op.connector_id))
            until = None if health is None else health.obj.quarantined_until
            if until is not None and until > now:
                return False
            connector = self._t.connectors.get((op.tenant_id, op.connector_id))
            if connector is not None and not connector.obj.enabled:
                return False
            key = (op.tenant_id, op.connector_id, account_key(op.identity_id, op.account_uid))
            return first_unfinished[key] == op.seq

        if limit < 1:
            return []
        queue = sorted(
            (item for item in self._t.operations.items() if due(item[1].obj)),
            key=lambda item: item[1].obj.seq,
        )
        expires = now + timedelta(seconds=lease_seconds)
        claimed = []
        for op_key, row in queue[:limit]:
            new = _row(
                attrs.evolve(
                    row.obj,
                    status=OperationStatus.IN_PROGRESS,
                    lease_owner=owner,
                    lease_expires_at=expires,
                )
            )
            self._j.put(self._t.operations, op_key, new)
            claimed.append(_fresh(new))
        return claimed

    def _of_account(self, tenant_id: UUID, connector_id: UUID, key: str) -> Iterator[Operation]:
        for (tenant, _), row in self._t.operations.items():
            op = row.obj
            if (
                tenant == tenant_id
                and op.connector_id == connector_id
                and account_key(op.identity_id, op.account_uid) == key
            ):
                yield op

    def latest_for_account(
        self, tenant_id: UUID, connector_id: UUID, account_key: str
    ) -> Operation | None:
        latest = max(
            self._of_account(tenant_id, connector_id, account_key),
            key=lambda op: op.seq,
            default=None,
        )
        return None if latest is None else self.get(tenant_id, latest.id)

    def count_behind(self, operation: Operation) -> int:
        blocking = {OperationStatus(s) for s in BLOCKING_OPERATION_STATUSES}
        key = account_key(operation.identity_id, operation.account_uid)
        return sum(
            1
            for op in self._of_account(operation.tenant_id, operation.connector_id, key)
            if op.seq > operation.seq and op.status in blocking
        )

    def get_health(self, tenant_id: UUID, connector_id: UUID) -> ConnectorHealth | None:
        row = self._t.health.get((tenant_id, connector_id))
        return None if row is None else _fresh(row)

    def put_health(self, health: ConnectorHealth) -> None:
        row = _row(health)
        key = (health.tenant_id, health.connector_id)
        if key in self._t.connectors:  # a gone connector keeps no health
            self._j.put(self._t.health, key, row)

    def stats(self, tenant_id: UUID, now: datetime) -> dict[str, Any]:
        ops = [row.obj for (tenant, _), row in self._t.operations.items() if tenant == tenant_id]
        counts: dict[tuple[UUID, str], int] = {}
        for op in ops:
            key = (op.connector_id, op.status.value)
            counts[key] = counts.get(key, 0) + 1
        waiting = (
            op.created_at
            for op in ops
            if op.status in (OperationStatus.PENDING, OperationStatus.RETRYING)
        )
        quarantined = (
            (connector_id, row.obj.quarantined_until)
            for (tenant, connector_id), row in self._t.health.items()
            if tenant == tenant_id and row.obj.quarantined_until is not None
        )
        return queue_stats(((c, s, n) for (c, s), n in counts.items()), waiting, now, quarantined)


class _SyncTokens(_Repo):
    def get(self, tenant_id: UUID, connector_id: UUID) -> SyncToken | None:
        row = self._t.sync_tokens.get((tenant_id, connector_id))
        return None if row is None else _fresh(row)

    def put(self, token: SyncToken) -> None:
        row = _row(token)
        _connector_exists(self._t, token.tenant_id, token.connector_id)
        self._j.put(self._t.sync_tokens, (token.tenant_id, token.connector_id), row)

    def delete(self, tenant_id: UUID, connector_id: UUID) -> None:
        if (tenant_id, connector_id) in self._t.sync_tokens:
            self._j.pop(self._t.sync_tokens, (tenant_id, connector_id))


# --------------------------------------------------------------------------- identities


class _Identities(_Repo):
    def _of(self, tenant_id: UUID) -> Iterator[_Row[Identity]]:
        return (row for (tenant, _), row in self._t.identities.items() if tenant == tenant_id)

    def get(self, tenant_id: UUID, identity_id: UUID) -> Identity:
        row = self._t.identities.get((tenant_id, identity_id))
        if row is None:
            raise NotFound("identity not found")
        return _fresh(row)

    def get_many(self, tenant_id: UUID, identity_ids: Iterable[UUID]) -> dict[UUID, Identity]:
        out: dict[UUID, Identity] = {}
        for ident in sorted(set(identity_ids)):
            row = self._t.identities.get((tenant_id, ident))
            if row is not None:
                out[ident] = _fresh(row)
        return out

    def find_by_values(
        self, tenant_id: UUID, attribute: str, values: Iterable[Any]
    ) -> dict[Any, builtins.list[Identity]]:
        by_key = keys_of_values(values)
        found: builtins.list[tuple[str, Identity]] = []
        for row in self._of(tenant_id):
            if attribute not in row.obj.attributes:
                continue
            hits = [key for key in element_keys(row.obj.attributes[attribute]) if key in by_key]
            if hits:
                identity = _fresh(row)
                found.extend((key, identity) for key in hits)
        return candidates_by_value(by_key, found, lambda identity: identity.id)

    def iter_scope(
        self, tenant_id: UUID, scope: Sequence[ScopeCondition] | None, *, page_size: int
    ) -> Iterator[builtins.list[Identity]]:
        if page_size < 1:
            raise InvalidInput([FieldError("page_size", "must be at least 1")])
        after: UUID | None = None
        buffer: builtins.list[Identity] = []
        while True:
            rows = sorted(
                (r for r in self._of(tenant_id) if after is None or r.obj.id > after),
                key=lambda r: r.obj.id,
            )[:page_size]
            buffer.extend(_fresh(r) for r in rows if in_scope(scope, r.obj.attributes))
            while len(buffer) >= page_size:
                yield buffer[:page_size]
                buffer = buffer[page_size:]
            if len(rows) < page_size:
                break
            after = rows[-1].obj.id
        if buffer:
            yield buffer

    def add(self, identity: Identity) -> None:
        self.add_many([identity])

    def add_many(self, identities: Iterable[Identity]) -> None:
        rows = [_row(identity) for identity in identities]
        keys = [(row.obj.tenant_id, row.obj.id) for row in rows]
        if len(set(keys)) != len(keys) or any(key in self._t.identities for key in keys):
            raise Conflict("an identity with this id already exists")
        for key, row in zip(keys, rows, strict=True):
            self._j.put(self._t.identities, key, row)

    def update(self, identity: Identity) -> None:
        row = _row(identity)
        key = (identity.tenant_id, identity.id)
        stored = self._t.identities.get(key)
        if stored is None:
            raise NotFound("identity not found")
        if stored.obj.version != identity.version - 1:
            raise VersionConflict("the identity was changed since it was read")
        self._j.put(self._t.identities, key, row)

    def delete(self, tenant_id: UUID, identity_id: UUID) -> None:
        if (tenant_id, identity_id) not in self._t.identities:
            raise NotFound("identity not found")
        self._j.pop(self._t.identities, (tenant_id, identity_id))

    def list(
        self, tenant_id: UUID, *, limit: int, cursor: str | None = None, enabled: bool | None = None
    ) -> Page[Identity]:
        check_limit(limit)
        after = _after_time_id(cursor)
        rows = sorted(
            (
                r
                for r in self._of(tenant_id)
                if after(r.obj.created_at, r.obj.id)
                and (enabled is None or r.obj.enabled == enabled)
            ),
            key=lambda r: (r.obj.created_at, r.obj.id),
        )
        items = [_fresh(r) for r in rows[: limit + 1]]
        return make_page(items, limit, lambda i: time_id_cursor(i.created_at, i.id))

    def without_live_account(
        self, tenant_id: UUID, connector_id: UUID, *, limit: int, cursor: str | None = None
    ) -> Page[Identity]:
        check_limit(limit)
        after = _after_time_id(cursor)
        live = {
            row.obj.identity_id
            for row in self._t.shadows.get((tenant_id, connector_id), {}).values()
            if row.obj.identity_id is not None and row.obj.situation is not Situation.DELETED
        }
        rows = sorted(
            (
                r
                for r in self._of(tenant_id)
                if after(r.obj.created_at, r.obj.id) and r.obj.enabled and r.obj.id not in live
            ),
            key=lambda r: (r.obj.created_at, r.obj.id),
        )
        items = [_fresh(r) for r in rows[: limit + 1]]
        return make_page(items, limit, lambda i: time_id_cursor(i.created_at, i.id))


# --------------------------------------------------------------------------- store


class _MemoryUnitOfWork:
    """One transaction: the store's lock, held from enter to exit, and an undo journal."""

    tenants: TenantRepository
    api_tokens: ApiTokenRepository
    connectors: ConnectorRepository
    schemas: SchemaRepository
    shadows: ShadowRepository
    runs: RunRepository
    discrepancies: DiscrepancyRepository
    operations: OperationRepository
    sync_tokens: SyncTokenRepository
    identities: ReferenceIdentityStore

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._open = False
        self.journal = _Journal()
        self.tenants = _Tenants(self)
        self.api_tokens = _ApiTokens(self)
        self.connectors = _Connectors(self)
        self.schemas = _Schemas(self)
        self.shadows = _Shadows(self)
        self.runs = _Runs(self)
        self.discrepancies = _Discrepancies(self)
        self.operations = _Operations(self)
        self.sync_tokens = _SyncTokens(self)
        self.identities = _Identities(self)

    def tables(self) -> _Tables:
        if not self._open:
            raise RuntimeError("the unit of work is not open (use it in a with block)")
        return self._store._tables

    def __enter__(self) -> Self:
        if self._open:
            raise RuntimeError("this unit of work is already open")
        if not self._store._lock.acquire(timeout=self._store.busy_timeout):
            raise StoreUnavailable("the store is busy")
        if self._store._closed:
            self._store._lock.release()
            raise StoreUnavailable("the store is closed")
        self._open = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._open:
            return
        try:
            self.journal.undo()
        finally:
            self._open = False
            self._store._lock.release()

    def commit(self) -> None:
        self.tables()
        self.journal.forget()

    def rollback(self) -> None:
        self.tables()
        self.journal.undo()


class MemoryStore:
    """The in-memory store: reference semantics of the ports, for tests.

    Args:
        busy_timeout: seconds a unit of work waits for another one (in another thread)
            before ``StoreUnavailable``; units of work are serialized.
    """

    def __init__(self, *, busy_timeout: float = 30.0) -> None:
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._tables = _Tables()
        self._closed = False

    def __repr__(self) -> str:
        return "MemoryStore()"

    def unit_of_work(self) -> UnitOfWork:
        return _MemoryUnitOfWork(self)

    def migrate(self) -> int:
        """Nothing to migrate: always 0."""
        return 0

    def refresh_statistics(self) -> builtins.list[str]:
        return []  # no planner

    def ping(self) -> bool:
        return not self._closed

    def close(self) -> None:
        self._closed = True
