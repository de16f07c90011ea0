"""Read documents of SPEC §4.4 that have no use-case module of their own.

Pure functions from domain objects to JSON-ready dicts, through the one converter. The
connector and identity documents live with their use cases
(``connectors.connector_document``, ``identities.identity_document``).
"""

from __future__ import annotations

from typing import Any

from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.model import Schema, SchemaDiff, SchemaVersion, TestResult


def schema_document(version: SchemaVersion) -> dict[str, Any]:
    """``{"object_classes": [{"name", "uid_attribute", "name_attribute", "attributes":
    [{"name", "type", "multivalued", "required", "readable", "creatable", "updateable",
    "returned_by_default"}]}], "discovered_at"}`` of the schema ``version`` holds."""
    doc: dict[str, Any] = converter.unstructure(version.schema, Schema)
    doc["discovered_at"] = converter.unstructure(version.discovered_at)
    return doc


def schema_version_document(version: SchemaVersion) -> dict[str, Any]:
    """``{"version", "discovered_at", "diff": {"added", "removed", "changed":
    [{"attribute", "before", "after"}]}}`` of one stored schema version."""
    return {
        "version": version.version,
        "discovered_at": converter.unstructure(version.discovered_at),
        "diff": converter.unstructure(version.diff, SchemaDiff),
    }


def connection_test_document(result: TestResult) -> dict[str, Any]:
    """``{"ok", "latency_ms", "message", "tested_at"}`` of a connection test."""
    doc: dict[str, Any] = converter.unstructure(result, TestResult)
    return doc
