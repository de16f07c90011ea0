"""The connector type registry: built-ins, plug-ins and the type document (SPEC §4.4)."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from xavyo_connectors_core import registry as registry_module
from xavyo_connectors_core.errors import NotFound
from xavyo_connectors_core.model import Capability
from xavyo_connectors_core.registry import (
    ENTRY_POINT_GROUP,
    ConnectorRegistry,
    builtin_registry,
    default_registry,
    describe,
    load_entry_point_types,
)
from xavyo_connectors_core.spi import ConfigField, ConfigType, Connection, OpenContext
from xavyo_connectors_core.types.csv import TYPE as CSV


class PluginType:
    """A third-party connector type."""

    key = "acme"
    description = "ACME directory"
    capabilities = frozenset({Capability.SEARCH, Capability.CHANGES, Capability.SCHEMA})
    config_spec = (
        ConfigField("host", required=True, description="The host."),
        ConfigField("api_key", secret=True, required=True, default="never shown"),
        ConfigField("timeout_seconds", ConfigType.NUMBER, default=30),
    )

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        return "user"

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> Connection:
        raise NotImplementedError


PLUGIN_INSTANCE = PluginType()


def make_plugin() -> PluginType:
    return PluginType()


class NotAType:
    pass


class BadKeyType(PluginType):
    key = "Bad Key!"


def fake_entry_points(
    monkeypatch: pytest.MonkeyPatch, **targets: str
) -> list[importlib.metadata.EntryPoint]:
    """Make importlib.metadata.entry_points return entry points to this module."""
    points = [
        importlib.metadata.EntryPoint(name, f"{__name__}:{target}", ENTRY_POINT_GROUP)
        for name, target in targets.items()
    ]

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        return points if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    return points


class TestRegistry:
    def test_builtins(self) -> None:
        """The built-in registry holds the csv type."""
        registry = builtin_registry()
        assert "csv" in registry
        assert registry.get("csv") is CSV
        assert registry.keys() == sorted(registry.keys())

    def test_unknown_type(self) -> None:
        """An unknown key is NotFound."""
        with pytest.raises(NotFound):
            ConnectorRegistry().get("nope")

    def test_register_and_sort(self) -> None:
        """Types are listed sorted by key."""
        registry = ConnectorRegistry([PLUGIN_INSTANCE, CSV])
        assert [t.key for t in registry.types()] == ["acme", "csv"]
        assert len(registry) == 2
        assert repr(registry) == "ConnectorRegistry(['acme', 'csv'])"

    def test_duplicate_key_refused(self) -> None:
        """Another type under a taken key is refused unless replace is asked for."""
        registry = ConnectorRegistry([PLUGIN_INSTANCE])
        registry.register(PLUGIN_INSTANCE)  # the same object again is fine
        other = PluginType()
        with pytest.raises(ValueError, match="already registered"):
            registry.register(other)
        registry.register(other, replace=True)
        assert registry.get("acme") is other

    def test_malformed_types_refused(self) -> None:
        """Something that is not a connector type, or has a bad key, is refused."""
        with pytest.raises(TypeError):
            ConnectorRegistry().register(NotAType())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="key"):
            ConnectorRegistry().register(BadKeyType())


class TestDescribe:
    def test_csv_document(self) -> None:
        """The csv document has the SPEC §4.4 shape, every config key, JSON-serializable."""
        doc = builtin_registry().describe("csv")
        assert set(doc) == {"type", "description", "capabilities", "config"}
        assert doc["type"] == "csv"
        assert doc["capabilities"] == ["schema", "search", "create", "update", "delete", "disable"]
        names = [f["name"] for f in doc["config"]]
        assert names == [
            "path",
            "uid_column",
            "name_column",
            "delimiter",
            "encoding",
            "columns",
            "multivalue_delimiter",
            "enabled_column",
            "timeout_seconds",
        ]
        for item in doc["config"]:
            assert set(item) == {"name", "type", "required", "secret", "default", "description"}
            assert item["description"]
        by_name = {f["name"]: f for f in doc["config"]}
        assert by_name["path"]["required"] is True
        assert by_name["delimiter"]["default"] == ","
        assert by_name["timeout_seconds"] == {
            "name": "timeout_seconds",
            "type": "number",
            "required": False,
            "secret": False,
            "default": 10,
            "description": by_name["timeout_seconds"]["description"],
        }
        json.dumps(doc)

    def test_plugin_document(self) -> None:
        """Secrets are listed with secret=true and no default; capabilities in SPEC order."""
        doc = describe(PLUGIN_INSTANCE)
        assert doc["capabilities"] == ["schema", "search", "changes"]
        by_name = {f["name"]: f for f in doc["config"]}
        assert by_name["api_key"]["secret"] is True
        assert by_name["api_key"]["default"] is None
        assert by_name["timeout_seconds"]["default"] == 30  # the type's own, listed once
        assert [f["name"] for f in doc["config"]].count("timeout_seconds") == 1

    def test_describe_all_sorted(self) -> None:
        """describe_all lists every type's document, sorted by key."""
        registry = ConnectorRegistry([CSV, PLUGIN_INSTANCE])
        assert [d["type"] for d in registry.describe_all()] == ["acme", "csv"]

    def test_document_defaults_are_copies(self) -> None:
        """Mutating a document does not change the spec."""
        doc = describe(CSV)
        columns = next(f for f in doc["config"] if f["name"] == "columns")
        columns["default"]["x"] = "integer"
        assert next(f for f in describe(CSV)["config"] if f["name"] == "columns")["default"] == {}


class TestEntryPoints:
    def test_instance_factory_and_class(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An entry point may name an instance, a zero-argument factory, or a class."""
        for target in ("PLUGIN_INSTANCE", "make_plugin", "PluginType"):
            fake_entry_points(monkeypatch, acme=target)
            registry = default_registry(strict=True)
            assert registry.keys() == sorted(["acme", *builtin_registry().keys()])
            assert isinstance(registry.get("acme"), PluginType)

    def test_broken_plugin_skipped_with_warning(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A plug-in that fails to load is logged and skipped; the rest still load."""
        fake_entry_points(
            monkeypatch, broken="NotAType", missing="no_such_name", acme="make_plugin"
        )
        with caplog.at_level(logging.WARNING):
            registry = default_registry()
        assert registry.keys() == sorted(["acme", *builtin_registry().keys()])
        assert "broken" in caplog.text and "missing" in caplog.text

    def test_broken_plugin_raises_when_strict(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With strict, a broken plug-in raises."""
        fake_entry_points(monkeypatch, broken="NotAType")
        with pytest.raises(TypeError):
            load_entry_point_types(strict=True)

    def test_plugin_cannot_shadow_builtin(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A plug-in whose key is a built-in's is skipped; the built-in stays."""
        monkeypatch.setattr(PluginType, "key", "csv")
        fake_entry_points(monkeypatch, fake_csv="make_plugin")
        with caplog.at_level(logging.WARNING):
            registry = default_registry()
        assert registry.get("csv") is CSV
        assert "taken" in caplog.text
        with pytest.raises(ValueError, match="already registered"):
            default_registry(strict=True)

    def test_no_plugins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without plug-ins the default registry is the built-in one."""
        fake_entry_points(monkeypatch)
        assert default_registry().keys() == builtin_registry().keys()


class TestNoDriverImports:
    def test_builtins_import_no_driver(self) -> None:
        """Loading the built-in registry imports neither psycopg, ldap3 nor httpx."""
        code = (
            "import sys\n"
            "from xavyo_connectors_core.registry import builtin_registry\n"
            "builtin_registry()\n"
            "bad = [m for m in ('psycopg', 'ldap3', 'httpx') if m in sys.modules]\n"
            "print(','.join(bad))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == ""

    def test_builtin_references_resolve(self) -> None:
        """Every BUILTIN_TYPES entry is a module of types/ whose name is its type's key."""
        keys = builtin_registry().keys()
        for reference in registry_module.BUILTIN_TYPES:
            module = reference.partition(":")[0]
            assert module.startswith("xavyo_connectors_core.types.")
            assert module.rsplit(".", 1)[1] in keys
