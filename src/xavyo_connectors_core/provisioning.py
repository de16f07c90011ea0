"""Outbound provisioning (SPEC §3.7, §3.10): operations, the queue, retries and the DLQ.

Operations come from identity changes (``enqueue_identity_change``), from reconciliation
reactions, and from library calls (``provision``). Workers claim due operations in
batches with a lease; operations of one account are applied in creation order (the store
never hands out an operation while an earlier one of the same account is unfinished or
dead). Transient failures retry with exponential backoff and jitter; permanent ones and
the last attempt go to the dead-letter queue. A connector that keeps failing is
quarantined: its operations pause instead of burning attempts.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import attrs

from xavyo_connectors_core import mappings as mapping_rules
from xavyo_connectors_core.connectors import open_connection
from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.deps import Deps, identity_store
from xavyo_connectors_core.errors import (
    AccountExists,
    AccountNotFound,
    NotFound,
    TargetRejected,
    TargetUnavailable,
    XavyoError,
)
from xavyo_connectors_core.model import (
    AttributeDelta,
    Connector,
    ConnectorHealth,
    DeltaOp,
    Identity,
    LeaveScope,
    Operation,
    OperationKind,
    OperationStatus,
    Page,
    Role,
    Shadow,
    Situation,
)
from xavyo_connectors_core.pagination import check_limit
from xavyo_connectors_core.ports import UnitOfWork
from xavyo_connectors_core.spi import Connection, ConnectorObject

log = logging.getLogger(__name__)

QUARANTINE_AFTER = 5
"""Consecutive transient failures of a connector before it is quarantined."""
QUARANTINE_BASE_SECONDS = 5.0
QUARANTINE_MAX_SECONDS = 600.0
_RANDOM = random.Random()  # noqa: S311 - jitter, not cryptography
UNFINISHED = (
    OperationStatus.PENDING,
    OperationStatus.RETRYING,
    OperationStatus.IN_PROGRESS,
    OperationStatus.DEAD,
)


# --------------------------------------------------------------------------- pure rules


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Delay before retry number ``attempt`` (1-based): base·2^(attempt-1), capped, jittered.

    Equal jitter: half the exponential step is fixed and half random, so delays grow and
    concurrent retries spread out.
    """
    step = float(min(cap, base * 2.0 ** min(max(0, attempt - 1), 64)))
    jitter: float = (rng or _RANDOM).uniform(0, step / 2)
    return step / 2 + jitter


def quarantine_seconds(consecutive_failures: int) -> float:
    """How long a failing connector pauses: doubles with every failure past the threshold."""
    over = min(max(0, consecutive_failures - QUARANTINE_AFTER), 32)  # capped before 2**n
    return float(min(QUARANTINE_MAX_SECONDS, QUARANTINE_BASE_SECONDS * (2**over)))


def coalesce(
    earlier: Sequence[AttributeDelta], later: Sequence[AttributeDelta]
) -> tuple[AttributeDelta, ...]:
    """Merge two pending updates of one account into one with the same effect.

    A later ``replace`` of an attribute supersedes every earlier delta of it; later
    ``add``/``remove`` deltas are kept after the earlier ones, in order.
    """
    replaced = {d.attribute for d in later if d.op is DeltaOp.REPLACE}
    return tuple(d for d in earlier if d.attribute not in replaced) + tuple(later)


def replace_deltas(attributes: Mapping[str, Any]) -> tuple[AttributeDelta, ...]:
    """Replace deltas setting each attribute to its value (a list is several values)."""
    deltas = []
    for name in sorted(attributes):
        value = attributes[name]
        values = (
            tuple(value) if isinstance(value, list | tuple) else (() if value is None else (value,))
        )
        deltas.append(AttributeDelta(attribute=name, op=DeltaOp.REPLACE, values=values))
    return tuple(deltas)


def _json_key(value: Any) -> str:
    """JSON identity of a value: ``1`` is not ``True``, key order does not matter."""
    return json.dumps(value, sort_keys=True, default=str)


def changed_attributes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes whose values differ (removed ones map to None)."""
    changed = {
        k: v for k, v in after.items() if k not in before or _json_key(before[k]) != _json_key(v)
    }
    changed.update({k: None for k in before if k not in after})
    return changed


def _drifted(account: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The mapped attributes whose account value differs from what the mappings want."""
    return {
        k: v for k, v in wanted.items() if k not in account or _json_key(account[k]) != _json_key(v)
    }


def in_scope(connector: Connector, identity: Identity | None) -> bool:
    """Whether ``identity`` should have an account on the target ``connector``."""
    if identity is None or not identity.enabled:
        return False
    return bool(mapping_rules.in_scope(connector.scope, dict(identity.attributes)))


def account_key(identity_id: UUID | None, uid: str | None) -> str:
    """Operations with the same key are applied in order (SPEC §3.7)."""
    return f"i:{identity_id}" if identity_id is not None else f"u:{uid}"


def plan_identity_change(
    connector: Connector,
    before: Identity | None,
    after: Identity | None,
    link: Shadow | None,
) -> tuple[OperationKind, tuple[AttributeDelta, ...]] | None:
    """What one identity change means for one target connector (None: nothing to do)."""
    was_in = in_scope(connector, before)
    now_in = in_scope(connector, after)
    if now_in:
        assert after is not None
        wanted = mapping_rules.outbound_attributes(connector.mappings, dict(after.attributes))
        if (link is None and not was_in) or (
            link is not None and not was_in and connector.on_leave_scope is LeaveScope.DELETE
        ):
            # (a returning identity whose account's delete may still be queued: create it
            # again after the delete, in order; a create that finds it links and updates)
            return OperationKind.CREATE, replace_deltas(wanted)
        if link is None and was_in:
            # the create may still be in the queue: an update behind it, in order
            previous = mapping_rules.outbound_attributes(
                connector.mappings, dict(before.attributes) if before else {}
            )
            diff = changed_attributes(previous, wanted)
            return (OperationKind.UPDATE, replace_deltas(diff)) if diff else None
        if not was_in and link is not None:
            return OperationKind.ENABLE, replace_deltas(_drifted(dict(link.attributes), wanted))
        previous = (
            mapping_rules.outbound_attributes(connector.mappings, dict(before.attributes))
            if before is not None
            else {}
        )
        diff = changed_attributes(previous, wanted)
        return (OperationKind.UPDATE, replace_deltas(diff)) if diff else None
    if was_in:
        if connector.on_leave_scope is LeaveScope.DELETE:
            return OperationKind.DELETE, ()
        return OperationKind.DISABLE, ()
    return None


# --------------------------------------------------------------------------- enqueueing


def new_operation(
    deps: Deps,
    connector: Connector,
    kind: OperationKind,
    *,
    identity_id: UUID | None,
    account_uid: str | None,
    changes: tuple[AttributeDelta, ...],
    reason: str,
) -> Operation:
    now = deps.clock.now()
    return Operation(
        id=uuid.uuid4(),
        tenant_id=connector.tenant_id,
        connector_id=connector.id,
        kind=kind,
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
        account_uid=account_uid,
        identity_id=identity_id,
        changes=changes,
        max_attempts=connector.max_attempts,
        reason=reason,
    )


def enqueue(uow: UnitOfWork, operations: Iterable[Operation]) -> list[Operation]:
    """Enqueue operations, coalescing an update into a still-pending update of its account."""
    stored: list[Operation] = []
    fresh: list[Operation] = []
    for op in operations:
        if op.kind is OperationKind.UPDATE:
            latest = uow.operations.latest_for_account(
                op.tenant_id, op.connector_id, account_key(op.identity_id, op.account_uid)
            )
            if (
                latest is not None
                and latest.kind is OperationKind.UPDATE
                and latest.status is OperationStatus.PENDING
                and latest.attempts == 0
            ):
                merged = attrs.evolve(
                    latest,
                    changes=coalesce(latest.changes, op.changes),
                    reason=f"{latest.reason}; {op.reason}"[-500:],
                    updated_at=op.updated_at,
                )
                uow.operations.update(merged)
                stored.append(merged)
                continue
        fresh.append(op)
    if fresh:
        uow.operations.enqueue_many(fresh)
        stored.extend(fresh)
    return stored


def target_connectors(uow: UnitOfWork, tenant_id: UUID) -> list[Connector]:
    """Every target connector of the tenant (disabled ones too: their operations wait)."""
    found: list[Connector] = []
    cursor = None
    while True:
        page = uow.connectors.list(tenant_id, limit=500, cursor=cursor, role=Role.TARGET)
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def enqueue_identity_change(
    deps: Deps,
    uow: UnitOfWork,
    before: Identity | None,
    after: Identity | None,
    *,
    reason: str,
) -> list[Operation]:
    """Queue what one identity change means for every target connector, in ``uow``.

    Creating a target connector provisions nothing by itself; only changes made after it
    exists are queued here (existing identities reach it through reconciliation).
    """
    return enqueue_identity_changes(deps, uow, [(before, after)], reason=reason)


def enqueue_identity_changes(
    deps: Deps,
    uow: UnitOfWork,
    changes: Sequence[tuple[Identity | None, Identity | None]],
    *,
    reason: str,
) -> list[Operation]:
    """Queue what a batch of ``(before, after)`` identity changes means, in ``uow``.

    The target connectors are read once and the links looked up once per connector, so a
    sync batch costs a few queries, not a few per identity.
    """
    changes = [(b, a) for b, a in changes if (a or b) is not None]
    if not changes:
        return []
    tenant_id = next(a or b for b, a in changes if (a or b) is not None).tenant_id  # type: ignore[union-attr]
    targets = [c for c in target_connectors(uow, tenant_id) if c.mappings]
    ops = []
    for connector in targets:
        ids = [(a or b).id for b, a in changes]  # type: ignore[union-attr]
        links = uow.shadows.by_identities(tenant_id, connector.id, ids)
        for before, after in changes:
            identity = after or before
            assert identity is not None
            link = links.get(identity.id)
            plan = plan_identity_change(connector, before, after, link)
            if plan is None:
                continue
            kind, deltas = plan
            ops.append(
                new_operation(
                    deps,
                    connector,
                    kind,
                    identity_id=identity.id,
                    account_uid=link.uid if link else None,
                    changes=deltas,
                    reason=reason,
                )
            )
    return enqueue(uow, ops)


def provision(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    kind: OperationKind,
    *,
    identity_id: UUID | None = None,
    account_uid: str | None = None,
    changes: Sequence[AttributeDelta] | None = None,
    reason: str = "library call",
) -> Operation:
    """Queue one operation (the library call of SPEC §3.7).

    For ``create``/``update`` of an identity without explicit ``changes``, the changes come
    from the connector's outbound mappings.
    """
    with deps.store.unit_of_work() as uow:
        connector = uow.connectors.get(tenant_id, connector_id)
        if identity_id is None and account_uid is None:
            from xavyo_connectors_core.errors import FieldError, InvalidInput

            raise InvalidInput(
                [FieldError("identity_id", "identity_id or account_uid is required")]
            )
        if identity_id is not None:
            identity = identity_store(deps, uow).get(tenant_id, identity_id)
            if changes is None and kind in (OperationKind.CREATE, OperationKind.UPDATE):
                changes = replace_deltas(
                    mapping_rules.outbound_attributes(connector.mappings, dict(identity.attributes))
                )
            link = uow.shadows.by_identities(tenant_id, connector_id, [identity_id]).get(
                identity_id
            )
            account_uid = account_uid or (link.uid if link else None)
        op = new_operation(
            deps,
            connector,
            kind,
            identity_id=identity_id,
            account_uid=account_uid,
            changes=tuple(changes or ()),
            reason=reason,
        )
        stored = enqueue(uow, [op])
        uow.commit()
    return stored[0]


# --------------------------------------------------------------------------- execution


class RateLimiter:
    """Per-connector token buckets (``max_operations_per_second``), per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[UUID, tuple[float, float]] = {}

    def wait(self, connector: Connector) -> None:
        rate = connector.max_operations_per_second
        if not rate:
            return
        while True:
            with self._lock:
                tokens, stamp = self._buckets.get(connector.id, (max(1.0, rate), time.monotonic()))
                now = time.monotonic()
                tokens = min(max(1.0, rate), tokens + (now - stamp) * rate)
                if tokens >= 1.0:
                    self._buckets[connector.id] = (tokens - 1.0, now)
                    return
                self._buckets[connector.id] = (tokens, now)
                delay = (1.0 - tokens) / rate
            time.sleep(delay)


@attrs.define
class Outcome:
    """What applying one operation gave."""

    operation: Operation
    shadow: Shadow | None = None
    delete_uid: str | None = None
    transient: bool = False
    retry_after: float | None = None


class Provisioner:
    """Claims due operations and applies them to their targets."""

    def __init__(
        self,
        deps: Deps,
        *,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        batch_size: int = 50,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.deps = deps
        self.owner = owner or f"prov-{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self.batch_size = batch_size
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.limiter = limiter or RateLimiter()

    def claim(self) -> list[Operation]:
        with self.deps.store.unit_of_work() as uow:
            ops = uow.operations.claim_due(
                self.owner, self.deps.clock.now(), self.lease_seconds, self.batch_size
            )
            uow.commit()
        return list(ops)

    def run_batch(self) -> int:
        """Claim one batch and apply it; return how many operations were processed."""
        ops = self.claim()
        if not ops:
            return 0
        by_connector: dict[tuple[UUID, UUID], list[Operation]] = {}
        for op in ops:
            by_connector.setdefault((op.tenant_id, op.connector_id), []).append(op)
        for (tenant_id, connector_id), group in by_connector.items():
            self._run_group(tenant_id, connector_id, sorted(group, key=lambda o: o.seq))
        return len(ops)

    def drain(self, *, max_batches: int | None = None) -> int:
        """Process due operations until none is left; return how many were processed."""
        total = batches = 0
        while max_batches is None or batches < max_batches:
            done = self.run_batch()
            if not done:
                break
            total += done
            batches += 1
        return total

    def run_forever(self, stop: threading.Event, *, idle_seconds: float = 0.5) -> None:
        """Claim and apply batches until ``stop`` is set."""
        while not stop.is_set():
            try:
                if self.run_batch():
                    continue
            except Exception:
                log.exception("provisioning loop error; retrying")
            stop.wait(idle_seconds)

    def _run_group(self, tenant_id: UUID, connector_id: UUID, ops: list[Operation]) -> None:
        try:
            with self.deps.store.unit_of_work() as uow:
                connector = uow.connectors.get(tenant_id, connector_id)
        except NotFound:
            self._finish([Outcome(self._dead(op, "connector deleted", None)) for op in ops], None)
            return
        outcomes: list[Outcome] = []
        try:
            conn_cm = open_connection(self.deps, connector)
            conn = conn_cm.__enter__()
        except XavyoError as exc:
            outcomes = [self._failure(connector, op, exc) for op in ops]
            self._finish(outcomes, connector)
            return
        try:
            failed_keys: set[str] = set()
            pause = False
            for op in ops:
                key = account_key(op.identity_id, op.account_uid)
                if pause or key in failed_keys:
                    # the target is struggling (or an earlier operation of this account just
                    # failed): hand the operation back untouched instead of burning attempts
                    outcomes.append(Outcome(self._release(op)))
                    continue
                self.limiter.wait(connector)
                outcome = self._apply(connector, conn, op)
                if outcome.operation.status is not OperationStatus.SUCCEEDED:
                    failed_keys.add(key)
                pause = outcome.transient
                outcomes.append(outcome)
        finally:
            conn_cm.__exit__(None, None, None)
        self._finish(outcomes, connector)

    def _apply(self, connector: Connector, conn: Connection, op: Operation) -> Outcome:
        ctype = self.deps.registry.get(connector.type)
        oc = ctype.account_object_class(connector.config)
        uid = op.account_uid
        if uid is None and op.identity_id is not None:
            with self.deps.store.unit_of_work() as uow:
                link = uow.shadows.by_identities(
                    op.tenant_id, op.connector_id, [op.identity_id]
                ).get(op.identity_id)
            uid = link.uid if link else None
        try:
            if op.kind is OperationKind.CREATE:
                if uid is not None:
                    obj = conn.update(oc, uid, op.changes)
                    response = f"account {uid} already linked; updated"
                else:
                    try:
                        obj = conn.create(oc, _attributes_of(op.changes))
                        response = f"created account {obj.uid}"
                    except AccountExists as exists:
                        if exists.uid is None:
                            raise TargetRejected(
                                "the account already exists and its uid is unknown"
                            ) from None
                        obj = conn.update(oc, exists.uid, op.changes)
                        response = f"account {exists.uid} already existed; linked and updated"
                return self._succeeded(connector, op, obj, response)
            if uid is None:
                if op.kind in (OperationKind.DELETE, OperationKind.DISABLE):
                    return self._succeeded(connector, op, None, "no account to act on")
                raise TargetRejected("no account is linked to this identity")
            if op.kind is OperationKind.UPDATE:
                obj = conn.update(oc, uid, op.changes)
                return self._succeeded(connector, op, obj, f"updated account {uid}")
            if op.kind is OperationKind.DELETE:
                try:
                    conn.delete(oc, uid)
                    response = f"deleted account {uid}"
                except AccountNotFound:
                    response = f"account {uid} was already gone"
                out = self._succeeded(connector, op, None, response)
                out.delete_uid = uid
                return out
            enabled = op.kind is OperationKind.ENABLE
            obj = _set_enabled(ctype, connector, conn, oc, uid, enabled)
            if op.changes:
                obj = conn.update(oc, uid, op.changes)
            return self._succeeded(
                connector, op, obj, f"{'enabled' if enabled else 'disabled'} account {uid}"
            )
        except AccountNotFound as exc:
            return Outcome(self._dead(op, f"account not found: {exc.detail}", exc.detail))
        except XavyoError as exc:
            return self._failure(connector, op, exc)
        except Exception as exc:  # a connector bug is permanent for this operation
            log.exception("operation %s failed unexpectedly", op.id)
            return Outcome(self._dead(op, f"unexpected error: {type(exc).__name__}", None))

    # ----------------------------------------------------------------- outcomes

    def _succeeded(
        self, connector: Connector, op: Operation, obj: ConnectorObject | None, response: str
    ) -> Outcome:
        now = self.deps.clock.now()
        done = attrs.evolve(
            op,
            status=OperationStatus.SUCCEEDED,
            attempts=op.attempts + 1,
            updated_at=now,
            last_response=response[:2000],
            last_error=None,
            lease_owner=None,
            lease_expires_at=None,
            account_uid=obj.uid if obj is not None else op.account_uid,
        )
        shadow = None
        if obj is not None:
            shadow = Shadow(
                tenant_id=op.tenant_id,
                connector_id=op.connector_id,
                uid=obj.uid,
                name=obj.name,
                attributes=dict(obj.attributes),
                attributes_hash=mapping_rules.attributes_hash(dict(obj.attributes)),
                situation=Situation.LINKED if op.identity_id else Situation.UNMATCHED,
                last_seen_at=now,
                identity_id=op.identity_id,
            )
        return Outcome(done, shadow=shadow)

    def _failure(self, connector: Connector, op: Operation, exc: XavyoError) -> Outcome:
        transient = isinstance(exc, TargetUnavailable)
        message = exc.detail[:2000]
        attempts = op.attempts + 1
        if not transient or attempts >= op.max_attempts:
            return Outcome(self._dead(op, message, message, attempts=attempts), transient=transient)
        retry_after = exc.retry_after if isinstance(exc, TargetUnavailable) else None
        delay = backoff_delay(
            attempts,
            base=connector.retry_base_seconds,
            cap=connector.retry_max_seconds,
            rng=self.rng,
        )
        if retry_after is not None and retry_after > 0:
            delay = retry_after  # the target said when: obey it
        now = self.deps.clock.now()
        return Outcome(
            attrs.evolve(
                op,
                status=OperationStatus.RETRYING,
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error=message,
                last_response=message,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
            ),
            transient=True,
            retry_after=retry_after,
        )

    def _dead(
        self, op: Operation, error: str, response: str | None, *, attempts: int | None = None
    ) -> Operation:
        return attrs.evolve(
            op,
            status=OperationStatus.DEAD,
            attempts=op.attempts + 1 if attempts is None else attempts,
            last_error=error[:2000],
            last_response=(response or error)[:2000],
            updated_at=self.deps.clock.now(),
            lease_owner=None,
            lease_expires_at=None,
        )

    def _release(self, op: Operation) -> Operation:
        return attrs.evolve(
            op,
            status=OperationStatus.RETRYING if op.attempts else OperationStatus.PENDING,
            lease_owner=None,
            lease_expires_at=None,
        )

    def _finish(self, outcomes: list[Outcome], connector: Connector | None) -> None:
        now = self.deps.clock.now()
        with self.deps.store.unit_of_work() as uow:
            outcomes = [o for o in outcomes if self._ack(uow, o.operation)]
            shadows = [o.shadow for o in outcomes if o.shadow is not None]
            if shadows:
                uow.shadows.upsert_many(shadows)
            for out in outcomes:
                if out.delete_uid is not None and connector is not None:
                    uow.shadows.delete_many(connector.tenant_id, connector.id, [out.delete_uid])
            if connector is not None:
                self._update_health(uow, connector, outcomes, now)
            uow.commit()

    def _ack(self, uow: UnitOfWork, operation: Operation) -> bool:
        """The lease fence: only the worker holding an operation records its outcome.

        A worker whose lease expired (and whose operation another worker claimed) must not
        mark it finished, or the account's next operation would overtake it. The store
        checks the holder in the same statement that writes.
        """
        if uow.operations.ack(operation, self.owner):
            return True
        log.warning("operation %s is no longer ours (lease lost); outcome dropped", operation.id)
        return False

    def _update_health(
        self, uow: UnitOfWork, connector: Connector, outcomes: list[Outcome], now: datetime
    ) -> None:
        health = uow.operations.get_health(connector.tenant_id, connector.id) or ConnectorHealth(
            tenant_id=connector.tenant_id, connector_id=connector.id
        )
        failures = health.consecutive_failures
        for out in outcomes:
            if out.operation.status is OperationStatus.SUCCEEDED:
                failures = 0
            elif out.transient:
                failures += 1
        until = health.quarantined_until
        if failures >= QUARANTINE_AFTER:
            until = now + timedelta(seconds=quarantine_seconds(failures))
        elif failures == 0:
            until = None
        retry_after = max((o.retry_after or 0 for o in outcomes), default=0)
        if retry_after:
            pause = now + timedelta(seconds=retry_after)
            until = max(until, pause) if until else pause
        updated = attrs.evolve(health, consecutive_failures=failures, quarantined_until=until)
        if (
            updated != health
            or uow.operations.get_health(connector.tenant_id, connector.id) is None
        ):
            uow.operations.put_health(updated)


def _set_enabled(
    ctype: Any, connector: Connector, conn: Connection, oc: str, uid: str, enabled: bool
) -> ConnectorObject:
    """Enable or disable an account: the connection's own way, else its enabled attribute."""
    setter = getattr(conn, "set_enabled", None)
    if callable(setter):
        result: ConnectorObject = setter(oc, uid, enabled)
        return result
    attribute_of = getattr(ctype, "enabled_attribute", None)
    attribute = attribute_of(connector.config) if callable(attribute_of) else None
    if not attribute:
        raise TargetRejected(f"the {connector.type} connector cannot enable or disable accounts")
    delta = AttributeDelta(attribute=attribute, op=DeltaOp.REPLACE, values=(enabled,))
    return conn.update(oc, uid, [delta])


def _attributes_of(changes: Sequence[AttributeDelta]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for delta in changes:
        if delta.op is DeltaOp.REMOVE or not delta.values:
            continue
        attributes[delta.attribute] = (
            delta.values[0] if len(delta.values) == 1 else list(delta.values)
        )
    return attributes


# --------------------------------------------------------------------------- reads, DLQ


def get_operation(deps: Deps, tenant_id: UUID, operation_id: UUID) -> Operation:
    with deps.store.unit_of_work() as uow:
        return uow.operations.get(tenant_id, operation_id)


def list_dead(
    deps: Deps,
    tenant_id: UUID,
    *,
    connector_id: UUID | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Operation]:
    check_limit(limit)
    with deps.store.unit_of_work() as uow:
        return uow.operations.list(
            tenant_id,
            limit=limit,
            cursor=cursor,
            statuses=[OperationStatus.DEAD],
            connector_id=connector_id,
        )


def waiting_behind(deps: Deps, operation: Operation) -> int:
    with deps.store.unit_of_work() as uow:
        return uow.operations.count_behind(operation)


def retry_dead(deps: Deps, tenant_id: UUID, operation_id: UUID) -> Operation:
    """Put a dead operation back in the queue with its attempts reset."""
    with deps.store.unit_of_work() as uow:
        op = uow.operations.get(tenant_id, operation_id)
        if op.status is not OperationStatus.DEAD:
            raise NotFound("no such dead operation")
        now = deps.clock.now()
        again = attrs.evolve(
            op, status=OperationStatus.PENDING, attempts=0, next_attempt_at=now, updated_at=now
        )
        uow.operations.update(again)
        uow.commit()
    return again


def discard_dead(deps: Deps, tenant_id: UUID, operation_id: UUID) -> Operation:
    """Discard a dead operation: kept with status ``discarded`` for audit."""
    with deps.store.unit_of_work() as uow:
        op = uow.operations.get(tenant_id, operation_id)
        if op.status is not OperationStatus.DEAD:
            raise NotFound("no such dead operation")
        gone = attrs.evolve(op, status=OperationStatus.DISCARDED, updated_at=deps.clock.now())
        uow.operations.update(gone)
        uow.commit()
    return gone


def queue_stats(deps: Deps, tenant_id: UUID) -> dict[str, Any]:
    with deps.store.unit_of_work() as uow:
        return uow.operations.stats(tenant_id, deps.clock.now())


def operation_document(op: Operation, *, waiting: int | None = None) -> dict[str, Any]:
    """The operation document of SPEC §4.4."""
    doc: dict[str, Any] = {
        "id": str(op.id),
        "connector_id": str(op.connector_id),
        "kind": op.kind.value,
        "account_uid": op.account_uid,
        "identity_id": str(op.identity_id) if op.identity_id else None,
        "changes": converter.unstructure(op.changes, tuple[AttributeDelta, ...]),
        "status": op.status.value,
        "attempts": op.attempts,
        "max_attempts": op.max_attempts,
        "next_attempt_at": converter.unstructure(op.next_attempt_at),
        "last_error": op.last_error,
        "last_response": op.last_response,
        "reason": op.reason,
        "created_at": converter.unstructure(op.created_at),
        "updated_at": converter.unstructure(op.updated_at),
    }
    if waiting is not None:
        doc["waiting_behind"] = waiting
    return doc
