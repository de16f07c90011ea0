"""The connector SPI (SPEC §5): what a connector type implements.

A ``ConnectorType`` declares its key, its config spec and capabilities, and opens a
``Connection`` from a validated config and decrypted secrets. Errors talking to the
system are raised as ``TargetUnavailable`` (transient), ``TargetRejected`` (permanent),
``AccountExists`` or ``AccountNotFound`` from ``errors.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from attrs import field, frozen

from xavyo_connectors_core.model import AttributeDelta, Capability, Schema


class ConfigType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"


@frozen
class ConfigField:
    """One key of a connector type's config (or, with ``secret=True``, of its secrets)."""

    name: str
    type: ConfigType = ConfigType.STRING
    required: bool = False
    secret: bool = False
    default: Any = None
    description: str = ""
    choices: tuple[str, ...] | None = None
    path: bool = False
    """The value names a file, resolved inside the files root (SPEC §3.8)."""


TIMEOUT_FIELD = ConfigField(
    "timeout_seconds",
    ConfigType.NUMBER,
    default=10,
    description="Timeout of every round trip to the system, in seconds.",
)


@frozen
class ConnectorObject:
    """One account as the system returns it."""

    uid: str
    name: str
    attributes: Mapping[str, Any] = field(factory=dict)


class ChangeKind(enum.StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


@frozen
class Change:
    """One change in a system's change stream; ``token`` is the position after it."""

    kind: ChangeKind
    uid: str
    object: ConnectorObject | None
    token: str | None


@frozen
class OpenContext:
    """What a type needs besides config and secrets to open a connection."""

    files_root: Path


class Connection(AbstractContextManager["Connection"], Protocol):
    """An open connection to one system. Close it by leaving the ``with`` block."""

    def test(self) -> str:
        """Do the cheapest real round trip; return a short message. Raise on failure."""
        ...

    def schema(self) -> Schema: ...

    def search(self, object_class: str, page_size: int) -> Iterator[ConnectorObject]: ...

    def get(self, object_class: str, uid: str) -> ConnectorObject:
        """Raises ``AccountNotFound``."""
        ...

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        """Raises ``AccountExists`` (with the uid when known)."""
        ...

    def update(
        self, object_class: str, uid: str, deltas: Sequence[AttributeDelta]
    ) -> ConnectorObject:
        """Raises ``AccountNotFound``."""
        ...

    def delete(self, object_class: str, uid: str) -> None:
        """Raises ``AccountNotFound``."""
        ...


class IncrementalConnection(Connection, Protocol):
    """A connection whose type has the ``changes`` capability."""

    def changes(self, object_class: str, token: str | None) -> Iterator[Change]: ...

    def latest_token(self, object_class: str) -> str | None: ...


class ConnectorType(Protocol):
    """A plug-in that knows how to talk to one kind of system."""

    key: str
    description: str
    config_spec: tuple[ConfigField, ...]
    capabilities: frozenset[Capability]

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        """The object class whose objects are the accounts, for this config."""
        ...

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> Connection: ...
