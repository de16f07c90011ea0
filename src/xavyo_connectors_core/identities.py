"""The reference identity store's use cases (``/identities`` of the standalone server).

Identity attributes are free-form: names match ``[a-z][a-z0-9_]*``; values are strings,
numbers, booleans, or lists of them (SPEC §2).
"""

from __future__ import annotations

import math
import uuid
from typing import Any
from uuid import UUID

import attrs

from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.deps import Deps, identity_store
from xavyo_connectors_core.errors import FieldError, InvalidInput, PreconditionFailed
from xavyo_connectors_core.merge_patch import merge_patch
from xavyo_connectors_core.model import IDENTITY_ATTRIBUTE_RE, Identity, Page
from xavyo_connectors_core.pagination import check_limit
from xavyo_connectors_core.ports import UnitOfWork

MAX_ATTRIBUTES = 200
MAX_LIST = 1000
MAX_STRING = 65536
_FIELDS = {"attributes", "enabled"}


def check_attributes(attributes: Any, path: str = "attributes") -> list[FieldError]:
    """Every problem with an identity attribute document, each with its path."""
    if not isinstance(attributes, dict):
        return [FieldError(path, "must be an object")]
    errors = []
    if len(attributes) > MAX_ATTRIBUTES:
        errors.append(FieldError(path, f"must have at most {MAX_ATTRIBUTES} attributes"))
    for name, value in attributes.items():
        sub = f"{path}.{name}" if IDENTITY_ATTRIBUTE_RE.match(name) else path
        if not IDENTITY_ATTRIBUTE_RE.match(name) or len(name) > 128:
            errors.append(FieldError(sub, "attribute names must match [a-z][a-z0-9_]*"))
            continue
        if isinstance(value, list):
            if len(value) > MAX_LIST:
                errors.append(FieldError(sub, f"must have at most {MAX_LIST} values"))
            for i, item in enumerate(value):
                if not _scalar_ok(item):
                    errors.append(FieldError(f"{sub}[{i}]", "must be a string, number or boolean"))
        elif not _scalar_ok(value):
            errors.append(FieldError(sub, "must be a string, number, boolean or a list of them"))
    return errors


def _scalar_ok(value: Any) -> bool:
    if isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= MAX_STRING


def _check_document(document: Any, *, partial: bool) -> list[FieldError]:
    if not isinstance(document, dict):
        raise InvalidInput([FieldError("$", "must be a JSON object")])
    errors = [FieldError(k, "is not a known field") for k in document if k not in _FIELDS]
    if "attributes" in document:
        if partial and isinstance(document["attributes"], dict):
            present = {k: v for k, v in document["attributes"].items() if v is not None}
            errors.extend(check_attributes(present))
        else:
            errors.extend(check_attributes(document["attributes"]))
    elif not partial:
        errors.append(FieldError("attributes", "is required"))
    if "enabled" in document and not isinstance(document["enabled"], bool):
        errors.append(FieldError("enabled", "must be a boolean"))
    return errors


def enqueue_identity_change(
    deps: Deps, uow: UnitOfWork, before: Identity | None, after: Identity | None, *, reason: str
) -> None:
    """Queue the provisioning an identity change means, in the same unit of work."""
    from xavyo_connectors_core.provisioning import enqueue_identity_change as enqueue

    enqueue(deps, uow, before, after, reason=reason)


def create_identity(deps: Deps, tenant_id: UUID, document: Any) -> Identity:
    """Create an identity from ``{"attributes": {...}, "enabled": bool}``."""
    errors = _check_document(document, partial=False)
    if errors:
        raise InvalidInput(errors)
    now = deps.clock.now()
    identity = Identity(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        attributes=dict(document["attributes"]),
        created_at=now,
        updated_at=now,
        enabled=document.get("enabled", True),
    )
    with deps.store.unit_of_work() as uow:
        identity_store(deps, uow).add(identity)
        enqueue_identity_change(deps, uow, None, identity, reason=f"identity {identity.id} created")
        uow.commit()
    return identity


def get_identity(deps: Deps, tenant_id: UUID, identity_id: UUID) -> Identity:
    with deps.store.unit_of_work() as uow:
        return identity_store(deps, uow).get(tenant_id, identity_id)


def list_identities(
    deps: Deps,
    tenant_id: UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
    enabled: bool | None = None,
) -> Page[Identity]:
    check_limit(limit)
    with deps.store.unit_of_work() as uow:
        return identity_store(deps, uow).list(
            tenant_id, limit=limit, cursor=cursor, enabled=enabled
        )


def update_identity(
    deps: Deps, tenant_id: UUID, identity_id: UUID, patch: Any, *, if_match: int | None = None
) -> Identity:
    """Merge-patch an identity: ``attributes`` is merged (null removes), ``enabled`` set."""
    errors = _check_document(patch, partial=True)
    if errors:
        raise InvalidInput(errors)
    with deps.store.unit_of_work() as uow:
        current = identity_store(deps, uow).get(tenant_id, identity_id)
        if if_match is not None and if_match != current.version:
            raise PreconditionFailed(f"the identity is at version {current.version}")
        attributes = merge_patch(dict(current.attributes), patch.get("attributes", {}))
        updated = attrs.evolve(
            current,
            attributes=attributes,
            enabled=patch.get("enabled", current.enabled),
            updated_at=deps.clock.now(),
            version=current.version + 1,
        )
        identity_store(deps, uow).update(updated)
        enqueue_identity_change(
            deps, uow, current, updated, reason=f"identity {identity_id} updated"
        )
        uow.commit()
    return updated


def delete_identity(deps: Deps, tenant_id: UUID, identity_id: UUID) -> None:
    with deps.store.unit_of_work() as uow:
        current = identity_store(deps, uow).get(tenant_id, identity_id)
        enqueue_identity_change(deps, uow, current, None, reason=f"identity {identity_id} deleted")
        identity_store(deps, uow).delete(tenant_id, identity_id)
        uow.commit()


def identity_document(identity: Identity) -> dict[str, Any]:
    """The read document of SPEC §4.4."""
    return {
        "id": str(identity.id),
        "attributes": dict(identity.attributes),
        "enabled": identity.enabled,
        "created_at": converter.unstructure(identity.created_at),
        "updated_at": converter.unstructure(identity.updated_at),
    }
