"""Re-seal every stored secret under the key ring's primary key (``keys rotate``)."""

from __future__ import annotations

import attrs

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import VersionConflict


def rotate_secrets(deps: Deps) -> int:
    """Re-seal every secret not sealed under the primary key; return how many were."""
    resealed = 0
    with deps.store.unit_of_work() as uow:
        ids = [(c.tenant_id, c.id) for c in uow.connectors.iter_all()]
    for tenant_id, connector_id in ids:
        for _ in range(5):
            with deps.store.unit_of_work() as uow:
                connector = uow.connectors.get(tenant_id, connector_id)
                stale = {
                    name: sealed
                    for name, sealed in connector.secrets.items()
                    if deps.keyring.needs_reseal(sealed)
                }
                if not stale:
                    break
                fresh = dict(connector.secrets)
                for name, sealed in stale.items():
                    plain = deps.keyring.open(
                        sealed, tenant_id=tenant_id, connector_id=connector_id, name=name
                    )
                    fresh[name] = deps.keyring.seal(
                        plain, tenant_id=tenant_id, connector_id=connector_id, name=name
                    )
                try:
                    uow.connectors.update(
                        attrs.evolve(connector, secrets=fresh, version=connector.version + 1)
                    )
                except VersionConflict:
                    continue
                uow.commit()
                resealed += len(stale)
                break
    return resealed
