"""How many cases each part of the security suite tried, and the operations it knows.

``tried(part)`` counts one case; ``write()`` puts the counts in
``artifacts/security-counts.json``. ``OPERATIONS`` is every operation of the app as served
(its route table, read through ``openapi.documented_operations``), and ``DOCUMENT`` its
OpenAPI document: the suite generates its cases from them, never from a hand-kept list.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from tests.support.api_world import World
from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.testing import MemoryStore
from xavyo_connectors_starlette import create_app
from xavyo_connectors_starlette.openapi import (
    DocumentedOperation,
    documented_operations,
    openapi_document,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

COUNTS: Counter[str] = Counter()


def tried(part: str, n: int = 1) -> None:
    """Count ``n`` cases of ``part``."""
    COUNTS[part] += n


def write() -> Path:
    """Write the counts to ``artifacts/security-counts.json``; return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "security-counts.json"
    report = {"parts": dict(sorted(COUNTS.items())), "total": sum(COUNTS.values())}
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def _served() -> tuple[list[DocumentedOperation], dict[str, Any]]:
    """The operations and document of an app as ``create_app`` builds it."""
    deps = Deps(
        store=MemoryStore(),
        registry=default_registry(),
        keyring=KeyRing([generate_key()]),
        clock=SystemClock(),
        files_root=Path("/nonexistent"),
    )
    routes = create_app(deps).routes
    return list(documented_operations(routes)), openapi_document(routes)


OPERATIONS, DOCUMENT = _served()
PROTECTED = [op for op in OPERATIONS if not op.operation.public]
PUBLIC = [op for op in OPERATIONS if op.operation.public]


def op_id(op: DocumentedOperation) -> str:
    return f"{op.method} {op.path}"


def spec_of(op: DocumentedOperation) -> dict[str, Any]:
    """The operation object of ``op`` in the document."""
    spec: dict[str, Any] = DOCUMENT["paths"][op.path][op.method.lower()]
    return spec


def example_body(op: DocumentedOperation, world: World) -> Any:
    """A valid body for ``op`` naming ``world``'s resources (None when it takes none).

    The document's example, with every id in it replaced by one of ``world``.
    """
    body = op.operation.body
    if body is None or body.example is None:
        return None
    return with_ids(body.example, world)


def valid_body(op: DocumentedOperation, world: World) -> Any:
    """``example_body``, made to succeed in ``world``: a new connector gets a fresh name
    and the world's csv file (the example's mappings name its columns)."""
    body = example_body(op, world)
    if op.operation.body is not None and op.operation.body.schema == "ConnectorInput":
        config = {**body["config"], "path": f"{world.slug}-hr.csv"}
        body = {**body, "name": f"new-{uuid.uuid4().hex[:8]}", "config": config}
    return body


def with_ids(value: Any, world: World) -> Any:
    """``value`` with its ``*_id`` / ``*_ids`` members pointing into ``world``."""
    ids = {**world.path_ids(), "discrepancy_id": world.discrepancy}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.endswith("_id") and key in ids:
                out[key] = ids[key]
            elif key.endswith("_ids") and key[:-1] in ids:
                out[key] = [ids[key[:-1]]]
            else:
                out[key] = with_ids(item, world)
        return out
    if isinstance(value, list):
        return [with_ids(item, world) for item in value]
    return value


def body_id_slots(op: DocumentedOperation) -> dict[str, bool]:
    """The ids a body of ``op`` can carry: property name -> whether it is a list of ids.

    Read off the body's schema: a ``uuid`` property, or an array of them.
    """
    body = op.operation.body
    if body is None or body.schema is None:
        return {}
    schema = DOCUMENT["components"]["schemas"][body.schema]
    slots = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("format") == "uuid":
            slots[name] = False
        elif prop.get("type") == "array" and prop.get("items", {}).get("format") == "uuid":
            slots[name] = True
    return slots


def unknown_id() -> str:
    return str(uuid.uuid4())
