"""Reconciliation runs (SPEC §3.5, §3.6, §3.10): compare a whole system with the store.

Three streaming passes, each in pages with a checkpoint after every page:

1. every account: upsert its shadow stamped with the run, classify it (linked,
   mismatched, unlinked, unmatched, disputed);
2. every shadow not stamped by this run: ``deleted``;
3. (targets) every identity in scope with no live linked account: ``missing`` — unless an
   ``unlinked``/``disputed`` account of this run correlates to it.

``report`` records discrepancies only; ``remediate`` also applies the reactions
(provisioning actions go through the queue); ``apply`` carries out a report run's plan,
re-checking each discrepancy against the system first (changed ones become ``stale``).
A resumed run skips accounts its earlier pages already stamped, so its final counts equal
an uninterrupted run's.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from collections.abc import Mapping as AbcMapping
from typing import Any
from uuid import UUID

import attrs

from xavyo_connectors_core import mappings as mapping_rules
from xavyo_connectors_core import provisioning
from xavyo_connectors_core.connectors import open_connection
from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.correlation import Correlation, classify, correlate_batch
from xavyo_connectors_core.deps import Deps, identity_store
from xavyo_connectors_core.errors import (
    AccountNotFound,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    XavyoError,
)
from xavyo_connectors_core.leases import Lease
from xavyo_connectors_core.model import (
    ActionCounts,
    Connector,
    Difference,
    Discrepancy,
    DiscrepancyStatus,
    Identity,
    ObjectClass,
    Operation,
    OperationKind,
    Outcome,
    Page,
    Progress,
    Reaction,
    Role,
    Run,
    RunKind,
    RunMode,
    RunStatus,
    Shadow,
    Situation,
)
from xavyo_connectors_core.pagination import MAX_LIMIT, check_limit
from xavyo_connectors_core.ports import UnitOfWork
from xavyo_connectors_core.runs import queue_run
from xavyo_connectors_core.safety import deletion_refusal
from xavyo_connectors_core.spi import ConnectorObject
from xavyo_connectors_core.sync import RunStopped, batched

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
DELETING_REACTIONS = (Reaction.DELETE_ACCOUNT, Reaction.DISABLE_ACCOUNT)


# --------------------------------------------------------------------------- requests


def start_reconciliation(deps: Deps, tenant_id: UUID, body: Any) -> Run:
    """Queue a run from ``{connector_id, mode: report|remediate, allow_mass_deletion}``."""
    if not isinstance(body, dict):
        raise InvalidInput([FieldError("$", "must be a JSON object")])
    allowed = {"connector_id", "mode", "allow_mass_deletion"}
    errors = [FieldError(k, "is not a known field") for k in body if k not in allowed]
    connector_id: UUID | None = None
    raw = body.get("connector_id")
    if raw is None:
        errors.append(FieldError("connector_id", "is required"))
    else:
        try:
            connector_id = UUID(str(raw)) if isinstance(raw, str) else None
        except ValueError:
            connector_id = None
        if connector_id is None and not isinstance(raw, str):
            errors.append(FieldError("connector_id", "must be a UUID string"))
    mode = body.get("mode", "report")
    if not isinstance(mode, str) or mode not in ("report", "remediate"):
        errors.append(FieldError("mode", "must be one of: report, remediate"))
    allow = body.get("allow_mass_deletion", False)
    if not isinstance(allow, bool):
        errors.append(FieldError("allow_mass_deletion", "must be a boolean"))
    if errors:
        raise InvalidInput(errors)
    if connector_id is None:
        raise NotFound("no such connector")  # a malformed id names nothing of the tenant
    return queue_run(
        deps,
        tenant_id,
        connector_id,
        RunKind.RECONCILIATION,
        RunMode(mode),
        allow_mass_deletion=allow,
    )


def apply_plan(deps: Deps, tenant_id: UUID, run_id: UUID, body: Any) -> Run:
    """Queue an ``apply`` run carrying out a report run's plan (all or listed discrepancies)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput([FieldError("$", "must be a JSON object")])
    errors = [FieldError(k, "is not a known field") for k in body if k != "discrepancy_ids"]
    ids: tuple[UUID, ...] | None = None
    if "discrepancy_ids" in body:
        raw = body["discrepancy_ids"]
        if not isinstance(raw, list) or not raw:
            errors.append(FieldError("discrepancy_ids", "must be a non-empty list of ids"))
        else:
            parsed = []
            for i, item in enumerate(raw):
                try:
                    parsed.append(UUID(item) if isinstance(item, str) else None)
                except ValueError:
                    parsed.append(None)
                if parsed[-1] is None:
                    errors.append(FieldError(f"discrepancy_ids[{i}]", "must be a UUID string"))
            ids = tuple(p for p in parsed if p is not None)
    if errors:
        raise InvalidInput(errors)
    with deps.store.unit_of_work() as uow:
        plan = uow.runs.get(tenant_id, run_id)
        if plan.kind is not RunKind.RECONCILIATION:
            raise NotFound("no such reconciliation run")
        if plan.mode is not RunMode.REPORT or plan.status is not RunStatus.SUCCEEDED:
            raise Conflict("only a succeeded report run can be applied")
        for did in ids or ():
            found = uow.discrepancies.get(tenant_id, did)
            if found.run_id != plan.id:
                raise NotFound("no such discrepancy in this run")
    return queue_run(
        deps,
        tenant_id,
        plan.connector_id,
        RunKind.RECONCILIATION,
        RunMode.APPLY,
        plan_run_id=plan.id,
        discrepancy_ids=ids,
    )


def list_discrepancies(
    deps: Deps,
    tenant_id: UUID,
    run_id: UUID,
    *,
    situation: Situation | None = None,
    status: DiscrepancyStatus | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Discrepancy]:
    check_limit(limit)
    with deps.store.unit_of_work() as uow:
        run = uow.runs.get(tenant_id, run_id)
        if run.kind is not RunKind.RECONCILIATION:
            raise NotFound("no such reconciliation run")
        return uow.discrepancies.list(
            tenant_id, run_id, limit=limit, cursor=cursor, situation=situation, status=status
        )


def discrepancy_document(d: Discrepancy) -> dict[str, Any]:
    """The discrepancy document of SPEC §4.4."""
    return {
        "id": str(d.id),
        "run_id": str(d.run_id),
        "connector_id": str(d.connector_id),
        "situation": d.situation.value,
        "account_uid": d.account_uid,
        "identity_id": str(d.identity_id) if d.identity_id else None,
        "differences": converter.unstructure(d.differences, tuple[Difference, ...]),
        "explanation": d.explanation,
        "reaction": d.reaction.value,
        "outcome": d.outcome.value,
        "operation_id": str(d.operation_id) if d.operation_id else None,
        "status": d.status.value,
        "error": d.error,
    }


# --------------------------------------------------------------------------- execution


def execute_reconciliation(deps: Deps, run: Run, lease: Lease) -> Run:
    """Execute a claimed reconciliation run (resuming from its checkpoint)."""
    if run.mode is RunMode.APPLY:
        return _Apply(deps, run, lease).execute()
    return _Reconcile(deps, run, lease).execute()


class _Base:
    def __init__(self, deps: Deps, run: Run, lease: Lease) -> None:
        self.deps = deps
        self.run = run
        self.lease = lease
        self.tally: Counter[str] = Counter(dict(run.counts))
        self.actions = Counter(attrs.asdict(run.actions))
        self.processed = run.progress.processed
        with deps.store.unit_of_work() as uow:
            self.connector: Connector = uow.connectors.get(run.tenant_id, run.connector_id)
        ctype = deps.registry.get(self.connector.type)
        self.object_class_name = ctype.account_object_class(self.connector.config)
        self.remediate = run.mode in (RunMode.REMEDIATE, RunMode.APPLY)
        self.object_class: ObjectClass | None = self._object_class()
        self.outbound = mapping_rules.OutboundPlan(self.connector.mappings, self.object_class)
        self.unreadable = frozenset(
            a.name for a in self.outbound.attributes if a is not None and not a.readable
        )

    def _object_class(self) -> ObjectClass | None:
        from xavyo_connectors_core.schema import account_class

        with self.deps.store.unit_of_work() as uow:
            latest = uow.schemas.latest(self.run.tenant_id, self.connector.id)
        return account_class(self.deps, self.connector, latest.schema) if latest else None

    def _save(self, uow: UnitOfWork, **changes: Any) -> None:
        run = attrs.evolve(
            self.run,
            counts=dict(self.tally),
            actions=ActionCounts(
                self.actions["queued"], self.actions["applied"], self.actions["failed"]
            ),
            progress=Progress(self.processed, self.run.progress.total),
            **changes,
        )
        self.run = self.lease.save(uow, run)

    def _checkpoint(self, uow: UnitOfWork, checkpoint: dict[str, Any]) -> None:
        """Save progress and the checkpoint with the page's writes, then commit.

        A cancel requested meanwhile ends the run here, in the same transaction, with the
        work so far kept.
        """
        self._save(uow, checkpoint=checkpoint)
        cancelled = self.run.cancel_requested
        if cancelled:
            self._save(uow, status=RunStatus.CANCELLED, finished_at=self.deps.clock.now())
        uow.commit()
        if cancelled:
            raise RunStopped(self.run)

    def _finish(self, status: RunStatus = RunStatus.SUCCEEDED, error: str | None = None) -> Run:
        with self.deps.store.unit_of_work() as uow:
            if status is RunStatus.SUCCEEDED and self.run.mode is not RunMode.APPLY:
                uow.discrepancies.resolve_absent(self.run.tenant_id, self.connector.id, self.run.id)
            self._save(uow, status=status, error=error, finished_at=self.deps.clock.now())
            uow.commit()
        return self.run

    def _discrepancy(
        self,
        situation: Situation,
        *,
        uid: str | None,
        identity_id: UUID | None,
        explanation: str,
        differences: Sequence[Difference] = (),
        account_hash: str | None = None,
    ) -> Discrepancy:
        self.tally[situation.value] += 1
        reaction = self.connector.reaction_for(situation) or Reaction.REPORT
        return Discrepancy(
            id=uuid.uuid4(),
            tenant_id=self.run.tenant_id,
            run_id=self.run.id,
            connector_id=self.connector.id,
            situation=situation,
            created_at=self.deps.clock.now(),
            account_uid=uid,
            identity_id=identity_id,
            differences=tuple(differences),
            explanation=explanation,
            reaction=reaction,
            account_hash=account_hash,
        )

    # ---------------------------------------------------------------- reactions

    def _react(
        self,
        uow: UnitOfWork,
        d: Discrepancy,
        *,
        shadow: Shadow | None,
        identity: Identity | None,
    ) -> tuple[Discrepancy, Shadow | None, list[Operation]]:
        """Carry out ``d.reaction`` (remediate/apply only). Returns the updated discrepancy,
        the shadow to store (or None for unchanged), and operations to enqueue."""
        if not self.remediate or d.reaction in (Reaction.REPORT, Reaction.NONE):
            return d, None, []
        connector = self.connector
        now = self.deps.clock.now()
        try:
            if d.reaction is Reaction.LINK and shadow is not None and d.identity_id is not None:
                linked = attrs.evolve(shadow, identity_id=d.identity_id, situation=Situation.LINKED)
                ops: list[Operation] = []
                if connector.role is Role.TARGET and identity is not None:
                    ops = self._update_ops(
                        identity, linked, reason=f"reconciliation {self.run.id}: linked"
                    )
                elif connector.role is Role.SOURCE and identity is not None:
                    self._update_identity(uow, identity, shadow)
                return self._applied(d, ops), linked, ops
            if d.reaction is Reaction.UNLINK:
                return self._applied(d, []), None, []
            if (
                d.reaction is Reaction.UPDATE_ACCOUNT
                and identity is not None
                and shadow is not None
            ):
                ops = self._update_ops(
                    identity, shadow, reason=f"reconciliation {self.run.id}: mismatched"
                )
                return self._applied(d, ops), None, ops
            if d.reaction is Reaction.PROVISION and identity is not None:
                wanted = mapping_rules.outbound_attributes(
                    connector.mappings, dict(identity.attributes), self.object_class
                )
                op = provisioning.new_operation(
                    self.deps,
                    connector,
                    OperationKind.CREATE,
                    identity_id=identity.id,
                    account_uid=None,
                    changes=provisioning.replace_deltas(wanted),
                    reason=f"reconciliation {self.run.id}: missing",
                )
                return self._applied(d, [op]), None, [op]
            if d.reaction in DELETING_REACTIONS and d.account_uid is not None:
                kind = (
                    OperationKind.DELETE
                    if d.reaction is Reaction.DELETE_ACCOUNT
                    else OperationKind.DISABLE
                )
                op = provisioning.new_operation(
                    self.deps,
                    connector,
                    kind,
                    identity_id=None,
                    account_uid=d.account_uid,
                    changes=(),
                    reason=f"reconciliation {self.run.id}: unmatched",
                )
                return self._applied(d, [op]), None, [op]
            if d.reaction is Reaction.CREATE_IDENTITY and shadow is not None:
                inbound = _identity_attributes(connector, shadow.attributes)
                created = Identity(
                    id=uuid.uuid4(),
                    tenant_id=connector.tenant_id,
                    attributes=inbound,
                    created_at=now,
                    updated_at=now,
                )
                identity_store(self.deps, uow).add(created)
                linked = attrs.evolve(shadow, identity_id=created.id, situation=Situation.LINKED)
                return self._applied(attrs.evolve(d, identity_id=created.id), []), linked, []
            if d.reaction is Reaction.DISABLE_IDENTITY and identity is not None:
                if identity.enabled:
                    identity_store(self.deps, uow).update(
                        attrs.evolve(
                            identity, enabled=False, updated_at=now, version=identity.version + 1
                        )
                    )
                return self._applied(d, []), None, []
            if (
                d.reaction is Reaction.UPDATE_IDENTITY
                and identity is not None
                and shadow is not None
            ):
                self._update_identity(uow, identity, shadow)
                return self._applied(d, []), None, []
        except (XavyoError, ValueError, TypeError) as exc:
            message = exc.detail if isinstance(exc, XavyoError) else str(exc)
            self.actions["failed"] += 1
            return attrs.evolve(d, outcome=Outcome.FAILED, error=message[:500]), None, []
        return d, None, []

    def _applied(self, d: Discrepancy, ops: list[Operation]) -> Discrepancy:
        if ops:
            self.actions["queued"] += 1
            return attrs.evolve(d, outcome=Outcome.QUEUED, operation_id=ops[0].id)
        self.actions["applied"] += 1
        return attrs.evolve(d, outcome=Outcome.APPLIED, status=DiscrepancyStatus.RESOLVED)

    def _update_ops(self, identity: Identity, shadow: Shadow, *, reason: str) -> list[Operation]:
        wanted = mapping_rules.outbound_attributes(
            self.connector.mappings, dict(identity.attributes), self.object_class
        )
        differences = _differences(wanted, shadow.attributes)
        if not differences:
            return []
        changes = provisioning.replace_deltas({d.attribute: d.expected for d in differences})
        return [
            provisioning.new_operation(
                self.deps,
                self.connector,
                OperationKind.UPDATE,
                identity_id=identity.id,
                account_uid=shadow.uid,
                changes=changes,
                reason=reason,
            )
        ]

    def _update_identity(self, uow: UnitOfWork, identity: Identity, shadow: Shadow) -> None:
        inbound = _identity_attributes(self.connector, shadow.attributes)
        merged = {**identity.attributes, **inbound}
        if merged != dict(identity.attributes):
            identity_store(self.deps, uow).update(
                attrs.evolve(
                    identity,
                    attributes=merged,
                    updated_at=self.deps.clock.now(),
                    version=identity.version + 1,
                )
            )


class _Reconcile(_Base):
    _not_seen: list[str] | None = None

    def execute(self) -> Run:
        checkpoint = dict(self.run.checkpoint or {})
        phase = checkpoint.get("pass", 1)
        refreshed = self.deps.store.refresh_statistics()
        if refreshed:
            log.info("planner statistics refreshed before the run: %s", ", ".join(refreshed))
        with self.deps.store.unit_of_work() as uow:
            if "shadow_count" not in checkpoint:
                checkpoint["shadow_count"] = uow.shadows.count(
                    self.run.tenant_id, self.connector.id
                )
        with open_connection(self.deps, self.connector) as conn:
            if phase == 1:
                scanned = int(checkpoint.get("scanned", 0))
                for page in batched(conn.search(self.object_class_name, PAGE_SIZE), PAGE_SIZE):
                    with self.deps.store.unit_of_work() as uow:
                        scanned += self._accounts(uow, page)
                        checkpoint.update({"pass": 1, "scanned": scanned})
                        self._checkpoint(uow, checkpoint)
                checkpoint.update({"pass": 2, "scanned": scanned})
            if checkpoint["pass"] == 2:
                refusal = self._check_deletions(checkpoint)
                if refusal:
                    return self._finish(RunStatus.FAILED, refusal)
                self._vanished(checkpoint)
                checkpoint["pass"] = 3
            if checkpoint["pass"] == 3 and self.connector.role is Role.TARGET:
                self._missing(checkpoint)
        return self._finish()

    # ---------------------------------------------------------------- pass 1

    def _accounts(self, uow: UnitOfWork, page: list[ConnectorObject]) -> int:
        tenant = self.run.tenant_id
        connector = self.connector
        run_id = self.run.id
        now = self.deps.clock.now()
        shadows = uow.shadows.get_many(tenant, connector.id, [o.uid for o in page])
        fresh = [o for o in page if (s := shadows.get(o.uid)) is None or s.last_run_id != run_id]
        if not fresh:
            return len(page)  # a resumed run already did this page
        linked_ids = {s.identity_id for s in shadows.values() if s.identity_id}
        identities = (
            identity_store(self.deps, uow).get_many(tenant, linked_ids) if linked_ids else {}
        )
        to_correlate = [
            (o.uid, o.attributes)
            for o in fresh
            if (s := shadows.get(o.uid)) is None
            or s.identity_id is None
            or s.identity_id not in identities
        ]
        correlations = (
            correlate_batch(
                identity_store(self.deps, uow), tenant, connector.correlation, to_correlate
            )
            if to_correlate and connector.correlation
            else {uid: Correlation() for uid, _ in to_correlate}
        )
        wanted_ids = {c.candidates[0] for c in correlations.values() if len(c.candidates) == 1}
        missing_ids = wanted_ids - set(identities)
        if missing_ids:
            identities.update(identity_store(self.deps, uow).get_many(tenant, missing_ids))

        target = connector.role is Role.TARGET
        unchanged: list[str] = []  # shadows only stamped with the run
        out_shadows: list[Shadow] = []
        discrepancies: list[Discrepancy] = []
        operations: list[Operation] = []
        for obj in fresh:
            self.processed += 1
            old = shadows.get(obj.uid)
            attributes: AbcMapping[str, Any]
            if old is not None and same_attributes(old.attributes, obj.attributes):
                attributes, digest = old.attributes, old.attributes_hash
            else:
                attributes = dict(obj.attributes)
                digest = mapping_rules.attributes_hash(attributes)
            identity_id = old.identity_id if old and old.identity_id in identities else None
            correlation = correlations.get(obj.uid)
            situation = classify(identity_id, correlation)
            d: Discrepancy | None = None
            update_identity = False
            identity = identities.get(identity_id) if identity_id else None
            if situation is Situation.LINKED:
                assert identity is not None
                if target and provisioning.in_scope(connector, identity):
                    # (an identity out of scope or disabled keeps its link while its account
                    # is disabled; its mappings no longer describe that account)
                    d = self._mismatch(obj, identity, digest)
                    if d is not None:
                        situation = Situation.MISMATCHED
                else:
                    self.tally[Situation.LINKED.value] += 1
                    update_identity = self.remediate
            else:
                assert correlation is not None
                candidate = correlation.candidates[0] if len(correlation.candidates) == 1 else None
                d = self._discrepancy(
                    situation,
                    uid=obj.uid,
                    identity_id=candidate,
                    explanation=correlation.explanation,
                    account_hash=digest,
                )
                identity = identities.get(candidate) if candidate else None
            if situation is Situation.LINKED and d is None and target:
                self.tally[Situation.LINKED.value] += 1
            if (
                d is None
                and old is not None
                and old.attributes_hash == digest
                and old.situation is situation
                and old.identity_id == identity_id
                and old.name == obj.name
                and not update_identity
            ):
                unchanged.append(obj.uid)  # nothing to store but the stamp
                continue
            shadow = Shadow(
                tenant_id=tenant,
                connector_id=connector.id,
                uid=obj.uid,
                name=obj.name,
                attributes=attributes,
                attributes_hash=digest,
                situation=situation,
                last_seen_at=now,
                identity_id=identity_id,
                last_run_id=run_id,
            )
            if update_identity:
                assert identity is not None
                self._update_identity(uow, identity, shadow)
            if d is not None:
                d, changed, ops = self._react(uow, d, shadow=shadow, identity=identity)
                if changed is not None:
                    shadow = attrs.evolve(changed, last_run_id=run_id)
                discrepancies.append(d)
                operations.extend(ops)
            out_shadows.append(shadow)
        if unchanged:
            uow.shadows.stamp_many(tenant, connector.id, unchanged, run_id, now)
        if out_shadows:
            uow.shadows.upsert_many(out_shadows)
        if discrepancies:
            uow.discrepancies.add_many(discrepancies)
        if operations:
            provisioning.enqueue(uow, operations)
        return len(page)

    def _mismatch(
        self, obj: ConnectorObject, identity: Identity, digest: str
    ) -> Discrepancy | None:
        try:
            wanted = self.outbound.values(identity.attributes)
        except XavyoError as exc:
            d = self._discrepancy(
                Situation.MISMATCHED,
                uid=obj.uid,
                identity_id=identity.id,
                explanation=f"the outbound mappings failed: {exc.detail}",
                account_hash=digest,
            )
            return attrs.evolve(d, outcome=Outcome.FAILED, error=exc.detail[:500])
        differences = _differences(wanted, obj.attributes, skip=self.unreadable)
        if not differences:
            return None
        why = {p.attribute: p.explain() for p in self.outbound.explain(identity.attributes)}
        explanation = "; ".join(
            f"{d.attribute}: expected from {why.get(d.attribute, 'a mapping')}" for d in differences
        )
        return self._discrepancy(
            Situation.MISMATCHED,
            uid=obj.uid,
            identity_id=identity.id,
            explanation=explanation,
            differences=differences,
            account_hash=digest,
        )

    # ---------------------------------------------------------------- pass 2

    def _vanished_uids(self) -> list[str]:
        """The uids of the shadows this run did not see (pass 2), read once."""
        if self._not_seen is None:
            with self.deps.store.unit_of_work() as uow:
                self._not_seen = [
                    shadow.uid
                    for page in uow.shadows.iter_not_seen_in(
                        self.run.tenant_id, self.connector.id, self.run.id, page_size=PAGE_SIZE
                    )
                    for shadow in page
                ]
        return self._not_seen

    def _vanished_pages(self) -> Iterator[list[Shadow]]:
        uids = self._vanished_uids()
        for start in range(0, len(uids), PAGE_SIZE):
            wanted = uids[start : start + PAGE_SIZE]
            with self.deps.store.unit_of_work() as uow:
                found = uow.shadows.get_many(self.run.tenant_id, self.connector.id, wanted)
            yield [found[uid] for uid in wanted if uid in found]

    def _check_deletions(self, checkpoint: dict[str, Any]) -> str | None:
        if not self.remediate:
            return None  # a report run acts on nothing
        with self.deps.store.unit_of_work() as uow:
            total = uow.shadows.count(self.run.tenant_id, self.connector.id)
        deleting = len(self._vanished_uids())
        reaction = self.connector.reaction_for(Situation.UNMATCHED)
        if reaction in DELETING_REACTIONS:
            deleting += self.tally.get(Situation.UNMATCHED.value, 0)
        return deletion_refusal(
            self.connector,
            deleting=deleting,
            shadow_count=int(checkpoint.get("shadow_count", total)),
            scanned=int(checkpoint.get("scanned", 0)),
            allowed=self.run.allow_mass_deletion,
        )

    def _vanished(self, checkpoint: dict[str, Any]) -> None:
        for page in self._vanished_pages():
            with self.deps.store.unit_of_work() as uow:
                ids = {s.identity_id for s in page if s.identity_id}
                identities = (
                    identity_store(self.deps, uow).get_many(self.run.tenant_id, ids) if ids else {}
                )
                discrepancies = []
                operations: list[Operation] = []
                remove: list[str] = []
                keep: list[Shadow] = []
                for shadow in page:
                    self.processed += 1
                    d = self._discrepancy(
                        Situation.DELETED,
                        uid=shadow.uid,
                        identity_id=shadow.identity_id,
                        explanation="the account no longer exists in the system",
                        account_hash=shadow.attributes_hash,
                    )
                    identity = identities.get(shadow.identity_id) if shadow.identity_id else None
                    d, _changed, ops = self._react(uow, d, shadow=shadow, identity=identity)
                    discrepancies.append(d)
                    operations.extend(ops)
                    if d.outcome in (Outcome.APPLIED, Outcome.QUEUED):
                        remove.append(shadow.uid)  # acted on: the record goes with the account
                    else:
                        keep.append(
                            attrs.evolve(
                                shadow, situation=Situation.DELETED, last_run_id=self.run.id
                            )
                        )
                uow.discrepancies.add_many(discrepancies)
                if remove:
                    uow.shadows.delete_many(self.run.tenant_id, self.connector.id, remove)
                if keep:
                    uow.shadows.upsert_many(keep)
                if operations:
                    provisioning.enqueue(uow, operations)
                checkpoint["pass"] = 2
                self._checkpoint(uow, checkpoint)

    # ---------------------------------------------------------------- pass 3

    def _claimed_identities(self) -> set[UUID]:
        """Identities an unlinked or disputed account of this run correlates to."""
        claimed: set[UUID] = set()
        with self.deps.store.unit_of_work() as uow:
            for situation in (Situation.UNLINKED, Situation.DISPUTED):
                cursor = None
                while True:
                    page = uow.shadows.list(
                        self.run.tenant_id,
                        self.connector.id,
                        limit=500,
                        cursor=cursor,
                        situation=situation,
                    )
                    accounts = [
                        (s.uid, s.attributes) for s in page.items if s.last_run_id == self.run.id
                    ]
                    if accounts and self.connector.correlation:
                        found = correlate_batch(
                            identity_store(self.deps, uow),
                            self.run.tenant_id,
                            self.connector.correlation,
                            accounts,
                        )
                        for corr in found.values():
                            claimed.update(corr.candidates)
                    if page.next_cursor is None:
                        break
                    cursor = page.next_cursor
        return claimed

    def _missing(self, checkpoint: dict[str, Any]) -> None:
        """Pass 3: page through the identities (one unit of work per page, keyset cursor
        in the checkpoint), keep those in scope, and ask which have a live account in one
        narrow query per page; the store's own identity table answers both at once."""
        claimed = self._claimed_identities()
        cursor: str | None = checkpoint.get("identity_cursor")
        while True:
            with self.deps.store.unit_of_work() as uow:
                limit = min(PAGE_SIZE, MAX_LIMIT)
                if self.deps.identities is None:
                    # the store's own identities: it leaves the linked ones out itself
                    page = uow.identities.without_live_account(
                        self.run.tenant_id, self.connector.id, limit=limit, cursor=cursor
                    )
                else:
                    page = self.deps.identities.list(self.run.tenant_id, limit=limit, cursor=cursor)
                candidates = [
                    i
                    for i in page.items
                    if i.id not in claimed and provisioning.in_scope(self.connector, i)
                ]
                live = (
                    uow.shadows.live_links(
                        self.run.tenant_id, self.connector.id, [i.id for i in candidates]
                    )
                    if self.deps.identities is not None
                    else set()
                )
                discrepancies = []
                operations: list[Operation] = []
                for identity in candidates:
                    self.processed += 1
                    if identity.id in live:
                        continue
                    d = self._discrepancy(
                        Situation.MISSING,
                        uid=None,
                        identity_id=identity.id,
                        explanation="the identity is in the connector's scope but has no account",
                    )
                    d, _changed, ops = self._react(uow, d, shadow=None, identity=identity)
                    discrepancies.append(d)
                    operations.extend(ops)
                if discrepancies:
                    uow.discrepancies.add_many(discrepancies)
                if operations:
                    provisioning.enqueue(uow, operations)
                cursor = page.next_cursor
                checkpoint.update({"pass": 3, "identity_cursor": cursor})
                self._checkpoint(uow, checkpoint)
            if cursor is None:
                return


class _Apply(_Base):
    """Carry out a report run's plan, re-checking every discrepancy first."""

    def execute(self) -> Run:
        assert self.run.plan_run_id is not None
        checkpoint = dict(self.run.checkpoint or {})
        done = set(checkpoint.get("done", []))
        wanted = set(self.run.discrepancy_ids or ())
        with open_connection(self.deps, self.connector) as conn:
            for page in self._plan_pages():
                todo = [
                    d
                    for d in page
                    if d.status is DiscrepancyStatus.OPEN
                    and str(d.id) not in done
                    and (not wanted or d.id in wanted)
                ]
                if not todo:
                    continue
                with self.deps.store.unit_of_work() as uow:
                    for d in todo:
                        self.processed += 1
                        self._apply_one(uow, conn, d)
                        done.add(str(d.id))
                    self._checkpoint(uow, {"done": sorted(done)})
        return self._finish()

    def _plan_pages(self) -> Iterator[list[Discrepancy]]:
        assert self.run.plan_run_id is not None
        plan_id = self.run.plan_run_id
        cursor = None
        while True:
            with self.deps.store.unit_of_work() as uow:
                page = uow.discrepancies.list(self.run.tenant_id, plan_id, limit=500, cursor=cursor)
            yield list(page.items)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _apply_one(self, uow: UnitOfWork, conn: Any, d: Discrepancy) -> None:
        tenant = self.run.tenant_id
        shadow: Shadow | None = None
        stale = False
        if d.account_uid is not None and d.situation is not Situation.DELETED:
            try:
                current = conn.get(self.object_class_name, d.account_uid)
            except AccountNotFound:
                stale = True
            else:
                digest = mapping_rules.attributes_hash(dict(current.attributes))
                stale = digest != d.account_hash
                shadow = uow.shadows.get_many(tenant, self.connector.id, [d.account_uid]).get(
                    d.account_uid
                )
        elif d.situation is Situation.DELETED and d.account_uid is not None:
            try:
                conn.get(self.object_class_name, d.account_uid)
                stale = True  # it came back
            except AccountNotFound:
                stale = False
        identity = None
        if d.identity_id is not None:
            try:
                identity = identity_store(self.deps, uow).get(tenant, d.identity_id)
            except NotFound:
                stale = True
        if d.situation is Situation.MISSING and identity is not None:
            links = uow.shadows.by_identities(tenant, self.connector.id, [identity.id])
            stale = identity.id in links or not provisioning.in_scope(self.connector, identity)
        mine = attrs.evolve(
            d, id=uuid.uuid4(), run_id=self.run.id, created_at=self.deps.clock.now()
        )
        self.tally[d.situation.value] += 1
        if stale:
            self.tally["stale"] += 1
            uow.discrepancies.add_many([attrs.evolve(mine, outcome=Outcome.STALE)])
            uow.discrepancies.update(attrs.evolve(d, outcome=Outcome.STALE))
            return
        mine, changed, ops = self._react(uow, mine, shadow=shadow, identity=identity)
        if changed is not None:
            uow.shadows.upsert_many([changed])
        if ops:
            provisioning.enqueue(uow, ops)
        uow.discrepancies.add_many([mine])
        uow.discrepancies.update(
            attrs.evolve(
                d,
                outcome=mine.outcome,
                operation_id=mine.operation_id,
                status=mine.status,
                error=mine.error,
            )
        )


# --------------------------------------------------------------------------- helpers


def _normalize(value: Any) -> Any:
    if isinstance(value, list | tuple):
        items = [_normalize(v) for v in value if v is not None and v != ""]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=repr) if items else None
    if value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def _differences(
    wanted: dict[str, Any],
    actual: AbcMapping[str, Any],
    object_class: ObjectClass | None = None,
    *,
    skip: frozenset[str] = frozenset(),
) -> list[Difference]:
    """The wanted values the account does not hold (after ``_normalize``).

    Attributes in ``skip``, or not readable in ``object_class``, are not compared.
    """
    from xavyo_connectors_core.correlation import account_value

    differences = []
    for name, expected in wanted.items():
        if name in skip:
            continue
        if object_class is not None:
            attribute = object_class.attribute(name)
            if attribute is not None and not attribute.readable:
                continue
        have = actual[name] if name in actual else account_value(actual, name)
        if type(expected) is str and type(have) is str and expected and expected == have:
            continue  # the common case, decided without normalizing
        if _normalize(expected) != _normalize(have):
            differences.append(Difference(attribute=name, expected=expected, actual=have))
    return differences


_EXACT_TYPES = frozenset({str, int, float, bool, type(None)})


def same_attributes(stored: AbcMapping[str, Any], read: AbcMapping[str, Any]) -> bool:
    """Whether an account read from the system holds exactly a shadow's stored attributes.

    Exactly: the same names, and values equal with the same types (``1`` is not ``True``
    nor ``1.0``), lists element by element. Anything else (nested objects, datetimes,
    bytes, tuples against lists) answers False, and the caller compares hashes instead.
    """
    if len(stored) != len(read):
        return False
    for name, value in read.items():
        if name not in stored:
            return False
        other = stored[name]
        kind = type(value)
        if kind is not type(other):
            return False
        if kind is list:
            if len(value) != len(other):
                return False
            for a, b in zip(value, other, strict=True):
                if type(a) is not type(b) or type(a) not in _EXACT_TYPES or a != b:
                    return False
        elif kind not in _EXACT_TYPES or value != other:
            return False
    return True


def _identity_attributes(connector: Connector, account_attributes: Any) -> dict[str, Any]:
    values = mapping_rules.inbound_attributes(connector.mappings, dict(account_attributes))
    return {k: v for k, v in values.items() if v is not None}
