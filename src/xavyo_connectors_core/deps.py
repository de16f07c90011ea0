"""The dependencies a use case needs, bundled once by the host (or ``create_app``)."""

from __future__ import annotations

from pathlib import Path

from attrs import frozen

from xavyo_connectors_core.ports import Clock, IdentityStore, Store, UnitOfWork
from xavyo_connectors_core.registry import ConnectorRegistry
from xavyo_connectors_core.secrets import KeyRing


@frozen
class Deps:
    """Ports and settings shared by the use cases.

    Attributes:
        store: opens units of work (one transaction each).
        registry: the connector types.
        keyring: seals and opens connector secrets.
        clock: the current time.
        files_root: every file named in a connector's config is resolved inside it.
        identities: the host's own identity store, or None for the reference store that
            lives in ``store`` (whose writes then share each unit of work's transaction).
    """

    store: Store
    registry: ConnectorRegistry
    keyring: KeyRing
    clock: Clock
    files_root: Path
    identities: IdentityStore | None = None


def identity_store(deps: Deps, uow: UnitOfWork) -> IdentityStore:
    """The identity store to use inside ``uow``: the host's, else the reference one."""
    return deps.identities if deps.identities is not None else uow.identities
