"""Embed the core with your own identity store (docs/embedding.md walks through it).

Run: python docs/examples/own_identity_store.py  — it syncs a small HR file into
``MyUsers``, a stand-in for the host's own user table, and prints what arrived.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import NotFound, VersionConflict
from xavyo_connectors_core.mappings import in_scope
from xavyo_connectors_core.model import Identity, Page, ScopeCondition
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.runs import start_sync
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.stores import open_store
from xavyo_connectors_core.tenancy import ensure_tenant
from xavyo_connectors_core.worker import drain_all


class MyUsers:
    """The host's users, here a dict; any database works the same way (the IdentityStore port)."""

    def __init__(self) -> None:
        self.rows: dict[UUID, Identity] = {}

    def get(self, tenant_id: UUID, identity_id: UUID) -> Identity:
        found = self.rows.get(identity_id)
        if found is None or found.tenant_id != tenant_id:
            raise NotFound("no such identity")
        return found

    def get_many(self, tenant_id: UUID, identity_ids: Iterable[UUID]) -> dict[UUID, Identity]:
        return {
            i: self.rows[i]
            for i in identity_ids
            if i in self.rows and self.rows[i].tenant_id == tenant_id
        }

    def find_by_values(
        self, tenant_id: UUID, attribute: str, values: Iterable[Any]
    ) -> dict[Any, list[Identity]]:
        def key(v: Any) -> str:
            return str(v).strip().casefold()  # loose: correlation filters precisely

        wanted = {key(v): v for v in values}
        found: dict[Any, list[Identity]] = {}
        for identity in self.rows.values():
            value = identity.attributes.get(attribute)
            for item in value if isinstance(value, list) else [value]:
                if identity.tenant_id == tenant_id and item is not None and key(item) in wanted:
                    found.setdefault(wanted[key(item)], []).append(identity)
        return found

    def iter_scope(
        self, tenant_id: UUID, scope: Sequence[ScopeCondition] | None, *, page_size: int
    ) -> Iterator[list[Identity]]:
        mine = [
            i
            for i in self.rows.values()
            if i.tenant_id == tenant_id and in_scope(scope, i.attributes)
        ]
        for start in range(0, len(mine), page_size):
            yield mine[start : start + page_size]

    def add(self, identity: Identity) -> None:
        self.rows[identity.id] = identity

    def add_many(self, identities: Iterable[Identity]) -> None:
        for identity in identities:
            self.add(identity)

    def update(self, identity: Identity) -> None:
        if self.get(identity.tenant_id, identity.id).version != identity.version - 1:
            raise VersionConflict("the identity changed meanwhile")
        self.rows[identity.id] = identity

    def delete(self, tenant_id: UUID, identity_id: UUID) -> None:
        self.get(tenant_id, identity_id)
        del self.rows[identity_id]

    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        enabled: bool | None = None,
    ) -> Page[Identity]:
        mine = sorted(
            (
                i
                for i in self.rows.values()
                if i.tenant_id == tenant_id and (enabled is None or i.enabled == enabled)
            ),
            key=lambda i: str(i.id),
        )
        start = int(cursor or 0)
        more = start + limit < len(mine)
        return Page(tuple(mine[start : start + limit]), str(start + limit) if more else None)


def main() -> MyUsers:
    """The ten lines that matter: Deps with your store, a connector, a sync, a drain."""
    root = Path(tempfile.mkdtemp())
    (root / "hr.csv").write_text("employee_id,email\nE1,ada@example.org\nE2,alan@example.org\n")
    users = MyUsers()
    deps = Deps(
        open_store("memory:"),
        default_registry(),
        KeyRing([generate_key()]),
        SystemClock(),
        root,
        identities=users,
    )
    tenant = ensure_tenant(deps, "default")
    hr = create_connector(
        deps,
        tenant.id,
        {
            "name": "hr",
            "type": "csv",
            "role": "source",
            "config": {"path": "hr.csv", "uid_column": "employee_id"},
            "mappings": [
                {"identity": "employee_id", "account": "employee_id", "direction": "inbound"},
                {"identity": "email", "account": "email", "direction": "inbound"},
            ],
            "correlation": [{"identity": "employee_id", "account": "employee_id"}],
        },
    )
    start_sync(deps, tenant.id, hr.id)
    drain_all(deps)
    return users


if __name__ == "__main__":
    for user in main().rows.values():
        print(user.attributes)
