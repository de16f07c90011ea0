"""Public test helpers: the in-memory store and Hypothesis strategies for the domain model.

Every domain class of ``model.py`` has a strategy here, named after it in the plural
(``connectors()``, ``identities()``, ``runs()`` ...). Each takes keyword overrides, one per
field, as a value or a strategy::

    from xavyo_connectors_core.testing import MemoryStore, connectors, identities

    @given(connectors(tenant_id=tenant.id), identities(tenant_id=tenant.id))
    def test_something(connector, identity): ...

The objects are valid and *storable*: text has no NUL and no lone surrogates, numbers are
finite, datetimes are aware UTC with microseconds, nested values are JSON-shaped (lists,
not tuples), UUIDs are version 4, and the parts of a connector agree with its role
(reactions allowed for the role, a scope only on a target). So ``get(add(x)) == x`` holds
on every store. Importing this module needs ``hypothesis`` (the ``dev`` extra).
"""

from __future__ import annotations

import hashlib
import string
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import attrs
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from xavyo_connectors_core.errors import FieldError
from xavyo_connectors_core.model import (
    ALLOWED_REACTIONS,
    ActionCounts,
    ApiToken,
    Attribute,
    AttributeDelta,
    AttributeDiff,
    AttributeType,
    ConnectorHealth,
    CorrelationRule,
    DeltaOp,
    Difference,
    Direction,
    Discrepancy,
    DiscrepancyStatus,
    Identity,
    LeaveScope,
    Mapping,
    ObjectClass,
    Operation,
    OperationKind,
    OperationStatus,
    Outcome,
    Page,
    Principal,
    Progress,
    Reaction,
    Role,
    Run,
    RunKind,
    RunMode,
    RunStatus,
    Schema,
    SchemaDiff,
    SchemaVersion,
    ScopeCondition,
    ScopeOp,
    SealedSecret,
    Shadow,
    Situation,
    SyncToken,
    Tenant,
    TestResult,
    TokenRole,
)
from xavyo_connectors_core.model import Connector as _Connector
from xavyo_connectors_core.stores.memory import MemoryStore

__all__ = [
    "MemoryStore",
    "account_attributes",
    "action_counts",
    "api_tokens",
    "attribute_deltas",
    "attribute_diffs",
    "attribute_names",
    "attribute_values",
    "connector_healths",
    "connectors",
    "correlation_rules",
    "differences",
    "discrepancies",
    "field_errors",
    "identities",
    "identity_attributes",
    "json_objects",
    "json_scalars",
    "json_values",
    "mappings",
    "object_classes",
    "operations",
    "pages",
    "principals",
    "progresses",
    "runs",
    "schema_attributes",
    "schema_diffs",
    "schema_versions",
    "schemas",
    "scope_conditions",
    "sealed_secrets",
    "shadows",
    "sync_tokens",
    "tenants",
    "test_results",
    "texts",
    "utc_datetimes",
    "uuids",
]

T = TypeVar("T")

# --------------------------------------------------------------------------- building blocks


def texts(*, min_size: int = 0, max_size: int = 24) -> SearchStrategy[str]:
    """Text every store can hold: any Unicode except NUL and lone surrogates."""
    alphabet = st.characters(codec="utf-8", exclude_characters="\x00")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def uuids() -> SearchStrategy[Any]:
    """Random (version 4) UUIDs."""
    return st.uuids(version=4)


def utc_datetimes(*, min_year: int = 1970, max_year: int = 2200) -> SearchStrategy[datetime]:
    """Aware UTC datetimes with microseconds."""
    return st.datetimes(
        min_value=datetime(min_year, 1, 1),
        max_value=datetime(max_year, 12, 31, 23, 59, 59, 999999),
        timezones=st.just(UTC),
    )


def attribute_names() -> SearchStrategy[str]:
    """Identity attribute names: ``[a-z][a-z0-9_]*`` (SPEC §2)."""
    return st.builds(
        str.__add__,
        st.sampled_from(string.ascii_lowercase),
        st.text(string.ascii_lowercase + string.digits + "_", max_size=12),
    )


def _numbers() -> SearchStrategy[Any]:
    return st.integers(min_value=-(2**63), max_value=2**63) | st.floats(
        allow_nan=False, allow_infinity=False
    )


def json_scalars() -> SearchStrategy[Any]:
    """JSON scalars: null, booleans, finite numbers, strings."""
    return st.none() | st.booleans() | _numbers() | texts()


def json_values(*, max_leaves: int = 8) -> SearchStrategy[Any]:
    """Any JSON value (lists and objects nested), as ``json.loads`` would return it."""
    return st.recursive(
        json_scalars(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(texts(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def json_objects() -> SearchStrategy[dict[str, Any]]:
    """JSON objects (string keys, any JSON values)."""
    return st.dictionaries(texts(max_size=12), json_values(), max_size=5)


def attribute_values() -> SearchStrategy[Any]:
    """Identity attribute values: a string, number or boolean, or a list of them."""
    scalar = st.booleans() | _numbers() | texts()
    return scalar | st.lists(scalar, max_size=4)


def identity_attributes() -> SearchStrategy[dict[str, Any]]:
    """Identity attributes: valid names to attribute values."""
    return st.dictionaries(attribute_names(), attribute_values(), max_size=6)


def account_attributes() -> SearchStrategy[dict[str, Any]]:
    """Account attributes as a connector returns them: any names, scalars or lists."""
    return st.dictionaries(
        texts(min_size=1, max_size=16),
        json_scalars() | st.lists(json_scalars(), max_size=4),
        max_size=6,
    )


def _names() -> SearchStrategy[str]:
    return st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=16)


def _fields(
    cls: type[T], defaults: dict[str, SearchStrategy[Any]], overrides: dict[str, Any]
) -> SearchStrategy[T]:
    """``cls`` built from ``defaults``, with ``overrides`` (values or strategies) on top."""
    _check(cls, overrides)
    chosen = dict(defaults)
    for name, value in overrides.items():
        chosen[name] = value if isinstance(value, SearchStrategy) else st.just(value)
    return st.builds(cls, **chosen)


def _optional(strategy: SearchStrategy[T]) -> SearchStrategy[T | None]:
    return st.none() | strategy


# --------------------------------------------------------------------------- tenancy


def tenants(**overrides: Any) -> SearchStrategy[Tenant]:
    slug = st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True)
    defaults = {"id": uuids(), "slug": slug, "created_at": utc_datetimes()}
    return _fields(Tenant, defaults, overrides)


def principals(**overrides: Any) -> SearchStrategy[Principal]:
    return _fields(Principal, {"tenant_id": uuids(), "role": st.sampled_from(TokenRole)}, overrides)


def api_tokens(**overrides: Any) -> SearchStrategy[ApiToken]:
    digest = st.binary(min_size=32, max_size=32).map(lambda b: hashlib.sha256(b).hexdigest())
    defaults = {
        "id": uuids(),
        "tenant_id": uuids(),
        "role": st.sampled_from(TokenRole),
        "digest": digest,
        "name": texts(max_size=32),
        "created_at": utc_datetimes(),
    }
    return _fields(ApiToken, defaults, overrides)


# --------------------------------------------------------------------------- connectors


def sealed_secrets(**overrides: Any) -> SearchStrategy[SealedSecret]:
    defaults = {
        "kid": _names(),
        "nonce": st.binary(min_size=12, max_size=12),
        "ciphertext": st.binary(min_size=16, max_size=64),
    }
    return _fields(SealedSecret, defaults, overrides)


def _transforms() -> SearchStrategy[tuple[str, ...] | None]:
    names = st.sampled_from(["lower", "upper", "trim", "first", "bool", "int", "iso8601"])
    return st.none() | st.lists(names, min_size=1, max_size=3).map(tuple)


def mappings(**overrides: Any) -> SearchStrategy[Mapping]:
    """Valid mappings: an identity attribute, or (outbound only) a template."""
    by_identity = _fields(
        Mapping,
        {
            "account": _names(),
            "identity": attribute_names(),
            "direction": st.sampled_from(Direction),
            "transform": _transforms(),
            "template": st.none(),
        },
        overrides,
    )
    if "identity" in overrides or "direction" in overrides:
        return by_identity
    by_template = _fields(
        Mapping,
        {
            "account": _names(),
            "identity": st.none(),
            "direction": st.just(Direction.OUTBOUND),
            "transform": _transforms(),
            "template": attribute_names().map(lambda n: "{" + n + "}"),
        },
        overrides,
    )
    return by_identity | by_template


def correlation_rules(**overrides: Any) -> SearchStrategy[CorrelationRule]:
    defaults = {"identity": attribute_names(), "account": _names(), "transform": _transforms()}
    return _fields(CorrelationRule, defaults, overrides)


def scope_conditions(**overrides: Any) -> SearchStrategy[ScopeCondition]:
    """A condition whose ``value`` fits its ``op`` (a list for ``in``, none for presence)."""
    scalar = st.booleans() | _numbers() | texts()

    @st.composite
    def build(draw: st.DrawFn) -> ScopeCondition:
        op = draw(_as_strategy(overrides.get("op", st.sampled_from(ScopeOp))))
        if op is ScopeOp.IN:
            value: Any = st.lists(scalar, min_size=1, max_size=4)
        elif op in (ScopeOp.PRESENT, ScopeOp.ABSENT):
            value = st.none()
        else:
            value = scalar
        identity = draw(_as_strategy(overrides.get("identity", attribute_names())))
        return ScopeCondition(identity, op, draw(_as_strategy(overrides.get("value", value))))

    _check(ScopeCondition, overrides)
    return build()


def test_results(**overrides: Any) -> SearchStrategy[TestResult]:
    defaults = {
        "ok": st.booleans(),
        "latency_ms": st.integers(0, 60_000),
        "message": texts(max_size=40),
        "tested_at": utc_datetimes(),
    }
    return _fields(TestResult, defaults, overrides)


test_results.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def field_errors(**overrides: Any) -> SearchStrategy[FieldError]:
    return _fields(FieldError, {"path": _names(), "message": texts(max_size=40)}, overrides)


def connectors(**overrides: Any) -> SearchStrategy[_Connector]:
    """Valid connectors; reactions, scope and ``on_leave_scope`` agree with the role."""
    _check(_Connector, overrides)

    @st.composite
    def build(draw: st.DrawFn) -> _Connector:
        def pick(name: str, default: SearchStrategy[Any]) -> Any:
            return draw(_as_strategy(overrides.get(name, default)))

        role = pick("role", st.sampled_from(Role))
        allowed = {s: r for (s, rl), r in ALLOWED_REACTIONS.items() if rl is role}
        reactions = st.dictionaries(
            st.sampled_from(sorted(allowed)), st.just(Reaction.NONE), max_size=3
        ).flatmap(
            lambda chosen: st.fixed_dictionaries({s: st.sampled_from(allowed[s]) for s in chosen})
        )
        target = role is Role.TARGET
        created_at = pick("created_at", utc_datetimes(max_year=2100))
        values: dict[str, Any] = {
            "id": pick("id", uuids()),
            "tenant_id": pick("tenant_id", uuids()),
            "name": pick("name", texts(min_size=1, max_size=32)),
            "type": pick("type", st.sampled_from(["csv", "sql", "ldap", "scim"])),
            "role": role,
            "config": pick("config", json_objects()),
            "created_at": created_at,
            "updated_at": pick("updated_at", utc_datetimes(min_year=created_at.year)),
            "description": pick("description", texts(max_size=40)),
            "enabled": pick("enabled", st.booleans()),
            "secrets": pick("secrets", st.dictionaries(_names(), sealed_secrets(), max_size=2)),
            "mappings": pick("mappings", st.lists(mappings(), max_size=3).map(tuple)),
            "correlation": pick(
                "correlation", st.lists(correlation_rules(), max_size=2).map(tuple)
            ),
            "reactions": pick("reactions", reactions),
            "scope": pick(
                "scope",
                _optional(st.lists(scope_conditions(), max_size=3).map(tuple))
                if target
                else st.none(),
            ),
            "on_leave_scope": pick(
                "on_leave_scope", _optional(st.sampled_from(LeaveScope)) if target else st.none()
            ),
            "sync_interval_seconds": pick(
                "sync_interval_seconds", _optional(st.integers(60, 86_400))
            ),
            "max_deletions": pick("max_deletions", _optional(st.integers(0, 1_000_000))),
            "max_deletion_ratio": pick("max_deletion_ratio", st.floats(0.0, 1.0)),
            "max_operations_per_second": pick(
                "max_operations_per_second", _optional(st.floats(0.1, 10_000.0))
            ),
            "max_attempts": pick("max_attempts", st.integers(1, 50)),
            "retry_base_seconds": pick("retry_base_seconds", st.floats(0.1, 60.0)),
            "retry_max_seconds": pick("retry_max_seconds", st.floats(60.0, 3_600.0)),
            "last_test": pick("last_test", _optional(test_results())),
            "schema_discovered_at": pick("schema_discovered_at", _optional(utc_datetimes())),
            "needs_attention": pick(
                "needs_attention", _optional(st.lists(field_errors(), max_size=2).map(tuple))
            ),
            "version": pick("version", st.integers(1, 10_000)),
        }
        return _Connector(**values)

    return build()


def connector_healths(**overrides: Any) -> SearchStrategy[ConnectorHealth]:
    defaults = {
        "tenant_id": uuids(),
        "connector_id": uuids(),
        "consecutive_failures": st.integers(0, 100),
        "quarantined_until": _optional(utc_datetimes()),
    }
    return _fields(ConnectorHealth, defaults, overrides)


# --------------------------------------------------------------------------- schema


def schema_attributes(**overrides: Any) -> SearchStrategy[Attribute]:
    defaults: dict[str, SearchStrategy[Any]] = {
        "name": _names(),
        "type": st.sampled_from(AttributeType),
        "multivalued": st.booleans(),
        "required": st.booleans(),
        "readable": st.booleans(),
        "creatable": st.booleans(),
        "updateable": st.booleans(),
        "returned_by_default": st.booleans(),
    }
    return _fields(Attribute, defaults, overrides)


def object_classes(**overrides: Any) -> SearchStrategy[ObjectClass]:
    defaults = {
        "name": _names(),
        "uid_attribute": _names(),
        "name_attribute": _names(),
        "attributes": st.lists(schema_attributes(), max_size=5).map(tuple),
    }
    return _fields(ObjectClass, defaults, overrides)


def schemas(**overrides: Any) -> SearchStrategy[Schema]:
    defaults = {
        "object_classes": st.lists(object_classes(), min_size=1, max_size=2).map(tuple),
        "discovered_at": utc_datetimes(),
    }
    return _fields(Schema, defaults, overrides)


def attribute_diffs(**overrides: Any) -> SearchStrategy[AttributeDiff]:
    defaults = {
        "attribute": _names(),
        "before": schema_attributes(),
        "after": schema_attributes(),
    }
    return _fields(AttributeDiff, defaults, overrides)


def schema_diffs(**overrides: Any) -> SearchStrategy[SchemaDiff]:
    names = st.lists(_names(), max_size=3).map(tuple)
    defaults = {
        "added": names,
        "removed": names,
        "changed": st.lists(attribute_diffs(), max_size=2).map(tuple),
    }
    return _fields(SchemaDiff, defaults, overrides)


def schema_versions(**overrides: Any) -> SearchStrategy[SchemaVersion]:
    defaults = {
        "tenant_id": uuids(),
        "connector_id": uuids(),
        "version": st.integers(1, 1_000_000),
        "schema": schemas(),
        "diff": schema_diffs(),
        "discovered_at": utc_datetimes(),
    }
    return _fields(SchemaVersion, defaults, overrides)


# --------------------------------------------------------------------------- accounts


def shadows(**overrides: Any) -> SearchStrategy[Shadow]:
    digest = st.binary(min_size=8, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
    defaults = {
        "tenant_id": uuids(),
        "connector_id": uuids(),
        "uid": texts(min_size=1, max_size=24),
        "name": texts(max_size=24),
        "attributes": account_attributes(),
        "attributes_hash": digest,
        "situation": st.sampled_from(Situation),
        "last_seen_at": utc_datetimes(),
        "identity_id": _optional(uuids()),
        "last_run_id": _optional(uuids()),
    }
    return _fields(Shadow, defaults, overrides)


def identities(**overrides: Any) -> SearchStrategy[Identity]:
    defaults = {
        "id": uuids(),
        "tenant_id": uuids(),
        "attributes": identity_attributes(),
        "created_at": utc_datetimes(),
        "updated_at": utc_datetimes(),
        "enabled": st.booleans(),
        "version": st.integers(1, 10_000),
    }
    return _fields(Identity, defaults, overrides)


# --------------------------------------------------------------------------- runs


def progresses(**overrides: Any) -> SearchStrategy[Progress]:
    defaults = {"processed": st.integers(0, 10**7), "total": _optional(st.integers(0, 10**7))}
    return _fields(Progress, defaults, overrides)


def action_counts(**overrides: Any) -> SearchStrategy[ActionCounts]:
    n = st.integers(0, 10**6)
    return _fields(ActionCounts, {"queued": n, "applied": n, "failed": n}, overrides)


def runs(**overrides: Any) -> SearchStrategy[Run]:
    """Runs whose timestamps and lease agree with their status."""
    _check(Run, overrides)

    @st.composite
    def build(draw: st.DrawFn) -> Run:
        def pick(name: str, default: SearchStrategy[Any]) -> Any:
            return draw(_as_strategy(overrides.get(name, default)))

        kind = pick("kind", st.sampled_from(RunKind))
        modes = (
            [RunMode.INCREMENTAL, RunMode.FULL]
            if kind is RunKind.SYNC
            else [RunMode.REPORT, RunMode.REMEDIATE, RunMode.APPLY]
        )
        status = pick("status", st.sampled_from(RunStatus))
        queued_at = pick("queued_at", utc_datetimes(max_year=2100))
        later = utc_datetimes(min_year=queued_at.year + 1, max_year=2200)
        started = status is not RunStatus.QUEUED
        mode = pick("mode", st.sampled_from(modes))
        return Run(
            id=pick("id", uuids()),
            tenant_id=pick("tenant_id", uuids()),
            connector_id=pick("connector_id", uuids()),
            kind=kind,
            mode=mode,
            queued_at=queued_at,
            status=status,
            progress=pick("progress", progresses()),
            counts=pick("counts", st.dictionaries(_names(), st.integers(0, 10**6), max_size=4)),
            actions=pick("actions", action_counts()),
            plan_run_id=pick("plan_run_id", uuids() if mode is RunMode.APPLY else st.none()),
            discrepancy_ids=pick(
                "discrepancy_ids",
                _optional(st.lists(uuids(), max_size=3).map(tuple))
                if mode is RunMode.APPLY
                else st.none(),
            ),
            allow_mass_deletion=pick("allow_mass_deletion", st.booleans()),
            scheduled_slot=pick(
                "scheduled_slot",
                _optional(st.integers(0, 2**40)) if kind is RunKind.SYNC else st.none(),
            ),
            error=pick(
                "error", _optional(texts(max_size=40)) if status is RunStatus.FAILED else st.none()
            ),
            checkpoint=pick("checkpoint", _optional(json_objects()) if started else st.none()),
            cancel_requested=pick("cancel_requested", st.booleans()),
            lease_owner=pick("lease_owner", _names() if status is RunStatus.RUNNING else st.none()),
            lease_expires_at=pick(
                "lease_expires_at", later if status is RunStatus.RUNNING else st.none()
            ),
            started_at=pick("started_at", later if started else st.none()),
            finished_at=pick("finished_at", later if started and not status.active else st.none()),
        )

    return build()


def differences(**overrides: Any) -> SearchStrategy[Difference]:
    defaults = {"attribute": _names(), "expected": json_values(), "actual": json_values()}
    return _fields(Difference, defaults, overrides)


def discrepancies(**overrides: Any) -> SearchStrategy[Discrepancy]:
    defaults = {
        "id": uuids(),
        "tenant_id": uuids(),
        "run_id": uuids(),
        "connector_id": uuids(),
        "situation": st.sampled_from([s for s in Situation if s is not Situation.LINKED]),
        "created_at": utc_datetimes(),
        "account_uid": _optional(texts(min_size=1, max_size=24)),
        "identity_id": _optional(uuids()),
        "differences": st.lists(differences(), max_size=3).map(tuple),
        "explanation": texts(max_size=60),
        "reaction": st.sampled_from(Reaction),
        "outcome": st.sampled_from(Outcome),
        "operation_id": _optional(uuids()),
        "status": st.sampled_from(DiscrepancyStatus),
        "error": _optional(texts(max_size=40)),
        "account_hash": _optional(st.text("0123456789abcdef", min_size=64, max_size=64)),
    }
    return _fields(Discrepancy, defaults, overrides)


def attribute_deltas(**overrides: Any) -> SearchStrategy[AttributeDelta]:
    defaults = {
        "attribute": _names(),
        "op": st.sampled_from(DeltaOp),
        "values": st.lists(json_scalars(), max_size=3).map(tuple),
    }
    return _fields(AttributeDelta, defaults, overrides)


def operations(**overrides: Any) -> SearchStrategy[Operation]:
    """Operations as a caller enqueues them (``seq`` 0: the store assigns it)."""
    defaults = {
        "id": uuids(),
        "tenant_id": uuids(),
        "connector_id": uuids(),
        "kind": st.sampled_from(OperationKind),
        "created_at": utc_datetimes(),
        "updated_at": utc_datetimes(),
        "next_attempt_at": utc_datetimes(),
        "account_uid": _optional(texts(min_size=1, max_size=24)),
        "identity_id": _optional(uuids()),
        "changes": st.lists(attribute_deltas(), max_size=3).map(tuple),
        "status": st.sampled_from(OperationStatus),
        "attempts": st.integers(0, 20),
        "max_attempts": st.integers(1, 20),
        "last_error": _optional(texts(max_size=40)),
        "last_response": _optional(texts(max_size=40)),
        "reason": texts(max_size=40),
        "lease_owner": _optional(_names()),
        "lease_expires_at": _optional(utc_datetimes()),
        "seq": st.just(0),
    }
    return _fields(Operation, defaults, overrides)


def sync_tokens(**overrides: Any) -> SearchStrategy[SyncToken]:
    defaults = {
        "tenant_id": uuids(),
        "connector_id": uuids(),
        "token": _optional(texts(max_size=40)),
        "updated_at": utc_datetimes(),
    }
    return _fields(SyncToken, defaults, overrides)


def pages(items: SearchStrategy[T], *, max_size: int = 5) -> SearchStrategy[Page[T]]:
    """Pages of ``items`` with an opaque (arbitrary) next cursor or none."""
    return st.builds(
        Page,
        st.lists(items, max_size=max_size).map(tuple),
        _optional(st.text(string.ascii_letters + string.digits + "-_", min_size=1)),
    )


# --------------------------------------------------------------------------- helpers


def _as_strategy(value: Any) -> SearchStrategy[Any]:
    return value if isinstance(value, SearchStrategy) else st.just(value)


def _check(cls: type, overrides: dict[str, Any]) -> None:
    unknown = set(overrides) - {f.name for f in attrs.fields(cast(Any, cls))}
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
