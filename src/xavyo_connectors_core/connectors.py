"""Connector management use cases (SPEC §3.1): create, read, list, update, delete, test.

Every function takes the ``Deps`` and the caller's tenant id; another tenant's connector
is ``NotFound``. Secrets are sealed before they reach the store and are never returned:
reads show only their names.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any
from uuid import UUID

import attrs
from attrs import field, frozen

from xavyo_connectors_core import config as config_rules
from xavyo_connectors_core import mappings as mapping_rules
from xavyo_connectors_core import secrets as secret_rules
from xavyo_connectors_core.converter import converter, structure_input
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    XavyoError,
)
from xavyo_connectors_core.merge_patch import merge_patch
from xavyo_connectors_core.model import (
    Capability,
    Connector,
    CorrelationRule,
    LeaveScope,
    Page,
    Reaction,
    Role,
    ScopeCondition,
    Situation,
    TestResult,
)
from xavyo_connectors_core.model import (
    Mapping as AttributeMapping,
)
from xavyo_connectors_core.pagination import check_limit
from xavyo_connectors_core.spi import Connection, ConnectorType, OpenContext

log = logging.getLogger(__name__)

READ_ONLY_FIELDS = (
    "id",
    "type",
    "version",
    "created_at",
    "updated_at",
    "last_test",
    "schema_discovered_at",
    "needs_attention",
)
MAX_NAME_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 4096


@frozen
class ConnectorInput:
    """The writable connector document (SPEC §4.4), as created or after a merge patch."""

    name: str
    type: str
    config: dict[str, Any]
    role: Role = Role.TARGET
    description: str = ""
    enabled: bool = True
    secrets: dict[str, str | None] = field(factory=dict)
    mappings: tuple[AttributeMapping, ...] = ()
    correlation: tuple[CorrelationRule, ...] = ()
    reactions: dict[str, str] = field(factory=dict)
    scope: tuple[ScopeCondition, ...] | None = None
    on_leave_scope: LeaveScope | None = None
    sync_interval_seconds: int | None = None
    max_deletions: int | None = None
    max_deletion_ratio: float = 0.2
    max_operations_per_second: float | None = None
    max_attempts: int = 8
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 600.0


_POLICY_FIELDS = (
    "sync_interval_seconds",
    "max_deletions",
    "max_deletion_ratio",
    "max_operations_per_second",
    "max_attempts",
    "retry_base_seconds",
    "retry_max_seconds",
)


# --------------------------------------------------------------------------- reads


def get_connector(deps: Deps, tenant_id: UUID, connector_id: UUID) -> Connector:
    """Return the connector. Raises ``NotFound`` (also for another tenant's id)."""
    with deps.store.unit_of_work() as uow:
        return uow.connectors.get(tenant_id, connector_id)


def list_connectors(
    deps: Deps,
    tenant_id: UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
    type: str | None = None,
    role: Role | None = None,
    enabled: bool | None = None,
) -> Page[Connector]:
    """One page of the tenant's connectors, oldest first."""
    check_limit(limit)
    with deps.store.unit_of_work() as uow:
        return uow.connectors.list(
            tenant_id, limit=limit, cursor=cursor, type=type, role=role, enabled=enabled
        )


def connector_document(connector: Connector) -> dict[str, Any]:
    """The read document of SPEC §4.4: secrets as a sorted list of names, never values."""
    doc = {
        "id": str(connector.id),
        "name": connector.name,
        "type": connector.type,
        "role": connector.role.value,
        "description": connector.description,
        "enabled": connector.enabled,
        "config": dict(connector.config),
        "secrets": sorted(connector.secrets),
        "mappings": converter.unstructure(connector.mappings, tuple[AttributeMapping, ...]),
        "correlation": converter.unstructure(connector.correlation, tuple[CorrelationRule, ...]),
        "reactions": {str(k): str(v) for k, v in connector.reactions.items()},
        "scope": converter.unstructure(connector.scope, tuple[ScopeCondition, ...] | None),
        "on_leave_scope": connector.on_leave_scope.value if connector.on_leave_scope else None,
    }
    for name in _POLICY_FIELDS:
        doc[name] = getattr(connector, name)
    doc.update(
        {
            "last_test": converter.unstructure(connector.last_test, TestResult | None),
            "schema_discovered_at": converter.unstructure(connector.schema_discovered_at),
            "needs_attention": (
                None
                if connector.needs_attention is None
                else [{"path": e.path, "message": e.message} for e in connector.needs_attention]
            ),
            "version": connector.version,
            "created_at": converter.unstructure(connector.created_at),
            "updated_at": converter.unstructure(connector.updated_at),
        }
    )
    return doc


# --------------------------------------------------------------------------- writes


def create_connector(deps: Deps, tenant_id: UUID, document: Any) -> Connector:
    """Validate and store a new connector (SPEC §3.1).

    Raises:
        InvalidInput: any field is invalid (every error, each with its path).
        SchemaUnavailable: mappings or correlation are given and the schema cannot be had.
        Conflict: the name is taken in this tenant (case-insensitively).
    """
    spec = structure_input(document, ConnectorInput)
    connector_id = uuid.uuid4()
    now = deps.clock.now()
    connector, schema_version = _build(deps, tenant_id, connector_id, spec, None, now)
    with deps.store.unit_of_work() as uow:
        uow.connectors.add(connector)
        if schema_version is not None:
            uow.schemas.add(schema_version)
        uow.commit()
    log.info("connector created", extra={"connector_id": str(connector_id)})
    return connector


def update_connector(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    patch: Any,
    *,
    if_match: int | None = None,
) -> Connector:
    """Apply a JSON merge patch (RFC 7396) and validate the result as a whole.

    ``secrets`` in the patch maps names to new values; ``null`` removes a secret and absent
    names are kept. Read-only fields are a validation error.

    Raises:
        NotFound, InvalidInput, SchemaUnavailable, Conflict (duplicate name, or a concurrent
        writer won: ``VersionConflict``), PreconditionFailed (``if_match`` is stale).
    """
    if not isinstance(patch, dict):
        raise InvalidInput([FieldError("$", "must be a JSON object")])
    read_only = [FieldError(k, "is read-only") for k in READ_ONLY_FIELDS if k in patch]
    if read_only:
        raise InvalidInput(read_only)
    current = get_connector(deps, tenant_id, connector_id)
    if if_match is not None and if_match != current.version:
        raise PreconditionFailed(f"the connector is at version {current.version}")
    secrets_patch = patch.get("secrets", {})
    if not isinstance(secrets_patch, dict):
        raise InvalidInput([FieldError("secrets", "must be an object of name to value")])
    base = _writable_document(current)
    merged = merge_patch(base, {k: v for k, v in patch.items() if k != "secrets"})
    # merge patch drops keys set to null: an optional field then takes its default
    merged["type"] = current.type
    merged["secrets"] = {}
    spec = structure_input(merged, ConnectorInput)
    spec = attrs.evolve(spec, secrets=dict(secrets_patch))
    now = deps.clock.now()
    connector, schema_version = _build(deps, tenant_id, connector_id, spec, current, now)
    with deps.store.unit_of_work() as uow:
        uow.connectors.update(connector)
        if schema_version is not None:
            uow.schemas.add(schema_version)
        uow.commit()
    return connector


def delete_connector(deps: Deps, tenant_id: UUID, connector_id: UUID) -> None:
    """Delete a connector, its shadows, schema and token; dead-letter its pending operations.

    Its finished runs, discrepancies and dead operations are kept for audit.

    Raises:
        NotFound: no such connector in this tenant.
        Conflict: a run of this connector is queued or running (``run_id`` says which).
    """
    with deps.store.unit_of_work() as uow:
        uow.connectors.get(tenant_id, connector_id)
        active = uow.runs.active_for_connector(tenant_id, connector_id)
        if active is not None:
            raise Conflict("a run of this connector is queued or running", run_id=active.id)
        uow.operations.dead_letter_for_connector(
            tenant_id, connector_id, "connector deleted", deps.clock.now()
        )
        uow.shadows.delete_for_connector(tenant_id, connector_id)
        uow.schemas.delete_for_connector(tenant_id, connector_id)
        uow.sync_tokens.delete(tenant_id, connector_id)
        uow.connectors.delete(tenant_id, connector_id)
        uow.commit()


def test_connector(deps: Deps, tenant_id: UUID, connector_id: UUID) -> TestResult:
    """Do the type's cheapest real round trip and store the result as ``last_test``.

    A failing system is a normal answer (``ok=False``), never an exception. The test is
    bounded by the connector's ``timeout_seconds``.
    """
    connector = get_connector(deps, tenant_id, connector_id)
    timeout = float(connector.config.get("timeout_seconds", 10))
    started = time.monotonic()
    ok, message = _run_with_timeout(lambda: _probe(deps, connector), timeout)
    result = TestResult(
        ok=ok,
        latency_ms=round((time.monotonic() - started) * 1000),
        message=message,
        tested_at=deps.clock.now(),
    )
    for _ in range(3):  # the stored version may move under us; retry the small write
        with deps.store.unit_of_work() as uow:
            fresh = uow.connectors.get(tenant_id, connector_id)
            try:
                uow.connectors.update(
                    attrs.evolve(fresh, last_test=result, version=fresh.version + 1)
                )
            except Conflict:
                continue
            uow.commit()
            break
    return result


# --------------------------------------------------------------------------- helpers


def connector_type(deps: Deps, connector: Connector) -> ConnectorType:
    return deps.registry.get(connector.type)


def open_connection(deps: Deps, connector: Connector) -> Connection:
    """Open the connector's system with its decrypted config."""
    ctype = connector_type(deps, connector)
    plain = secret_rules.open_all(
        deps.keyring, connector.tenant_id, connector.id, connector.secrets
    )
    return ctype.open(connector.config, plain, OpenContext(files_root=deps.files_root))


def _probe(deps: Deps, connector: Connector) -> tuple[bool, str]:
    try:
        with open_connection(deps, connector) as conn:
            return True, conn.test() or "ok"
    except XavyoError as exc:
        return False, exc.detail
    except Exception as exc:  # a type's unexpected failure is still a failed test
        log.warning("connection test failed unexpectedly: %s", type(exc).__name__)
        return False, f"unexpected error: {type(exc).__name__}"


def _run_with_timeout(func: Any, timeout: float) -> tuple[bool, str]:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(func)
        try:
            result: tuple[bool, str] = future.result(timeout=timeout)
            return result
        except concurrent.futures.TimeoutError:
            return False, f"timed out after {timeout:g} s"
    finally:
        pool.shutdown(wait=False)


def _writable_document(connector: Connector) -> dict[str, Any]:
    doc = connector_document(connector)
    for key in (*READ_ONLY_FIELDS, "secrets"):
        doc.pop(key, None)
    return {k: v for k, v in doc.items() if v is not None}


def _build(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    spec: ConnectorInput,
    current: Connector | None,
    now: Any,
) -> tuple[Connector, Any]:
    """Validate ``spec`` as a whole and build the connector to store (secrets sealed)."""
    errors: list[FieldError] = []
    name = spec.name.strip()
    if not 1 <= len(spec.name) <= MAX_NAME_LENGTH or not name:
        errors.append(FieldError("name", f"must be 1 to {MAX_NAME_LENGTH} characters"))
    if any(ch in spec.name for ch in "\x00\r\n"):
        errors.append(FieldError("name", "must not contain control characters"))
    if len(spec.description) > MAX_DESCRIPTION_LENGTH:
        errors.append(FieldError("description", "is too long"))
    try:
        ctype = deps.registry.get(spec.type)
    except NotFound:
        errors.append(FieldError("type", "is not a registered connector type"))
        raise InvalidInput(errors) from None
    if current is not None and spec.type != current.type:
        errors.append(FieldError("type", "is read-only"))

    # secrets: new values from the spec; kept ones from the current connector
    existing = dict(current.secrets) if current is not None else {}
    new_plain = {k: v for k, v in spec.secrets.items() if v is not None}
    removed = {k for k, v in spec.secrets.items() if v is None}
    kept_names = (set(existing) - removed) - set(new_plain)
    secret_view: dict[str, str] = dict(new_plain)
    secret_view.update(dict.fromkeys(kept_names, ""))  # presence only, for spec checks
    config, config_errors = config_rules.validate_config(
        ctype, spec.config, secret_view, files_root=deps.files_root
    )
    errors.extend(config_errors)
    errors.extend(_check_policies(spec))
    errors.extend(
        mapping_rules.check_reactions_and_scope(
            spec.role, spec.reactions, spec.scope, spec.on_leave_scope
        )
    )
    on_leave = None
    if spec.role is Role.TARGET:
        on_leave = spec.on_leave_scope or _default_leave(ctype, config)
    if errors:
        raise InvalidInput(errors)

    sealed = {k: v for k, v in existing.items() if k in kept_names}
    sealed.update(secret_rules.seal_all(deps.keyring, tenant_id, connector_id, new_plain))
    connector = Connector(
        id=connector_id,
        tenant_id=tenant_id,
        name=spec.name,
        type=spec.type,
        role=spec.role,
        config=config,
        created_at=current.created_at if current else now,
        updated_at=now,
        description=spec.description,
        enabled=spec.enabled,
        secrets=sealed,
        mappings=spec.mappings,
        correlation=spec.correlation,
        reactions={Situation(k): Reaction(v) for k, v in spec.reactions.items()},
        scope=spec.scope,
        on_leave_scope=on_leave,
        sync_interval_seconds=spec.sync_interval_seconds,
        max_deletions=spec.max_deletions,
        max_deletion_ratio=spec.max_deletion_ratio,
        max_operations_per_second=spec.max_operations_per_second,
        max_attempts=spec.max_attempts,
        retry_base_seconds=spec.retry_base_seconds,
        retry_max_seconds=spec.retry_max_seconds,
        last_test=current.last_test if current else None,
        schema_discovered_at=current.schema_discovered_at if current else None,
        needs_attention=current.needs_attention if current else None,
        version=current.version + 1 if current else 1,
    )
    from xavyo_connectors_core import schema as schema_rules

    return schema_rules.validate_connector_parts(deps, connector, current)


def _default_leave(ctype: ConnectorType, config: Mapping[str, Any]) -> LeaveScope:
    can_disable = getattr(ctype, "can_disable", None)
    if callable(can_disable):
        return LeaveScope.DISABLE if can_disable(config) else LeaveScope.DELETE
    return LeaveScope.DISABLE if Capability.DISABLE in ctype.capabilities else LeaveScope.DELETE


def _check_policies(spec: ConnectorInput) -> list[FieldError]:
    errors = []
    if spec.sync_interval_seconds is not None and spec.sync_interval_seconds < 1:
        errors.append(FieldError("sync_interval_seconds", "must be at least 1"))
    if spec.max_deletions is not None and spec.max_deletions < 0:
        errors.append(FieldError("max_deletions", "must be 0 or more"))
    if not 0.0 <= spec.max_deletion_ratio <= 1.0:
        errors.append(FieldError("max_deletion_ratio", "must be between 0 and 1"))
    if spec.max_operations_per_second is not None and spec.max_operations_per_second <= 0:
        errors.append(FieldError("max_operations_per_second", "must be greater than 0"))
    if not 1 <= spec.max_attempts <= 100:
        errors.append(FieldError("max_attempts", "must be between 1 and 100"))
    if spec.retry_base_seconds <= 0:
        errors.append(FieldError("retry_base_seconds", "must be greater than 0"))
    if spec.retry_max_seconds < spec.retry_base_seconds:
        errors.append(FieldError("retry_max_seconds", "must be at least retry_base_seconds"))
    return errors
