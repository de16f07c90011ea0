"""The dependencies a use case needs, bundled once by the host (or ``create_app``)."""

from __future__ import annotations

from pathlib import Path

from attrs import frozen

from xavyo_connectors_core.ports import Clock, Store
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
    """

    store: Store
    registry: ConnectorRegistry
    keyring: KeyRing
    clock: Clock
    files_root: Path
