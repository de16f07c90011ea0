"""The JSON Schemas of the API's documents (SPEC §4.4), built from the core's own types.

Input documents the core structures with its converter come straight from their attrs
classes (``connectors.ConnectorInput`` and the model classes it nests). Read documents are
projections of the model classes: the list of fields of each is written here (it is what
the core's ``*_document`` functions render), their types come from the model. Documents
the core builds by hand (queue stats, sync status, health, the small request bodies it
parses itself) are written out in full. Every read schema refuses unknown properties and
requires every field, so the fuzzing suite (schemathesis, validating every response)
fails as soon as a rendered document and its schema drift apart.
"""

from __future__ import annotations

from typing import Any

from xavyo_connectors_core import identities, runs
from xavyo_connectors_core.connectors import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    ConnectorInput,
)
from xavyo_connectors_core.converter import Transform
from xavyo_connectors_core.errors import FieldError
from xavyo_connectors_core.model import (
    IDENTITY_ATTRIBUTE_RE,
    Capability,
    Connector,
    Discrepancy,
    Identity,
    Operation,
    Run,
    RunMode,
    Schema,
    SchemaVersion,
    Shadow,
    TestResult,
)
from xavyo_connectors_core.spi import ConfigField
from xavyo_connectors_starlette.errors import PROBLEM_TYPE_PREFIX
from xavyo_connectors_starlette.jsonschema import (
    JsonSchema,
    Mode,
    SchemaBuilder,
    nullable,
    ref,
)

UUID_SCHEMA: JsonSchema = {"type": "string", "format": "uuid"}
TIMESTAMP: JsonSchema = {"type": "string", "format": "date-time"}
COUNT: JsonSchema = {"type": "integer", "minimum": 0}


def _is_transform(tp: Any) -> bool:
    return bool(tp == Transform)


def build_components() -> SchemaBuilder:
    """A builder holding every component schema of the API's documents."""
    builder = SchemaBuilder(overrides=[(_is_transform, nullable(ref("Transform")))])
    builder.add(
        "Transform",
        {
            "description": "One transform name, or a list of names applied in order.",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ],
        },
    )
    _problems(builder)
    _connectors(builder)
    _identities(builder)
    _runs(builder)
    _provisioning(builder)
    builder.add(
        "Health",
        {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "store": {"type": "string", "enum": ["ok", "unreachable"]},
            },
            "required": ["status", "store"],
            "additionalProperties": False,
        },
    )
    builder.add(
        "OpenApiDocument",
        {
            "type": "object",
            "description": "This document (OpenAPI 3.1).",
            "properties": {"openapi": {"type": "string"}},
            "required": ["openapi", "info", "paths"],
        },
    )
    return builder


def page_of(builder: SchemaBuilder, item: str) -> str:
    """Register ``<item>Page`` (``{"items": [...], "next_cursor"}``); return its name."""
    name = f"{item}Page"
    builder.add(
        name,
        {
            "type": "object",
            "description": f"One page of {item} documents; follow next_cursor for the next.",
            "properties": {
                "items": {"type": "array", "items": ref(item)},
                "next_cursor": {"type": ["string", "null"]},
            },
            "required": ["items", "next_cursor"],
            "additionalProperties": False,
        },
    )
    return name


def _problems(builder: SchemaBuilder) -> None:
    builder.add(
        "Problem",
        {
            "type": "object",
            "description": "An RFC 9457 problem document.",
            "properties": {
                "type": {"type": "string", "pattern": f"^{PROBLEM_TYPE_PREFIX}[a-z0-9-]+$"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "description": "Every field error (422 only).",
                    "items": builder.schema_of(FieldError, Mode.OUTPUT),
                },
                "run_id": {**UUID_SCHEMA, "description": "The active run (409 only)."},
            },
            "required": ["type", "title", "status", "detail"],
            "additionalProperties": False,
        },
    )


def _connectors(builder: SchemaBuilder) -> None:
    builder.component(ConnectorInput, Mode.INPUT)
    _tighten_connector_input(builder.components["ConnectorInput"])
    builder.add("ConnectorPatch", merge_patch_of(builder.components["ConnectorInput"], ("type",)))
    builder.add(
        "Connector",
        builder.object_schema(
            Connector,
            Mode.OUTPUT,
            only=(
                "id",
                "name",
                "type",
                "role",
                "description",
                "enabled",
                "config",
                "secrets",
                "mappings",
                "correlation",
                "reactions",
                "scope",
                "on_leave_scope",
                "sync_interval_seconds",
                "max_deletions",
                "max_deletion_ratio",
                "max_operations_per_second",
                "max_attempts",
                "retry_base_seconds",
                "retry_max_seconds",
                "last_test",
                "schema_discovered_at",
                "needs_attention",
                "version",
                "created_at",
                "updated_at",
            ),
            replace={
                "secrets": {
                    "type": "array",
                    "description": "The names of the secrets that are set; never their values.",
                    "items": {"type": "string"},
                    "uniqueItems": True,
                },
                "version": {"type": "integer", "minimum": 1},
            },
            description="A connector as read (secrets by name only).",
        ),
    )
    page_of(builder, "Connector")
    builder.component(TestResult, Mode.OUTPUT)
    builder.component(Schema, Mode.OUTPUT)
    builder.add(
        "SchemaVersion",
        builder.object_schema(
            SchemaVersion,
            Mode.OUTPUT,
            only=("version", "discovered_at", "diff"),
            description="One discovered schema version with its diff from the previous one.",
        ),
    )
    page_of(builder, "SchemaVersion")
    config_field = builder.object_schema(
        ConfigField,
        Mode.OUTPUT,
        only=("name", "type", "required", "secret", "default", "description"),
    )
    builder.add("ConfigField", config_field)
    builder.add(
        "ConnectorType",
        {
            "type": "object",
            "description": "A registered connector type: its config spec and capabilities.",
            "properties": {
                "type": {"type": "string"},
                "description": {"type": "string"},
                "capabilities": {
                    "type": "array",
                    "items": builder.component(Capability, Mode.OUTPUT),
                    "uniqueItems": True,
                },
                "config": {"type": "array", "items": ref("ConfigField")},
            },
            "required": ["type", "description", "capabilities", "config"],
            "additionalProperties": False,
        },
    )
    page_of(builder, "ConnectorType")
    builder.add(
        "Shadow",
        builder.object_schema(
            Shadow,
            Mode.OUTPUT,
            only=("uid", "name", "identity_id", "situation", "attributes", "last_seen_at"),
            description="An account as we last saw it (its shadow).",
        ),
    )
    page_of(builder, "Shadow")


def _tighten_connector_input(schema: JsonSchema) -> None:
    """Limits the core checks after structuring, stated where JSON Schema can state them."""
    properties = schema["properties"]
    properties["name"] = {
        **properties["name"],
        "minLength": 1,
        "maxLength": MAX_NAME_LENGTH,
        "pattern": "^[^\\r\\n\\x00]*\\S[^\\r\\n\\x00]*$",
    }
    properties["description"] = {**properties["description"], "maxLength": MAX_DESCRIPTION_LENGTH}
    properties["secrets"] = {
        **properties["secrets"],
        "description": "Secret values by name (only names the type's spec marks secret); "
        "null removes one. Never returned.",
    }


def merge_patch_of(schema: JsonSchema, read_only: tuple[str, ...]) -> JsonSchema:
    """The schema of a JSON merge patch (RFC 7396) of documents of ``schema``.

    Every property is optional; one with a default may be null (back to its default);
    ``read_only`` properties are left out (so refused: unknown properties are).
    """
    properties: dict[str, JsonSchema] = {}
    for name, prop in schema["properties"].items():
        if name in read_only:
            continue
        has_default = "default" in prop
        prop = {k: v for k, v in prop.items() if k != "default"}
        properties[name] = nullable(prop) if has_default else prop
    return {
        "type": "object",
        "description": "A JSON merge patch (RFC 7396); read-only fields are refused.",
        "properties": properties,
        "minProperties": 0,
        "additionalProperties": False,
    }


def _identities(builder: SchemaBuilder) -> None:
    scalar: JsonSchema = {
        "anyOf": [
            {"type": "string", "maxLength": identities.MAX_STRING},
            {"type": "number"},
            {"type": "boolean"},
        ]
    }
    value: JsonSchema = {
        "anyOf": [
            scalar,
            {"type": "array", "items": scalar, "maxItems": identities.MAX_LIST},
        ]
    }
    builder.add("IdentityAttributeValue", value)

    def attributes(values: JsonSchema) -> JsonSchema:
        return {
            "type": "object",
            "propertyNames": {"pattern": IDENTITY_ATTRIBUTE_RE.pattern, "maxLength": 128},
            "maxProperties": identities.MAX_ATTRIBUTES,
            "additionalProperties": values,
        }

    builder.add("IdentityAttributes", attributes(ref("IdentityAttributeValue")))
    builder.add(
        "IdentityInput",
        {
            "type": "object",
            "description": "A new identity of the reference identity store.",
            "properties": {
                "attributes": ref("IdentityAttributes"),
                "enabled": {"type": "boolean", "default": True},
            },
            "required": ["attributes"],
            "additionalProperties": False,
        },
    )
    builder.add(
        "IdentityPatch",
        {
            "type": "object",
            "description": "A JSON merge patch of an identity: attributes merged (null "
            "removes one), enabled set.",
            "properties": {
                "attributes": attributes(nullable(ref("IdentityAttributeValue"))),
                "enabled": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    )
    builder.add(
        "Identity",
        builder.object_schema(
            Identity,
            Mode.OUTPUT,
            only=("id", "attributes", "enabled", "created_at", "updated_at"),
            replace={"attributes": ref("IdentityAttributes")},
        ),
    )
    page_of(builder, "Identity")


def _runs(builder: SchemaBuilder) -> None:
    builder.add(
        "Run",
        builder.object_schema(
            Run,
            Mode.OUTPUT,
            only=(
                "id",
                "connector_id",
                "kind",
                "mode",
                "status",
                "progress",
                "counts",
                "actions",
                "error",
                "allow_mass_deletion",
                "queued_at",
                "started_at",
                "finished_at",
                "plan_run_id",
            ),
            optional=("plan_run_id",),
            replace={"counts": {"type": "object", "additionalProperties": COUNT}},
            description="A sync or reconciliation run (plan_run_id: apply runs only).",
        ),
    )
    page_of(builder, "Run")
    builder.add(
        "SyncRequest",
        {
            "type": "object",
            "description": "Optional options of a sync run.",
            "properties": {
                "mode": {
                    "type": "string",
                    "enum": [m.value for m in runs.SYNC_MODES],
                    "default": RunMode.INCREMENTAL.value,
                },
                "allow_mass_deletion": {"type": "boolean", "default": False},
            },
            "additionalProperties": False,
        },
    )
    builder.add(
        "ReconciliationRequest",
        {
            "type": "object",
            "description": "Start a reconciliation run of one connector.",
            "properties": {
                "connector_id": UUID_SCHEMA,
                "mode": {
                    "type": "string",
                    "enum": [RunMode.REPORT.value, RunMode.REMEDIATE.value],
                    "default": RunMode.REPORT.value,
                },
                "allow_mass_deletion": {"type": "boolean", "default": False},
            },
            "required": ["connector_id"],
            "additionalProperties": False,
        },
    )
    builder.add(
        "ApplyRequest",
        {
            "type": "object",
            "description": "Which discrepancies of the report run to act on (absent: all open).",
            "properties": {
                "discrepancy_ids": {"type": "array", "items": UUID_SCHEMA, "minItems": 1},
            },
            "additionalProperties": False,
        },
    )
    builder.add(
        "SyncStatus",
        {
            "type": "object",
            "properties": {
                "connector_id": UUID_SCHEMA,
                "state": {"type": "string", "enum": ["idle", "queued", "running"]},
                "token": {"type": ["string", "null"]},
                "current_run": nullable(ref("Run")),
                "last_run": nullable(ref("Run")),
            },
            "required": ["connector_id", "state", "token", "current_run", "last_run"],
            "additionalProperties": False,
        },
    )
    builder.add(
        "Discrepancy",
        builder.object_schema(
            Discrepancy,
            Mode.OUTPUT,
            only=(
                "id",
                "run_id",
                "connector_id",
                "situation",
                "account_uid",
                "identity_id",
                "differences",
                "explanation",
                "reaction",
                "outcome",
                "operation_id",
                "status",
                "error",
            ),
        ),
    )
    page_of(builder, "Discrepancy")


def _provisioning(builder: SchemaBuilder) -> None:
    builder.add(
        "Operation",
        builder.object_schema(
            Operation,
            Mode.OUTPUT,
            only=(
                "id",
                "connector_id",
                "kind",
                "account_uid",
                "identity_id",
                "changes",
                "status",
                "attempts",
                "max_attempts",
                "next_attempt_at",
                "last_error",
                "last_response",
                "reason",
                "created_at",
                "updated_at",
            ),
            extra={
                "waiting_behind": {
                    **COUNT,
                    "description": "Dead operations only: how many later operations of "
                    "the same account wait behind it.",
                }
            },
            optional=("waiting_behind",),
        ),
    )
    page_of(builder, "Operation")
    waiting = ("pending", "in_progress", "retrying", "dead")
    builder.add(
        "QueueStats",
        {
            "type": "object",
            "description": "Operations per status, overall and per connector.",
            "properties": {
                **dict.fromkeys(waiting, COUNT),
                "oldest_pending_age_seconds": {"type": ["number", "null"], "minimum": 0},
                "connectors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "connector_id": UUID_SCHEMA,
                            "pending": COUNT,
                            "retrying": COUNT,
                            "dead": COUNT,
                            "quarantined_until": nullable(TIMESTAMP),
                        },
                        "required": [
                            "connector_id",
                            "pending",
                            "retrying",
                            "dead",
                            "quarantined_until",
                        ],
                        "additionalProperties": False,
                    },
                },
            },
            "required": [*waiting, "oldest_pending_age_seconds", "connectors"],
            "additionalProperties": False,
        },
    )
