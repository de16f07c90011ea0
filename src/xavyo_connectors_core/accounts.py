"""Accounts as we know them: a connector's shadows (``GET /connectors/{id}/accounts``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import Page, Shadow, Situation
from xavyo_connectors_core.pagination import check_limit


def list_accounts(
    deps: Deps,
    tenant_id: UUID,
    connector_id: UUID,
    *,
    situation: Situation | None = None,
    linked: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Shadow]:
    """One page of the connector's shadows, by uid. Raises ``NotFound``."""
    check_limit(limit)
    with deps.store.unit_of_work() as uow:
        uow.connectors.get(tenant_id, connector_id)
        return uow.shadows.list(
            tenant_id, connector_id, limit=limit, cursor=cursor, situation=situation, linked=linked
        )


def shadow_document(shadow: Shadow) -> dict[str, Any]:
    """``{uid, name, identity_id, situation, attributes, last_seen_at}`` (SPEC §4.4)."""
    return {
        "uid": shadow.uid,
        "name": shadow.name,
        "identity_id": str(shadow.identity_id) if shadow.identity_id else None,
        "situation": shadow.situation.value,
        "attributes": dict(shadow.attributes),
        "last_seen_at": converter.unstructure(shadow.last_seen_at),
    }
