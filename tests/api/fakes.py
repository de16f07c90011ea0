"""Test-only connector type with a secret (the built-in ``csv`` type has none).

``vault`` is registered next to the real types in the API fixtures so the tests can set,
read and test a connector secret over HTTP. Its connection checks the password it was
opened with against the one the type was built with, so a test that passes proves the
secret was sealed and opened again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from xavyo_connectors_core.errors import AccountNotFound, TargetUnavailable
from xavyo_connectors_core.model import (
    Attribute,
    AttributeDelta,
    Capability,
    ObjectClass,
    Schema,
)
from xavyo_connectors_core.spi import ConfigField, ConfigType, ConnectorObject, OpenContext


class VaultConnection:
    def __init__(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], expected_password: str
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.expected_password = expected_password

    def __enter__(self) -> VaultConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def test(self) -> str:
        if self.secrets.get("password") != self.expected_password:
            raise TargetUnavailable("the vault refused the password")
        return "vault ok"

    def schema(self) -> Schema:
        if self.config.get("reachable") is False:
            raise TargetUnavailable("the vault is unreachable")
        attributes = (Attribute("id"), Attribute("mail"))
        return Schema(
            object_classes=(ObjectClass("account", "id", "id", attributes),),
            discovered_at=datetime.now(UTC),
        )

    def search(self, object_class: str, page_size: int) -> Iterator[ConnectorObject]:
        return iter(())

    def get(self, object_class: str, uid: str) -> ConnectorObject:
        raise AccountNotFound(uid)

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        raise NotImplementedError

    def update(
        self, object_class: str, uid: str, deltas: Sequence[AttributeDelta]
    ) -> ConnectorObject:
        raise NotImplementedError

    def delete(self, object_class: str, uid: str) -> None:
        raise NotImplementedError


class VaultType:
    key = "vault"
    description = "Test-only type with a secret password."
    config_spec = (
        ConfigField("url", ConfigType.STRING, required=True),
        ConfigField("reachable", ConfigType.BOOLEAN, default=True),
        ConfigField("password", ConfigType.STRING, secret=True),
    )
    capabilities = frozenset({Capability.SCHEMA, Capability.SEARCH})

    def __init__(self, expected_password: str) -> None:
        self.expected_password = expected_password

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        return "account"

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> VaultConnection:
        return VaultConnection(config, secrets, self.expected_password)
