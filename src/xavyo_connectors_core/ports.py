"""Ports: the narrow Protocols the use cases are written against.

A ``Store`` opens units of work; a ``UnitOfWork`` is one transaction and yields the
repositories. Every repository method takes the tenant id first (or reads it from the
object it writes), so nothing crosses tenants. Adapters live in ``stores/``; one contract
suite (``tests/contract``) checks every adapter against these semantics:

- ``add`` of a connector whose ``casefold()``-ed name is taken in its tenant raises
  ``Conflict``; ``get``/``delete`` of an id unknown *in that tenant* raise ``NotFound``.
- ``update`` is compare-and-set on ``version``: the stored row must have
  ``obj.version - 1``, else ``VersionConflict`` (or ``NotFound`` when it is gone).
- Lists are keyset-paginated with opaque cursors, oldest first by (created time, id),
  runs newest first; a page never repeats or skips an item under concurrent inserts.
- Nothing is visible to the caller until ``commit()``; leaving the ``with`` block without
  it rolls back.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

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


class Clock(Protocol):
    """The source of the current time (aware UTC)."""

    def now(self) -> datetime: ...


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...
    def get(self, tenant_id: UUID) -> Tenant: ...
    def get_by_slug(self, slug: str) -> Tenant: ...
    def list(self) -> Sequence[Tenant]: ...


class ApiTokenRepository(Protocol):
    def add(self, token: ApiToken) -> None: ...
    def get_by_digest(self, digest: str) -> ApiToken: ...


class ConnectorRepository(Protocol):
    def add(self, connector: Connector) -> None: ...
    def get(self, tenant_id: UUID, connector_id: UUID) -> Connector: ...
    def update(self, connector: Connector) -> None: ...
    def delete(self, tenant_id: UUID, connector_id: UUID) -> None: ...
    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        type: str | None = None,
        role: Role | None = None,
        enabled: bool | None = None,
    ) -> Page[Connector]: ...
    def iter_all(self) -> Iterator[Connector]:
        """Every connector of every tenant (for key rotation and the scheduler only)."""
        ...


class SchemaRepository(Protocol):
    def add(self, version: SchemaVersion) -> None: ...
    def latest(self, tenant_id: UUID, connector_id: UUID) -> SchemaVersion | None: ...
    def list(
        self, tenant_id: UUID, connector_id: UUID, *, limit: int, cursor: str | None = None
    ) -> Page[SchemaVersion]:
        """Newest first."""
        ...

    def delete_for_connector(self, tenant_id: UUID, connector_id: UUID) -> None: ...


class ShadowRepository(Protocol):
    def upsert_many(self, shadows: Iterable[Shadow]) -> None: ...
    def get(self, tenant_id: UUID, connector_id: UUID, uid: str) -> Shadow: ...
    def get_many(
        self, tenant_id: UUID, connector_id: UUID, uids: Iterable[str]
    ) -> dict[str, Shadow]: ...
    def by_identities(
        self, tenant_id: UUID, connector_id: UUID, identity_ids: Iterable[UUID]
    ) -> dict[UUID, Shadow]: ...
    def stamp_many(
        self,
        tenant_id: UUID,
        connector_id: UUID,
        uids: Iterable[str],
        run_id: UUID,
        seen_at: datetime,
    ) -> None:
        """Set ``last_run_id`` and ``last_seen_at`` of existing shadows, nothing else (a
        reconciliation's unchanged accounts); uids without a shadow are ignored."""
        ...

    def live_links(
        self, tenant_id: UUID, connector_id: UUID, identity_ids: Iterable[UUID]
    ) -> set[UUID]:
        """Those of ``identity_ids`` linked to an account of the connector that is not
        ``deleted`` (reconciliation pass 3: identities with an account)."""
        ...

    def delete_many(self, tenant_id: UUID, connector_id: UUID, uids: Iterable[str]) -> None: ...
    def delete_for_connector(self, tenant_id: UUID, connector_id: UUID) -> None: ...
    def count(self, tenant_id: UUID, connector_id: UUID) -> int: ...
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
        """Ordered by uid."""
        ...

    def iter_not_seen_in(
        self, tenant_id: UUID, connector_id: UUID, run_id: UUID, *, page_size: int
    ) -> Iterator[builtins.list[Shadow]]:
        """Pages of shadows whose ``last_run_id`` is not ``run_id`` (reconciliation pass 2)."""
        ...


class RunRepository(Protocol):
    def add(self, run: Run) -> None:
        """Raises ``Conflict`` (with ``run_id``) if the connector already has an active run,
        or if a run with the same ``scheduled_slot`` exists for the connector."""
        ...

    def get(self, tenant_id: UUID, run_id: UUID) -> Run: ...
    def update(self, run: Run) -> None:
        """Unconditional write of a run's mutable fields (status, progress, lease ...)."""
        ...

    def active_for_connector(self, tenant_id: UUID, connector_id: UUID) -> Run | None: ...
    def last_finished(self, tenant_id: UUID, connector_id: UUID, kind: RunKind) -> Run | None: ...
    def last_queued(self, tenant_id: UUID, connector_id: UUID, kind: RunKind) -> Run | None:
        """The most recently queued run of that kind, whatever its status."""
        ...

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
        """Newest first."""
        ...

    def claim(self, owner: str, now: datetime, lease_seconds: float) -> Run | None:
        """Claim one queued run, or a running one whose lease expired (any tenant)."""
        ...


class DiscrepancyRepository(Protocol):
    def add_many(self, discrepancies: Iterable[Discrepancy]) -> None: ...
    def get(self, tenant_id: UUID, discrepancy_id: UUID) -> Discrepancy: ...
    def update(self, discrepancy: Discrepancy) -> None: ...
    def list(
        self,
        tenant_id: UUID,
        run_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        situation: Situation | None = None,
        status: DiscrepancyStatus | None = None,
    ) -> Page[Discrepancy]: ...
    def resolve_absent(self, tenant_id: UUID, connector_id: UUID, run_id: UUID) -> int:
        """Resolve what run ``run_id`` no longer finds; return how many were resolved.

        Every ``open`` discrepancy of the connector from another run becomes ``resolved``
        unless run ``run_id`` has a discrepancy (of any status) with the same
        (``situation``, ``account_uid``, ``identity_id``), a missing uid or identity
        matching a missing one. Set-based: one statement, however many there are.
        """
        ...


class OperationRepository(Protocol):
    """The provisioning queue (SPEC §3.7).

    An operation's *account key* is ``f"i:{identity_id}"`` when it has an identity, else
    ``f"u:{account_uid}"`` (``provisioning.account_key``); the store keeps it with the
    operation, recomputed on every write. Operations of one (tenant, connector, account
    key) are handed out in ``seq`` order, one at a time: an operation is *unfinished*
    while ``pending``, ``retrying``, ``in_progress`` or ``dead``, and nothing of its
    account with a larger ``seq`` is claimed until it is ``succeeded`` or ``discarded``.
    """

    def enqueue_many(self, operations: Iterable[Operation]) -> builtins.list[Operation]:
        """Store new operations; the store assigns ``seq`` in enqueue order.

        Returns the operations as stored (each carrying its ``seq``).
        """
        ...

    def get(self, tenant_id: UUID, operation_id: UUID) -> Operation: ...
    def update(self, operation: Operation) -> None: ...
    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        statuses: Sequence[OperationStatus] | None = None,
        connector_id: UUID | None = None,
    ) -> Page[Operation]: ...
    def dead_letter_for_connector(
        self, tenant_id: UUID, connector_id: UUID, reason: str, now: datetime
    ) -> int:
        """Move every unfinished operation of the connector to ``dead`` with ``reason``."""
        ...

    def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> builtins.list[Operation]:
        """Claim up to ``limit`` due operations of any tenant, oldest ``seq`` first.

        Due: ``pending``/``retrying`` with ``next_attempt_at <= now``, or ``in_progress``
        whose lease expired (``lease_expires_at < now``, or no lease: a dead worker's).
        Never handed out: operations of a connector quarantined past ``now`` (its
        ``ConnectorHealth``), of a disabled connector (they wait), and any operation with
        an earlier unfinished one of its account. Claimed operations become
        ``in_progress`` with ``lease_owner=owner`` and ``lease_expires_at=now+lease``; they
        are returned in ``seq`` order. Concurrent claimers (PostgreSQL) never wait for
        each other and never hold two operations of one account at once.
        """
        ...

    def latest_for_account(
        self, tenant_id: UUID, connector_id: UUID, account_key: str
    ) -> Operation | None:
        """The operation of that account with the largest ``seq`` (any status), or None.

        On PostgreSQL, when it is ``pending`` it stays locked until the unit of work ends,
        so a concurrent ``claim_due`` skips it while the caller coalesces a change into it
        (one being claimed at that moment is waited for, and returned as claimed).
        Operations in any other state are not locked: a worker acking one never waits for
        an enqueuer.
        """
        ...

    def ack(self, operation: Operation, owner: str) -> bool:
        """Record a claimed operation's outcome, only if ``owner`` still holds it
        (``in_progress`` with ``lease_owner == owner``); False writes nothing."""
        ...

    def count_behind(self, operation: Operation) -> int:
        """How many unfinished operations of ``operation``'s account come after it."""
        ...

    def get_health(self, tenant_id: UUID, connector_id: UUID) -> ConnectorHealth | None: ...
    def put_health(self, health: ConnectorHealth) -> None:
        """Store (insert or replace) a connector's health; it goes with its connector.

        Writes nothing when the connector does not exist (any more).
        """
        ...

    def stats(self, tenant_id: UUID, now: datetime) -> dict[str, Any]:
        """Queue stats of SPEC §4.4; ``quarantined_until`` is set while it is after ``now``,
        and a quarantined connector is listed even with nothing queued."""
        ...


class SyncTokenRepository(Protocol):
    def get(self, tenant_id: UUID, connector_id: UUID) -> SyncToken | None: ...
    def put(self, token: SyncToken) -> None: ...
    def delete(self, tenant_id: UUID, connector_id: UUID) -> None: ...


class IdentityStore(Protocol):
    """The identity provider's users. Hosts may supply their own (SPEC §2)."""

    def get(self, tenant_id: UUID, identity_id: UUID) -> Identity: ...
    def get_many(self, tenant_id: UUID, identity_ids: Iterable[UUID]) -> dict[UUID, Identity]: ...
    def find_by_values(
        self, tenant_id: UUID, attribute: str, values: Iterable[Any]
    ) -> dict[Any, builtins.list[Identity]]:
        """Correlation *candidates*: for each value, the identities whose ``attribute``
        matches it loosely (values without a match are left out).

        Loosely: each side is read as text — strings as they are, numbers as ``str()``
        (``42`` and ``"42"``, but ``1`` is not ``1.0``), booleans ``true``/``false`` — then
        compared after ``strip()`` and ``casefold()``, so ``"John@X.org "`` is a candidate
        for ``"john@x.org"``. A list attribute matches through any element. Values that
        are not str, int, float or bool (or are not finite) match nothing. Callers filter
        the candidates precisely (correlation applies the rule's transform). Each list is
        ordered by identity id; requested values equal as dict keys (``1``, ``True``)
        share one entry.
        """
        ...

    def iter_scope(
        self, tenant_id: UUID, scope: Sequence[ScopeCondition] | None, *, page_size: int
    ) -> Iterator[builtins.list[Identity]]: ...
    def add(self, identity: Identity) -> None: ...
    def add_many(self, identities: Iterable[Identity]) -> None:
        """Add many identities in one batch (imports, benchmarks); all or nothing.

        Raises ``Conflict`` if any id is taken (or repeated in the batch).
        """
        ...

    def update(self, identity: Identity) -> None:
        """Compare-and-set on ``version`` like connectors."""
        ...

    def delete(self, tenant_id: UUID, identity_id: UUID) -> None: ...
    def list(
        self, tenant_id: UUID, *, limit: int, cursor: str | None = None, enabled: bool | None = None
    ) -> Page[Identity]: ...


class ReferenceIdentityStore(IdentityStore, Protocol):
    """The store's own identity table, next to the shadows: it can answer questions that
    join the two (a host's identity store cannot, and is asked the generic way)."""

    def without_live_account(
        self, tenant_id: UUID, connector_id: UUID, *, limit: int, cursor: str | None = None
    ) -> Page[Identity]:
        """Enabled identities with no account of the connector that is not ``deleted``,
        in ``list`` order (reconciliation pass 3 without reading the linked ones)."""
        ...


class UnitOfWork(AbstractContextManager["UnitOfWork"], Protocol):
    """One transaction over every repository."""

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

    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class Store(Protocol):
    """A storage backend: opens units of work, migrates, reports health."""

    def unit_of_work(self) -> UnitOfWork: ...
    def migrate(self) -> int:
        """Apply pending migrations; return how many were applied."""
        ...

    def refresh_statistics(self) -> builtins.list[str]:
        """Refresh the query planner's statistics of tables much changed since they were
        last analyzed (a bulk import); return their names. Runs call it before they scan
        a whole connector: on PostgreSQL, plans made without statistics read every row
        of a connector per batch lookup. A no-op where the planner needs none."""
        ...

    def ping(self) -> bool: ...
    def close(self) -> None: ...
