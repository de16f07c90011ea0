"""Inbound sync (SPEC §3.4, §3.5, §3.10): changes flow into shadows and identities.

Incremental when the type can stream changes and a token is stored; otherwise a full scan
diffed against the shadows. Each batch's shadows, identity writes, discrepancies, run
progress and token are committed in ONE unit of work, so a crash re-applies at most one
batch, and applying a change twice has the same effect as once.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import attrs
from attrs import define

from xavyo_connectors_core import mappings as mapping_rules
from xavyo_connectors_core.connectors import open_connection
from xavyo_connectors_core.correlation import classify, correlate_batch
from xavyo_connectors_core.deps import Deps, identity_store
from xavyo_connectors_core.errors import XavyoError
from xavyo_connectors_core.identities import check_attributes
from xavyo_connectors_core.leases import Lease
from xavyo_connectors_core.model import (
    ActionCounts,
    Capability,
    Connector,
    Discrepancy,
    DiscrepancyStatus,
    Identity,
    Outcome,
    Progress,
    Reaction,
    Role,
    Run,
    RunMode,
    RunStatus,
    Shadow,
    Situation,
    SyncToken,
)
from xavyo_connectors_core.ports import UnitOfWork
from xavyo_connectors_core.safety import deletion_refusal
from xavyo_connectors_core.spi import Change, ChangeKind, Connection, ConnectorObject

log = logging.getLogger(__name__)

BATCH_SIZE = 500
T = TypeVar("T")


class RunStopped(Exception):
    """The run ends early (cancelled or refused); its status and error are set."""

    def __init__(self, run: Run) -> None:
        super().__init__(run.error or run.status.value)
        self.run = run


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@define
class Tally:
    """Counts of a run: situations and change kinds, and reaction outcomes."""

    counts: Counter[str]
    queued: int = 0
    applied: int = 0
    failed: int = 0

    @classmethod
    def of(cls, run: Run) -> Tally:
        return cls(
            Counter(dict(run.counts)), run.actions.queued, run.actions.applied, run.actions.failed
        )

    def onto(self, run: Run, processed: int) -> Run:
        return attrs.evolve(
            run,
            counts=dict(self.counts),
            actions=ActionCounts(self.queued, self.applied, self.failed),
            progress=Progress(processed=processed, total=run.progress.total),
        )


@define
class SyncBatch:
    """What one batch writes, gathered before the single commit."""

    shadows: list[Shadow]
    deleted_uids: list[str]
    discrepancies: list[Discrepancy]
    identity_adds: list[Identity]
    identity_updates: dict[uuid.UUID, Identity]
    identity_before: dict[uuid.UUID, Identity] = attrs.field(factory=dict)


def execute_sync(deps: Deps, run: Run, lease: Lease) -> Run:
    """Execute a claimed sync run to its end; returns the finished run."""
    deps.store.refresh_statistics()  # after a bulk import, before batch lookups
    with deps.store.unit_of_work() as uow:
        connector = uow.connectors.get(run.tenant_id, run.connector_id)
        token = uow.sync_tokens.get(run.tenant_id, run.connector_id)
        shadow_count = uow.shadows.count(run.tenant_id, run.connector_id)
    ctype = deps.registry.get(connector.type)
    object_class = ctype.account_object_class(connector.config)
    with open_connection(deps, connector) as conn:
        can_stream = Capability.CHANGES in ctype.capabilities and bool(
            getattr(conn, "supports_changes", True)
        )
        engine = _Engine(deps, connector, run, lease, object_class, shadow_count)
        if run.mode is RunMode.INCREMENTAL and can_stream and token and token.token:
            return engine.incremental(conn, token.token)
        start_token = conn.latest_token(object_class) if can_stream else None  # type: ignore[attr-defined]
        return engine.full_scan(conn, start_token)


class _Engine:
    def __init__(
        self,
        deps: Deps,
        connector: Connector,
        run: Run,
        lease: Lease,
        object_class: str,
        shadow_count: int,
    ) -> None:
        self.deps = deps
        self.connector = connector
        self.run = run
        self.lease = lease
        self.object_class = object_class
        self.shadow_count = shadow_count
        self.tally = Tally.of(run)
        self.processed = run.progress.processed

    # ----------------------------------------------------------------- modes

    def incremental(self, conn: Connection, token: str) -> Run:
        deletes_so_far = int(self.tally.counts.get("delete", 0))
        stream: Iterator[Change] = conn.changes(self.object_class, token)  # type: ignore[attr-defined]
        for changes in batched(stream, BATCH_SIZE):
            deleting = sum(1 for c in changes if c.kind is ChangeKind.DELETE)
            refusal = deletion_refusal(
                self.connector,
                deleting=deletes_so_far + deleting,
                shadow_count=self.shadow_count,
                scanned=None,
                allowed=self.run.allow_mass_deletion,
            )
            if refusal:
                return self._fail(refusal)
            deletes_so_far += deleting
            upserts = _latest_per_uid(changes)
            with self.deps.store.unit_of_work() as uow:
                batch = self._apply(uow, upserts)
                new_token = next((c.token for c in reversed(changes) if c.token), None)
                self._commit(uow, batch, new_token)
            self._check_cancel()
        return self._finish()

    def full_scan(self, conn: Connection, start_token: str | None) -> Run:
        scanned = 0
        for objects in batched(conn.search(self.object_class, BATCH_SIZE), BATCH_SIZE):
            scanned += len(objects)
            changes = [Change(ChangeKind.UPSERT, o.uid, o, None) for o in objects]
            with self.deps.store.unit_of_work() as uow:
                batch = self._apply(uow, changes, stamp=True)
                self._commit(uow, batch, None)
            self._check_cancel()
        # pass 2: shadows this scan did not see are deleted
        with self.deps.store.unit_of_work() as uow:
            vanished = [
                s.uid
                for page in uow.shadows.iter_not_seen_in(
                    self.run.tenant_id, self.connector.id, self.run.id, page_size=BATCH_SIZE
                )
                for s in page
            ]
        refusal = deletion_refusal(
            self.connector,
            deleting=len(vanished),
            shadow_count=self.shadow_count,
            scanned=scanned,
            allowed=self.run.allow_mass_deletion,
        )
        if refusal:
            self._record_refused_deletions(vanished, refusal)
            return self._fail(refusal)
        for uids in batched(vanished, BATCH_SIZE):
            deletes = [Change(ChangeKind.DELETE, uid, None, None) for uid in uids]
            with self.deps.store.unit_of_work() as uow:
                batch = self._apply(uow, deletes)
                self._commit(uow, batch, None)
        with self.deps.store.unit_of_work() as uow:
            if start_token is not None:
                uow.sync_tokens.put(
                    SyncToken(
                        self.run.tenant_id, self.connector.id, start_token, self.deps.clock.now()
                    )
                )
            finished = self._finish_in(uow)
            uow.commit()
        return finished

    # ----------------------------------------------------------------- one batch

    def _apply(
        self, uow: UnitOfWork, changes: Sequence[Change], *, stamp: bool = False
    ) -> SyncBatch:
        tenant = self.run.tenant_id
        connector = self.connector
        now = self.deps.clock.now()
        batch = SyncBatch([], [], [], [], {})
        shadows = uow.shadows.get_many(tenant, connector.id, [c.uid for c in changes])
        upserts = [c for c in changes if c.kind is ChangeKind.UPSERT and c.object is not None]
        deletes = [c for c in changes if c.kind is ChangeKind.DELETE]

        linked_ids = {s.identity_id for s in shadows.values() if s.identity_id is not None}
        identities = (
            identity_store(self.deps, uow).get_many(tenant, linked_ids) if linked_ids else {}
        )

        # correlate the accounts that are not linked yet
        unlinked = [
            (c.uid, c.object.attributes)
            for c in upserts
            if c.object is not None
            and (shadows.get(c.uid) is None or shadows[c.uid].identity_id is None)
        ]
        correlations = (
            correlate_batch(identity_store(self.deps, uow), tenant, connector.correlation, unlinked)
            if unlinked
            else {}
        )
        candidate_ids = {
            cid
            for corr in correlations.values()
            if len(corr.candidates) == 1
            for cid in corr.candidates
        }
        missing = candidate_ids - set(identities)
        if missing:
            identities.update(identity_store(self.deps, uow).get_many(tenant, missing))

        for change in upserts:
            assert change.object is not None
            self.processed += 1
            self.tally.counts["upsert"] += 1
            try:
                self._apply_upsert(
                    batch, change.object, shadows.get(change.uid), correlations, identities, now
                )
            except (XavyoError, ValueError, TypeError) as exc:
                self._poison(batch, change.object, shadows.get(change.uid), exc, now)
        for change in deletes:
            self.processed += 1
            shadow = shadows.get(change.uid)
            if shadow is None:
                continue  # already gone: applying a delete twice is a no-op
            self.tally.counts["delete"] += 1
            self._apply_delete(batch, shadow, identities, now)
        if stamp:
            seen = {s.uid for s in batch.shadows}
            for change in upserts:
                if change.uid not in seen and change.uid in shadows:
                    batch.shadows.append(
                        attrs.evolve(shadows[change.uid], last_run_id=self.run.id, last_seen_at=now)
                    )
        return batch

    def _apply_upsert(
        self,
        batch: SyncBatch,
        obj: ConnectorObject,
        shadow: Shadow | None,
        correlations: dict[str, Any],
        identities: dict[uuid.UUID, Identity],
        now: Any,
    ) -> None:
        connector = self.connector
        attributes = dict(obj.attributes)
        digest = mapping_rules.attributes_hash(attributes)
        identity_id = shadow.identity_id if shadow else None
        if identity_id is not None and identity_id not in identities:
            identity_id = None  # the linked identity was deleted: correlate again
        correlation = correlations.get(obj.uid)
        situation = classify(identity_id, correlation)
        self.tally.counts[situation.value] += 1
        reaction = connector.reaction_for(situation) or Reaction.REPORT
        is_source = connector.role is Role.SOURCE
        changed = shadow is None or shadow.attributes_hash != digest

        if situation is Situation.LINKED:
            if is_source and changed:
                assert identity_id is not None
                self._update_identity(batch, identities[identity_id], attributes, now)
        elif situation is Situation.UNLINKED and reaction is Reaction.LINK:
            assert correlation is not None
            identity_id = correlation.candidates[0]
            if is_source and identity_id in identities:
                self._update_identity(batch, identities[identity_id], attributes, now)
            self._discrepancy(
                batch,
                situation,
                obj.uid,
                identity_id,
                correlation.explanation,
                reaction,
                Outcome.APPLIED,
            )
        elif (
            situation is Situation.UNMATCHED and is_source and reaction is Reaction.CREATE_IDENTITY
        ):
            inbound = _identity_attributes(connector, attributes)
            identity = Identity(
                id=uuid.uuid4(),
                tenant_id=connector.tenant_id,
                attributes=inbound,
                created_at=now,
                updated_at=now,
            )
            batch.identity_adds.append(identity)
            identities[identity.id] = identity
            identity_id = identity.id
            self.tally.counts["identity_created"] += 1
            self._discrepancy(
                batch,
                situation,
                obj.uid,
                identity_id,
                "no correlation rule matched; identity created from the inbound mappings",
                reaction,
                Outcome.APPLIED,
            )
        else:
            explanation = correlation.explanation if correlation else ""
            candidate = (
                correlation.candidates[0]
                if correlation and len(correlation.candidates) == 1
                else None
            )
            self._discrepancy(
                batch, situation, obj.uid, candidate, explanation, reaction, Outcome.NONE
            )
        batch.shadows.append(
            Shadow(
                tenant_id=connector.tenant_id,
                connector_id=connector.id,
                uid=obj.uid,
                name=obj.name,
                attributes=attributes,
                attributes_hash=digest,
                situation=situation if identity_id is None else Situation.LINKED,
                last_seen_at=now,
                identity_id=identity_id,
                last_run_id=self.run.id,
            )
        )

    def _apply_delete(
        self, batch: SyncBatch, shadow: Shadow, identities: dict[uuid.UUID, Identity], now: Any
    ) -> None:
        connector = self.connector
        self.tally.counts[Situation.DELETED.value] += 1
        reaction = connector.reaction_for(Situation.DELETED) or Reaction.REPORT
        outcome = Outcome.NONE
        identity = identities.get(shadow.identity_id) if shadow.identity_id else None
        if reaction is Reaction.DISABLE_IDENTITY and identity is not None:
            current = batch.identity_updates.get(identity.id, identity)
            if current.enabled:
                bump = 0 if identity.id in batch.identity_updates else 1
                batch.identity_before.setdefault(identity.id, identity)
                batch.identity_updates[identity.id] = attrs.evolve(
                    current, enabled=False, updated_at=now, version=current.version + bump
                )
                self.tally.counts["identity_disabled"] += 1
            outcome = Outcome.APPLIED
        elif reaction in (Reaction.UNLINK, Reaction.DISABLE_IDENTITY):
            outcome = Outcome.APPLIED
        self._discrepancy(
            batch,
            Situation.DELETED,
            shadow.uid,
            shadow.identity_id,
            "the account no longer exists in the system",
            reaction,
            outcome,
        )
        batch.deleted_uids.append(shadow.uid)

    def _update_identity(
        self, batch: SyncBatch, identity: Identity, account_attributes: dict[str, Any], now: Any
    ) -> None:
        inbound = _identity_attributes(self.connector, account_attributes)
        current = batch.identity_updates.get(identity.id, identity)
        merged = {**current.attributes, **inbound}
        if merged == dict(current.attributes):
            return
        bumped = current.version if identity.id in batch.identity_updates else current.version + 1
        batch.identity_before.setdefault(identity.id, identity)
        batch.identity_updates[identity.id] = attrs.evolve(
            current, attributes=merged, updated_at=now, version=bumped
        )
        self.tally.counts["identity_updated"] += 1

    def _discrepancy(
        self,
        batch: SyncBatch,
        situation: Situation,
        uid: str | None,
        identity_id: uuid.UUID | None,
        explanation: str,
        reaction: Reaction,
        outcome: Outcome,
        error: str | None = None,
    ) -> None:
        if outcome is Outcome.APPLIED:
            self.tally.applied += 1
        elif outcome is Outcome.FAILED:
            self.tally.failed += 1
        batch.discrepancies.append(
            Discrepancy(
                id=uuid.uuid4(),
                tenant_id=self.run.tenant_id,
                run_id=self.run.id,
                connector_id=self.connector.id,
                situation=situation,
                created_at=self.deps.clock.now(),
                account_uid=uid,
                identity_id=identity_id,
                explanation=explanation,
                reaction=reaction,
                outcome=outcome,
                status=DiscrepancyStatus.RESOLVED
                if outcome is Outcome.APPLIED
                else DiscrepancyStatus.OPEN,
                error=error,
            )
        )

    def _poison(
        self,
        batch: SyncBatch,
        obj: ConnectorObject,
        shadow: Shadow | None,
        exc: BaseException,
        now: Any,
    ) -> None:
        """An unappliable change: record it with its error; the stream moves on."""
        message = exc.detail if isinstance(exc, XavyoError) else f"{type(exc).__name__}: {exc}"
        self.tally.counts["failed"] += 1
        situation = Situation.LINKED if shadow and shadow.identity_id else Situation.UNMATCHED
        self._discrepancy(
            batch,
            situation,
            obj.uid,
            shadow.identity_id if shadow else None,
            "the change could not be applied",
            Reaction.REPORT,
            Outcome.FAILED,
            error=message[:500],
        )

    def _record_refused_deletions(self, uids: list[str], reason: str) -> None:
        for chunk in batched(uids, BATCH_SIZE):
            with self.deps.store.unit_of_work() as uow:
                shadows = uow.shadows.get_many(self.run.tenant_id, self.connector.id, chunk)
                reaction = self.connector.reaction_for(Situation.DELETED) or Reaction.REPORT
                uow.discrepancies.add_many(
                    Discrepancy(
                        id=uuid.uuid4(),
                        tenant_id=self.run.tenant_id,
                        run_id=self.run.id,
                        connector_id=self.connector.id,
                        situation=Situation.DELETED,
                        created_at=self.deps.clock.now(),
                        account_uid=uid,
                        identity_id=shadows[uid].identity_id if uid in shadows else None,
                        explanation="would be acted on as deleted; not applied: " + reason,
                        reaction=reaction,
                        outcome=Outcome.NONE,
                    )
                    for uid in chunk
                )
                uow.commit()

    # ----------------------------------------------------------------- commits

    def _commit(self, uow: UnitOfWork, batch: SyncBatch, token: str | None) -> None:
        tenant = self.run.tenant_id
        from xavyo_connectors_core.provisioning import enqueue_identity_changes

        reason = f"sync run {self.run.id} of connector {self.connector.name}"
        store = identity_store(self.deps, uow)
        if batch.identity_adds:
            store.add_many(batch.identity_adds)
        for identity in batch.identity_updates.values():
            store.update(identity)
        enqueue_identity_changes(
            self.deps,
            uow,
            [(None, i) for i in batch.identity_adds]
            + [(batch.identity_before.get(i.id), i) for i in batch.identity_updates.values()],
            reason=reason,
        )
        if batch.shadows:
            uow.shadows.upsert_many(batch.shadows)
        if batch.deleted_uids:
            uow.shadows.delete_many(tenant, self.connector.id, batch.deleted_uids)
        if batch.discrepancies:
            uow.discrepancies.add_many(batch.discrepancies)
        if token is not None:
            uow.sync_tokens.put(SyncToken(tenant, self.connector.id, token, self.deps.clock.now()))
        self.run = self.lease.save(uow, self.tally.onto(self.run, self.processed))
        uow.commit()

    def _check_cancel(self) -> None:
        if self.run.cancel_requested:
            with self.deps.store.unit_of_work() as uow:
                self.run = self.lease.save(
                    uow,
                    attrs.evolve(
                        self.tally.onto(self.run, self.processed),
                        status=RunStatus.CANCELLED,
                        finished_at=self.deps.clock.now(),
                    ),
                )
                uow.commit()
            raise RunStopped(self.run)

    def _finish(self) -> Run:
        with self.deps.store.unit_of_work() as uow:
            finished = self._finish_in(uow)
            uow.commit()
        return finished

    def _finish_in(self, uow: UnitOfWork) -> Run:
        self.run = self.lease.save(
            uow,
            attrs.evolve(
                self.tally.onto(self.run, self.processed),
                status=RunStatus.SUCCEEDED,
                finished_at=self.deps.clock.now(),
            ),
        )
        return self.run

    def _fail(self, reason: str) -> Run:
        with self.deps.store.unit_of_work() as uow:
            self.run = self.lease.save(
                uow,
                attrs.evolve(
                    self.tally.onto(self.run, self.processed),
                    status=RunStatus.FAILED,
                    error=reason,
                    finished_at=self.deps.clock.now(),
                ),
            )
            uow.commit()
        return self.run


def _latest_per_uid(changes: Sequence[Change]) -> list[Change]:
    """Keep the last change of each uid in a batch (stream order), preserving order."""
    last: dict[str, Change] = {}
    for change in changes:
        last.pop(change.uid, None)
        last[change.uid] = change
    return list(last.values())


def _identity_attributes(
    connector: Connector, account_attributes: dict[str, Any]
) -> dict[str, Any]:
    """Identity attributes through the inbound mappings; raises ValueError when invalid."""
    values = mapping_rules.inbound_attributes(connector.mappings, account_attributes)
    result = {k: v for k, v in values.items() if v is not None}
    errors = check_attributes(result)
    if errors:
        raise ValueError("; ".join(f"{e.path}: {e.message}" for e in errors))
    return result
