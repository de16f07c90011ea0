"""``GET /openapi.json``: the OpenAPI 3.1 document of the API, generated, never hand-kept.

``openapi_document(routes)`` walks the route table (the same ``Route`` objects that serve
requests): every path and method becomes an operation, described by the ``Operation``
its endpoint is decorated with (``operations.py``) and by schemas built from the core's
own types (``schemas.py``). Path parameters come from the route paths; the errors an
operation can answer follow from its shape (auth, path ids, body, query, ``If-Match``)
plus the ones its ``Operation`` names. A route of the API without an ``Operation`` is an
error, so nothing can be served undocumented. Links between operations (the ``id`` of a
created connector feeds the operations under ``/connectors/{connector_id}``...) are
derived from each answer's ``link_as``.

``create_app`` serves the document at ``/openapi.json``; a host that mounts the routers
can call ``openapi_document(routes)`` (or mount ``openapi_route(routes)``) itself.
"""

from __future__ import annotations

import http
import inspect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from attrs import frozen
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Router

import xavyo_connectors_core
from xavyo_connectors_starlette.auth import READ_METHODS
from xavyo_connectors_starlette.errors import PROBLEM_MEDIA_TYPE, Endpoint
from xavyo_connectors_starlette.jsonschema import JsonSchema, Mode, ref
from xavyo_connectors_starlette.operations import Answer, Operation, documented, operation_of
from xavyo_connectors_starlette.routes._http import ApiRoute
from xavyo_connectors_starlette.schemas import build_components

__all__ = ["DocumentedOperation", "documented_operations", "openapi_document", "openapi_route"]

OPENAPI_VERSION = "3.1.0"
JSON_MEDIA_TYPE = "application/json"
SECURITY_SCHEME = "bearer"

TAGS: Mapping[str, str] = {
    "connectors": "Connectors: create, read, update, delete, test, schema (SPEC §3.1, §3.2).",
    "sync": "Inbound sync runs and the accounts (shadows) they keep (SPEC §3.4).",
    "reconciliation": "Reconciliation runs, their discrepancies and plans (SPEC §3.6).",
    "provisioning": "The provisioning queue and the dead-letter queue (SPEC §3.7).",
    "identities": "The reference identity store of the standalone server.",
    "meta": "Health and this document.",
}

HEADERS: Mapping[str, JsonSchema] = {
    "Location": {
        "description": "The path of the created resource or of the accepted run.",
        "required": True,
        "schema": {"type": "string"},
    },
    "ETag": {
        "description": 'The version of the resource, as "<version>" (send it as If-Match).',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+"$'},
    },
    "WWW-Authenticate": {
        "description": "The Bearer challenge.",
        "required": True,
        "schema": {"type": "string", "pattern": "^Bearer "},
    },
    "Cache-Control": {
        "description": "Never cached.",
        "required": True,
        "schema": {"type": "string", "const": "no-store"},
    },
}

ERRORS: Mapping[int, str] = {
    400: "Malformed request: the body is not UTF-8 JSON, repeats a key, nests too deep.",
    401: "No bearer token, or one that names no one.",
    403: "The reader role may only read.",
    404: "Not found: unknown, malformed, or another tenant's id (indistinguishable).",
    409: "Conflict: duplicate name, a run already active (run_id), disabled connector, "
    "schema unavailable, connector needs attention, or the resource's state.",
    412: "If-Match names another version than the stored one.",
    413: "The request body is larger than 1 MiB.",
    415: "The request body is not JSON (or not UTF-8).",
    422: "Invalid document or parameter: every field error, each with its path.",
    502: "The external system failed where it was needed (nothing cached to fall back on).",
    503: "The store cannot be reached.",
}


@frozen
class DocumentedOperation:
    """One method of one route, with what it promises."""

    path: str
    method: str
    path_params: tuple[str, ...]
    endpoint: Endpoint
    operation: Operation

    @property
    def operation_id(self) -> str:
        return self.endpoint.__name__

    def error_statuses(self) -> tuple[int, ...]:
        """Every error status this operation can answer, ascending."""
        op = self.operation
        found = set(op.errors)
        if not op.public:
            found |= {401, 503}
            if self.method not in READ_METHODS:
                found.add(403)
        if self.path_params:
            found.add(404)
        if any(p.where == "query" for p in op.params):
            found.add(422)
        if any(p.name == "If-Match" for p in op.params):
            found.add(412)
        if op.body is not None:
            found |= {400, 413, 415}
            if op.body.schema is not None:
                found.add(422)
        return tuple(sorted(found))


_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def documented_operations(
    routes: Iterable[BaseRoute], prefix: str = ""
) -> Iterator[DocumentedOperation]:
    """Every method of every API route in ``routes`` (``Mount``/``Router`` walked into).

    ``HEAD``, which every ``GET`` also answers, is left out. Routes that are not the
    API's (a host's own) are skipped.

    Raises:
        ValueError: an API endpoint without an ``Operation``.
    """
    for route in routes:
        if isinstance(route, ApiRoute):
            path = prefix + route.path
            params = tuple(m.group(1) for m in _PARAM.finditer(path))
            for method, endpoint in route.endpoints.items():
                operation = operation_of(endpoint)
                if operation is None:
                    raise ValueError(f"{method} {path} ({endpoint.__name__}) is not documented")
                yield DocumentedOperation(
                    path=_PARAM.sub(r"{\1}", path),
                    method=method,
                    path_params=params,
                    endpoint=endpoint,
                    operation=operation,
                )
        elif isinstance(route, Mount):
            yield from documented_operations(route.routes, prefix + route.path)
        elif isinstance(route, Router):
            yield from documented_operations(route.routes, prefix)


def openapi_document(
    routes: Iterable[BaseRoute],
    *,
    title: str = "xavyo-connectors",
    version: str = xavyo_connectors_core.__version__,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API routes in ``routes``.

    Raises:
        ValueError: an undocumented endpoint, two operations with one id, or a reference
            to a schema that is not built.
    """
    builder = build_components()
    documented_ops = list(documented_operations(routes))
    ids = [d.operation_id for d in documented_ops]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"operation ids used twice: {', '.join(duplicates)}")
    for documented_op in documented_ops:
        for param in documented_op.operation.params:
            if param.enum_class is not None:
                builder.component(param.enum_class, Mode.OUTPUT)
    paths: dict[str, dict[str, Any]] = {}
    for documented_op in documented_ops:
        item = paths.setdefault(documented_op.path, {})
        item[documented_op.method.lower()] = _operation(
            documented_op, documented_ops, builder.components
        )
    used = {s for op in documented_ops for s in _schemas_named(op.operation)}
    missing = sorted(used - set(builder.components))
    if missing:
        raise ValueError(f"operations refer to schemas that are not built: {', '.join(missing)}")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Connectors, sync, reconciliation and provisioning of xavyo-connectors. "
                "Every GET also answers HEAD. Errors are RFC 9457 problem documents."
            ),
        },
        "tags": [
            {"name": name, "description": text}
            for name, text in TAGS.items()
            if any(d.operation.tag == name for d in documented_ops)
        ],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(builder.components.items())),
            "responses": {_error_name(s): _error_response(s) for s in sorted(ERRORS)},
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (admin: everything; reader: GET only).",
                }
            },
        },
    }


def _schemas_named(operation: Operation) -> Iterator[str]:
    for answer in (operation.answer, *operation.also):
        if answer.schema is not None:
            yield answer.schema
    if operation.body is not None and operation.body.schema is not None:
        yield operation.body.schema


def _operation(
    documented_op: DocumentedOperation,
    every: Sequence[DocumentedOperation],
    components: Mapping[str, JsonSchema],
) -> dict[str, Any]:
    op = documented_op.operation
    document: dict[str, Any] = {
        "operationId": documented_op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
    }
    description = inspect.getdoc(documented_op.endpoint)
    if description:
        document["description"] = description
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": "An id (a malformed or unknown one, or another tenant's, is a 404).",
            "schema": {"type": "string", "format": "uuid"},
        }
        for name in documented_op.path_params
    ]
    parameters += [
        {
            "name": p.name,
            "in": p.where,
            "required": p.required,
            "description": p.description,
            "schema": p.schema,
        }
        for p in op.params
    ]
    if parameters:
        document["parameters"] = parameters
    if op.body is not None:
        media: dict[str, Any] = {"schema": ref(op.body.schema) if op.body.schema else {}}
        if op.body.example is not None:
            media["example"] = op.body.example
        document["requestBody"] = {
            "required": op.body.required,
            "content": dict.fromkeys(sorted(op.body.media_types), media),
        }
    responses: dict[str, Any] = {}
    for answer in (op.answer, *op.also):
        responses[str(answer.status)] = _answer(answer, documented_op, every, components)
    for status in documented_op.error_statuses():
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{_error_name(status)}"})
    document["responses"] = dict(sorted(responses.items()))
    if op.public:
        document["security"] = []
    return document


def _answer(
    answer: Answer,
    source: DocumentedOperation,
    every: Sequence[DocumentedOperation],
    components: Mapping[str, JsonSchema],
) -> dict[str, Any]:
    document: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        document["headers"] = {name: HEADERS[name] for name in answer.headers}
    if answer.schema is not None:
        document["content"] = {JSON_MEDIA_TYPE: {"schema": ref(answer.schema)}}
        links = _links(answer, source, every, components)
        if links:
            document["links"] = links
    return document


def _links(
    answer: Answer,
    source: DocumentedOperation,
    every: Sequence[DocumentedOperation],
    components: Mapping[str, JsonSchema],
) -> dict[str, Any]:
    """Links from ``answer`` to the operations its ``id`` (and other properties) address."""
    if answer.link_as is None or answer.schema is None:
        return {}
    properties = components[answer.schema].get("properties", {})
    links: dict[str, Any] = {}
    for target in every:
        if target is source or answer.link_as not in target.path_params:
            continue
        if not target.path.startswith(answer.link_within):
            continue
        parameters: dict[str, str] = {}
        for name in target.path_params:
            if name == answer.link_as:
                parameters[name] = "$response.body#/id"
            elif name in properties:
                parameters[name] = f"$response.body#/{name}"
            else:
                break
        else:
            links[target.operation_id] = {
                "operationId": target.operation_id,
                "parameters": parameters,
            }
    return links


def _error_name(status: int) -> str:
    return "".join(word.capitalize() for word in http.HTTPStatus(status).phrase.split())


def _error_response(status: int) -> dict[str, Any]:
    document: dict[str, Any] = {
        "description": ERRORS[status],
        "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("Problem")}},
    }
    if status == 401:
        document["headers"] = {"WWW-Authenticate": HEADERS["WWW-Authenticate"]}
    return document


OPENAPI_OPERATION = Operation(
    summary="This OpenAPI 3.1 document",
    tag="meta",
    answer=Answer(200, "OpenApiDocument", "The OpenAPI 3.1 document of the API."),
    public=True,
)


def openapi_route(routes: Sequence[BaseRoute], path: str = "/openapi.json") -> ApiRoute:
    """A route serving the document of ``routes`` and of itself at ``path``.

    The document is built here, once (so a broken one fails at startup, not on a request).
    Mounted under a prefix, the answer names it as the server URL.
    """

    @documented(OPENAPI_OPERATION)
    async def openapi(request: Request) -> Response:
        """``GET /openapi.json``: this document; no authentication."""
        root_path = str(request.scope.get("root_path") or "")
        body = {**document, "servers": [{"url": root_path}]} if root_path else document
        return JSONResponse(body)

    route = ApiRoute(path, GET=openapi)
    document = openapi_document([*routes, route])
    return route
