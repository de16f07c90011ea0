"""The domain model: a frozen attrs class for every concept in SPEC §2.

Objects are immutable; change them with ``attrs.evolve``. Every datetime is aware UTC.
Serialization goes through the one converter in ``converter.py``; no class here knows
about JSON, rows or HTTP.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping as AbcMapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from attrs import field, frozen

from xavyo_connectors_core.errors import FieldError

T = TypeVar("T")

IDENTITY_ATTRIBUTE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
"""Identity attribute names (SPEC §2)."""

JsonScalar = str | int | float | bool | None
AttributeValue = Any
"""An account or identity attribute value: a scalar or a list of scalars."""


def _aware(_instance: object, attribute: Any, value: Any) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{attribute.name} must be an aware UTC datetime")


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are rejected)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


class Role(enum.StrEnum):
    SOURCE = "source"
    TARGET = "target"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    BOTH = "both"

    @property
    def inbound(self) -> bool:
        return self is not Direction.OUTBOUND

    @property
    def outbound(self) -> bool:
        return self is not Direction.INBOUND


class AttributeType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    BINARY = "binary"
    REFERENCE = "reference"


class Situation(enum.StrEnum):
    LINKED = "linked"
    UNLINKED = "unlinked"
    UNMATCHED = "unmatched"
    DISPUTED = "disputed"
    DELETED = "deleted"
    MISSING = "missing"
    MISMATCHED = "mismatched"
    COLLISION = "collision"


class Reaction(enum.StrEnum):
    NONE = "none"
    UPDATE_IDENTITY = "update_identity"
    LINK = "link"
    REPORT = "report"
    CREATE_IDENTITY = "create_identity"
    DISABLE_ACCOUNT = "disable_account"
    DELETE_ACCOUNT = "delete_account"
    DISABLE_IDENTITY = "disable_identity"
    UNLINK = "unlink"
    PROVISION = "provision"
    UPDATE_ACCOUNT = "update_account"


ALLOWED_REACTIONS: dict[tuple[Situation, Role], tuple[Reaction, ...]] = {
    (Situation.LINKED, Role.SOURCE): (Reaction.UPDATE_IDENTITY,),
    (Situation.LINKED, Role.TARGET): (Reaction.NONE,),
    (Situation.UNLINKED, Role.SOURCE): (Reaction.LINK, Reaction.REPORT),
    (Situation.UNLINKED, Role.TARGET): (Reaction.LINK, Reaction.REPORT),
    (Situation.UNMATCHED, Role.SOURCE): (Reaction.CREATE_IDENTITY, Reaction.REPORT),
    (Situation.UNMATCHED, Role.TARGET): (
        Reaction.REPORT,
        Reaction.DISABLE_ACCOUNT,
        Reaction.DELETE_ACCOUNT,
    ),
    (Situation.DISPUTED, Role.SOURCE): (Reaction.REPORT,),
    (Situation.DISPUTED, Role.TARGET): (Reaction.REPORT,),
    (Situation.DELETED, Role.SOURCE): (
        Reaction.DISABLE_IDENTITY,
        Reaction.UNLINK,
        Reaction.REPORT,
    ),
    (Situation.DELETED, Role.TARGET): (Reaction.UNLINK, Reaction.REPORT),
    (Situation.MISSING, Role.TARGET): (Reaction.PROVISION, Reaction.REPORT),
    (Situation.MISMATCHED, Role.TARGET): (Reaction.UPDATE_ACCOUNT, Reaction.REPORT),
    (Situation.COLLISION, Role.SOURCE): (Reaction.REPORT,),
    (Situation.COLLISION, Role.TARGET): (Reaction.REPORT,),
}
"""SPEC §3.5: the reactions allowed per (situation, role); the first is the default."""


def default_reaction(situation: Situation, role: Role) -> Reaction | None:
    """The default reaction of SPEC §3.5, or None when the situation cannot occur."""
    allowed = ALLOWED_REACTIONS.get((situation, role))
    return allowed[0] if allowed else None


class ScopeOp(enum.StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    PRESENT = "present"
    ABSENT = "absent"


class LeaveScope(enum.StrEnum):
    DISABLE = "disable"
    DELETE = "delete"


class RunKind(enum.StrEnum):
    SYNC = "sync"
    RECONCILIATION = "reconciliation"


class RunMode(enum.StrEnum):
    INCREMENTAL = "incremental"
    FULL = "full"
    REPORT = "report"
    REMEDIATE = "remediate"
    APPLY = "apply"


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


class Outcome(enum.StrEnum):
    NONE = "none"
    QUEUED = "queued"
    APPLIED = "applied"
    FAILED = "failed"
    STALE = "stale"


class DiscrepancyStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class OperationKind(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ENABLE = "enable"
    DISABLE = "disable"


class OperationStatus(enum.StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    DEAD = "dead"
    DISCARDED = "discarded"

    @property
    def finished(self) -> bool:
        return self in (OperationStatus.SUCCEEDED, OperationStatus.DISCARDED)


class DeltaOp(enum.StrEnum):
    REPLACE = "replace"
    ADD = "add"
    REMOVE = "remove"


class TokenRole(enum.StrEnum):
    ADMIN = "admin"
    READER = "reader"


class Capability(enum.StrEnum):
    SCHEMA = "schema"
    SEARCH = "search"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    CHANGES = "changes"
    DISABLE = "disable"


# --------------------------------------------------------------------------- tenancy


@frozen
class Tenant:
    """An isolation boundary: every record belongs to exactly one tenant."""

    id: UUID
    slug: str
    created_at: datetime = field(validator=_aware)


@frozen
class Principal:
    """Who is calling: a tenant and a role."""

    tenant_id: UUID
    role: TokenRole


@frozen
class ApiToken:
    """An API token, stored as the SHA-256 digest of its random 256-bit value."""

    id: UUID
    tenant_id: UUID
    role: TokenRole
    digest: str
    name: str
    created_at: datetime = field(validator=_aware)


# --------------------------------------------------------------------------- connectors


@frozen
class SealedSecret:
    """One AES-256-GCM sealed secret value with the id of the key that sealed it."""

    kid: str
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)


def _transform(value: Any) -> tuple[str, ...] | None:
    """An empty transform list means no transform."""
    if value is None:
        return None
    return tuple(value) or None


@frozen
class Mapping:
    """How one identity attribute (or a template) and one account attribute correspond."""

    account: str
    identity: str | None = None
    direction: Direction = Direction.BOTH
    transform: tuple[str, ...] | None = field(default=None, converter=_transform)
    template: str | None = None


@frozen
class CorrelationRule:
    """Find the identity an unlinked account belongs to: identity attr == account attr."""

    identity: str
    account: str
    transform: tuple[str, ...] | None = field(default=None, converter=_transform)


@frozen
class ScopeCondition:
    """One AND-ed condition on identity attributes deciding who belongs on a target."""

    identity: str
    op: ScopeOp = ScopeOp.EQ
    value: Any = None


@frozen
class TestResult:
    """The stored result of a connection test."""

    __test__ = False  # not a pytest class

    ok: bool
    latency_ms: int
    message: str
    tested_at: datetime = field(validator=_aware)


@frozen
class Connector:
    """A configured, credentialed connection to one external system, for one tenant."""

    id: UUID
    tenant_id: UUID
    name: str
    type: str
    role: Role
    config: AbcMapping[str, Any]
    created_at: datetime = field(validator=_aware)
    updated_at: datetime = field(validator=_aware)
    description: str = ""
    enabled: bool = True
    secrets: AbcMapping[str, SealedSecret] = field(factory=dict, repr=False)
    mappings: tuple[Mapping, ...] = ()
    correlation: tuple[CorrelationRule, ...] = ()
    reactions: AbcMapping[Situation, Reaction] = field(factory=dict)
    scope: tuple[ScopeCondition, ...] | None = None
    on_leave_scope: LeaveScope | None = None
    sync_interval_seconds: int | None = None
    max_deletions: int | None = None
    max_deletion_ratio: float = 0.2
    max_operations_per_second: float | None = None
    max_attempts: int = 8
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0
    last_test: TestResult | None = None
    schema_discovered_at: datetime | None = field(default=None, validator=_aware)
    needs_attention: tuple[FieldError, ...] | None = None
    version: int = 1

    def reaction_for(self, situation: Situation) -> Reaction | None:
        """The configured reaction for ``situation``, else the SPEC §3.5 default."""
        return self.reactions.get(situation) or default_reaction(situation, self.role)


# --------------------------------------------------------------------------- schema


@frozen
class Attribute:
    """One attribute of an object class as the system describes it."""

    name: str
    type: AttributeType = AttributeType.STRING
    multivalued: bool = False
    required: bool = False
    readable: bool = True
    creatable: bool = True
    updateable: bool = True
    returned_by_default: bool = True


@frozen
class ObjectClass:
    """A kind of object in the system, its attributes, and which is the uid / the name."""

    name: str
    uid_attribute: str
    name_attribute: str
    attributes: tuple[Attribute, ...] = ()

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called ``name`` (case-insensitive), or None."""
        folded = name.casefold()
        for attribute in self.attributes:
            if attribute.name.casefold() == folded:
                return attribute
        return None


@frozen
class Schema:
    """What the system holds, with when it was discovered."""

    object_classes: tuple[ObjectClass, ...]
    discovered_at: datetime = field(validator=_aware)

    def object_class(self, name: str) -> ObjectClass | None:
        folded = name.casefold()
        for oc in self.object_classes:
            if oc.name.casefold() == folded:
                return oc
        return None


@frozen
class AttributeDiff:
    """An attribute whose type or flags changed between two schema versions."""

    attribute: str
    before: Attribute
    after: Attribute


@frozen
class SchemaDiff:
    """What changed between two discoveries."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[AttributeDiff, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


@frozen
class SchemaVersion:
    """One stored discovery of a connector's schema, with its diff from the previous."""

    tenant_id: UUID
    connector_id: UUID
    version: int
    schema: Schema
    diff: SchemaDiff
    discovered_at: datetime = field(validator=_aware)


# --------------------------------------------------------------------------- accounts


@frozen
class Shadow:
    """Our stored record of one account of one connector."""

    tenant_id: UUID
    connector_id: UUID
    uid: str
    name: str
    attributes: AbcMapping[str, Any]
    attributes_hash: str
    situation: Situation
    last_seen_at: datetime = field(validator=_aware)
    identity_id: UUID | None = None
    last_run_id: UUID | None = None


@frozen
class Identity:
    """A user of the identity provider."""

    id: UUID
    tenant_id: UUID
    attributes: AbcMapping[str, Any]
    created_at: datetime = field(validator=_aware)
    updated_at: datetime = field(validator=_aware)
    enabled: bool = True
    version: int = 1


# --------------------------------------------------------------------------- runs


@frozen
class Progress:
    processed: int = 0
    total: int | None = None


@frozen
class ActionCounts:
    queued: int = 0
    applied: int = 0
    failed: int = 0


@frozen
class Run:
    """A persisted unit of long work: a sync or a reconciliation run."""

    id: UUID
    tenant_id: UUID
    connector_id: UUID
    kind: RunKind
    mode: RunMode
    queued_at: datetime = field(validator=_aware)
    status: RunStatus = RunStatus.QUEUED
    progress: Progress = Progress()
    counts: AbcMapping[str, int] = field(factory=dict)
    actions: ActionCounts = ActionCounts()
    plan_run_id: UUID | None = None
    discrepancy_ids: tuple[UUID, ...] | None = None
    allow_mass_deletion: bool = False
    scheduled_slot: int | None = None
    """For scheduled syncs: ``floor(queued time / interval)``; unique per connector."""
    error: str | None = None
    checkpoint: AbcMapping[str, Any] | None = None
    cancel_requested: bool = False
    lease_owner: str | None = None
    lease_expires_at: datetime | None = field(default=None, validator=_aware)
    started_at: datetime | None = field(default=None, validator=_aware)
    finished_at: datetime | None = field(default=None, validator=_aware)


@frozen
class Difference:
    """One attribute that differs between what the mappings expect and the account holds."""

    attribute: str
    expected: Any
    actual: Any


@frozen
class Discrepancy:
    """A situation other than ``linked`` found by a run; never skipped silently."""

    id: UUID
    tenant_id: UUID
    run_id: UUID
    connector_id: UUID
    situation: Situation
    created_at: datetime = field(validator=_aware)
    account_uid: str | None = None
    identity_id: UUID | None = None
    differences: tuple[Difference, ...] = ()
    explanation: str = ""
    reaction: Reaction = Reaction.REPORT
    outcome: Outcome = Outcome.NONE
    operation_id: UUID | None = None
    status: DiscrepancyStatus = DiscrepancyStatus.OPEN
    error: str | None = None
    account_hash: str | None = None
    """The account's ``attributes_hash`` when the discrepancy was found (plan-then-apply
    compares it with the account as re-read to detect a stale plan)."""


@frozen
class AttributeDelta:
    """One change to one account attribute: replace, add or remove values."""

    attribute: str
    op: DeltaOp
    values: tuple[Any, ...] = ()


@frozen
class Operation:
    """One durable change to push out to one account of one connector."""

    id: UUID
    tenant_id: UUID
    connector_id: UUID
    kind: OperationKind
    created_at: datetime = field(validator=_aware)
    updated_at: datetime = field(validator=_aware)
    next_attempt_at: datetime = field(validator=_aware)
    account_uid: str | None = None
    identity_id: UUID | None = None
    changes: tuple[AttributeDelta, ...] = ()
    status: OperationStatus = OperationStatus.PENDING
    attempts: int = 0
    max_attempts: int = 8
    last_error: str | None = None
    last_response: str | None = None
    reason: str = ""
    lease_owner: str | None = None
    lease_expires_at: datetime | None = field(default=None, validator=_aware)
    seq: int = 0


@frozen
class ConnectorHealth:
    """How a target is doing: consecutive transient failures and any quarantine."""

    tenant_id: UUID
    connector_id: UUID
    consecutive_failures: int = 0
    quarantined_until: datetime | None = field(default=None, validator=_aware)


@frozen
class SyncToken:
    """The stored position in a connector's change stream."""

    tenant_id: UUID
    connector_id: UUID
    token: str | None
    updated_at: datetime = field(validator=_aware)


@frozen
class Page(Generic[T]):
    """One page of a list, with the opaque cursor of the next one (None at the end)."""

    items: tuple[T, ...]
    next_cursor: str | None = None
