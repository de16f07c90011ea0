"""Schema discovery, caching, versions and drift (SPEC §3.2, §3.3, §3.10).

A discovery that differs from the previous one stores a new ``SchemaVersion`` with its
diff; the connector's mappings are re-validated against it and, when broken, the errors
go into ``needs_attention`` (runs are then refused until the mappings are fixed).
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import attrs

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import (
    InvalidInput,
    NeedsAttention,
    SchemaUnavailable,
    TargetUnavailable,
    XavyoError,
)
from xavyo_connectors_core.model import Connector, ObjectClass, Page, Schema, SchemaVersion
from xavyo_connectors_core.pagination import check_limit
from xavyo_connectors_core.schema_diff import diff_schemas

log = logging.getLogger(__name__)


def account_class(deps: Deps, connector: Connector, schema: Schema) -> ObjectClass | None:
    """The connector's account object class in ``schema``."""
    ctype = deps.registry.get(connector.type)
    name = ctype.account_object_class(connector.config)
    found = schema.object_class(name)
    if found is None and len(schema.object_classes) == 1:
        return schema.object_classes[0]
    return found


def discover(deps: Deps, connector: Connector) -> Schema:
    """Read the schema from the system. Raises ``TargetUnavailable`` when it cannot."""
    from xavyo_connectors_core.connectors import open_connection

    try:
        with open_connection(deps, connector) as conn:
            schema = conn.schema()
    except XavyoError as exc:
        raise TargetUnavailable(f"schema discovery failed: {exc.detail}") from None
    except Exception as exc:
        log.warning("schema discovery failed unexpectedly: %s", type(exc).__name__)
        raise TargetUnavailable(
            f"schema discovery failed: unexpected {type(exc).__name__}"
        ) from None
    return attrs.evolve(schema, discovered_at=deps.clock.now())


def _next_version(
    deps: Deps, connector: Connector, schema: Schema, previous: SchemaVersion | None
) -> SchemaVersion:
    before = account_class(deps, connector, previous.schema) if previous else None
    after = account_class(deps, connector, schema)
    if after is None:
        raise TargetUnavailable("the system has no account object class")
    return SchemaVersion(
        tenant_id=connector.tenant_id,
        connector_id=connector.id,
        version=(previous.version + 1) if previous else 1,
        schema=schema,
        diff=diff_schemas(before, after),
        discovered_at=schema.discovered_at,
    )


def _mapping_errors(deps: Deps, connector: Connector, oc: ObjectClass) -> list[Any]:
    from xavyo_connectors_core.mappings import validate_parts

    return validate_parts(
        role=connector.role,
        object_class=oc,
        mappings=connector.mappings,
        correlation=connector.correlation,
        reactions={},
        scope=None,
    )


def validate_connector_parts(
    deps: Deps, connector: Connector, current: Connector | None
) -> tuple[Connector, SchemaVersion | None]:
    """Check mappings and correlation against the account object class (SPEC §3.3).

    Uses the cached schema when the config did not change, otherwise discovers it.
    Returns the connector (with ``schema_discovered_at``/``needs_attention`` updated) and a
    new schema version to store, if one was discovered.

    Raises:
        SchemaUnavailable: the schema is needed and cannot be had (nothing is stored).
        InvalidInput: every mapping/correlation error, with its path.
    """
    if not connector.mappings and not connector.correlation:
        return attrs.evolve(connector, needs_attention=None), None
    previous: SchemaVersion | None = None
    if current is not None:
        with deps.store.unit_of_work() as uow:
            previous = uow.schemas.latest(connector.tenant_id, connector.id)
    new_version: SchemaVersion | None = None
    if previous is not None and current is not None and current.config == connector.config:
        schema = previous.schema
    else:
        try:
            schema = discover(deps, connector)
            new_version = _next_version(deps, connector, schema, previous)
        except TargetUnavailable as exc:
            raise SchemaUnavailable(f"schema unavailable: {exc.detail}") from None
        if previous is not None and new_version.diff.empty:
            new_version = None
    oc = account_class(deps, connector, schema)
    if oc is None:
        raise SchemaUnavailable("schema unavailable: the system has no account object class")
    errors = _mapping_errors(deps, connector, oc)
    if errors:
        raise InvalidInput(errors)
    discovered_at = schema.discovered_at if new_version else connector.schema_discovered_at
    return (
        attrs.evolve(
            connector,
            needs_attention=None,
            schema_discovered_at=discovered_at or schema.discovered_at,
        ),
        new_version,
    )


def get_schema(
    deps: Deps, tenant_id: UUID, connector_id: UUID, *, refresh: bool = False
) -> SchemaVersion:
    """The cached schema, discovering it first if none is cached or ``refresh`` is set.

    Raises:
        NotFound: no such connector.
        TargetUnavailable: the system cannot be reached and nothing is cached (HTTP 502).
    """
    from xavyo_connectors_core.connectors import get_connector

    connector = get_connector(deps, tenant_id, connector_id)
    with deps.store.unit_of_work() as uow:
        latest = uow.schemas.latest(tenant_id, connector_id)
    if latest is not None and not refresh:
        return latest
    return refresh_schema(deps, connector, latest)


def refresh_schema(deps: Deps, connector: Connector, latest: SchemaVersion | None) -> SchemaVersion:
    """Rediscover; store a new version when it differs; re-validate the mappings."""
    schema = discover(deps, connector)
    version = _next_version(deps, connector, schema, latest)
    oc = account_class(deps, connector, schema)
    assert oc is not None  # _next_version checked it
    errors = (
        _mapping_errors(deps, connector, oc) if connector.mappings or connector.correlation else []
    )
    changed = latest is None or not version.diff.empty
    with deps.store.unit_of_work() as uow:
        fresh = uow.connectors.get(connector.tenant_id, connector.id)
        if changed:
            uow.schemas.add(version)
        uow.connectors.update(
            attrs.evolve(
                fresh,
                schema_discovered_at=schema.discovered_at,
                needs_attention=tuple(errors) or None,
                version=fresh.version + 1,
            )
        )
        uow.commit()
    if errors:
        log.warning("schema change broke %d mapping(s) of connector %s", len(errors), connector.id)
    if changed:
        return version
    assert latest is not None
    return attrs.evolve(latest, schema=schema, discovered_at=schema.discovered_at)


def list_schema_versions(
    deps: Deps, tenant_id: UUID, connector_id: UUID, *, limit: int = 50, cursor: str | None = None
) -> Page[SchemaVersion]:
    """The connector's stored schema versions, newest first."""
    check_limit(limit)
    with deps.store.unit_of_work() as uow:
        uow.connectors.get(tenant_id, connector_id)
        return uow.schemas.list(tenant_id, connector_id, limit=limit, cursor=cursor)


def ensure_runnable(connector: Connector) -> None:
    """Refuse runs of a connector whose mappings a schema change broke."""
    if connector.needs_attention:
        raise NeedsAttention(
            "the connector's mappings are broken by a schema change; fix them first"
        )
