"""Connector management over HTTP (SPEC §3.1, §3.2, §4.1 rows 1-7, §4.2 schema versions).

Each endpoint authorizes, parses, and runs one core function (with the rendering of its
answer) in the threadpool; validation, tenancy and secrets are the core's business.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router

from xavyo_connectors_core import connectors, documents
from xavyo_connectors_core import schema as schemas
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import Role
from xavyo_connectors_starlette.auth import authorize
from xavyo_connectors_starlette.body import JSON, MERGE_PATCH, read_json
from xavyo_connectors_starlette.operations import (
    IF_MATCH,
    PAGE,
    Answer,
    Operation,
    bool_param,
    documented,
    enum_param,
    json_body,
    text_param,
)
from xavyo_connectors_starlette.pagination import PageParams, page_document, page_params
from xavyo_connectors_starlette.params import (
    bool_query,
    enum_query,
    etag,
    if_match,
    path_id,
    text_query,
)
from xavyo_connectors_starlette.routes import sync, types
from xavyo_connectors_starlette.routes._http import json, location, no_content, route
from xavyo_connectors_starlette.state import deps_of

Document = dict[str, Any]


def _connector_id(request: Request) -> UUID:
    return path_id(request, "connector_id", "connector")


# --------------------------------------------------------------------- core calls
# Run in the threadpool: the core call and the rendering of its answer, in one hop.


def _list(
    deps: Deps,
    tenant_id: UUID,
    page: PageParams,
    ctype: str | None,
    role: Role | None,
    enabled: bool | None,
) -> Document:
    found = connectors.list_connectors(
        deps,
        tenant_id,
        limit=page.limit,
        cursor=page.cursor,
        type=ctype,
        role=role,
        enabled=enabled,
    )
    return page_document(found, connectors.connector_document)


def _create(deps: Deps, tenant_id: UUID, body: Any) -> tuple[Document, int]:
    created = connectors.create_connector(deps, tenant_id, body)
    return connectors.connector_document(created), created.version


def _get(deps: Deps, tenant_id: UUID, connector_id: UUID) -> tuple[Document, int]:
    found = connectors.get_connector(deps, tenant_id, connector_id)
    return connectors.connector_document(found), found.version


def _update(
    deps: Deps, tenant_id: UUID, connector_id: UUID, body: Any, version: int | None
) -> tuple[Document, int]:
    updated = connectors.update_connector(deps, tenant_id, connector_id, body, if_match=version)
    return connectors.connector_document(updated), updated.version


def _test(deps: Deps, tenant_id: UUID, connector_id: UUID) -> Document:
    result = connectors.test_connector(deps, tenant_id, connector_id)
    return documents.connection_test_document(result)


def _schema(deps: Deps, tenant_id: UUID, connector_id: UUID, refresh: bool) -> Document:
    version = schemas.get_schema(deps, tenant_id, connector_id, refresh=refresh)
    return documents.schema_document(version)


def _schema_versions(deps: Deps, tenant_id: UUID, connector_id: UUID, page: PageParams) -> Document:
    found = schemas.list_schema_versions(
        deps, tenant_id, connector_id, limit=page.limit, cursor=page.cursor
    )
    return page_document(found, documents.schema_version_document)


# --------------------------------------------------------------------- endpoints

CSV_EXAMPLE = {
    "name": "hr-feed",
    "type": "csv",
    "role": "source",
    "config": {"path": "hr.csv", "uid_column": "employee_id"},
    "mappings": [{"identity": "email", "account": "mail", "direction": "inbound"}],
    "correlation": [{"identity": "email", "account": "mail"}],
    "reactions": {"unmatched": "create_identity"},
}


def _connector_answer(status: int, description: str, *headers: str) -> Answer:
    return Answer(
        status,
        "Connector",
        description,
        headers=headers,
        link_as="connector_id",
        link_within="/connectors",
    )


@documented(
    Operation(
        summary="List connectors",
        tag="connectors",
        answer=Answer(200, "ConnectorPage", "One page of the tenant's connectors."),
        params=(
            *PAGE,
            text_param("type", "Only connectors of this type."),
            enum_param("role", Role, "Only connectors of this role."),
            bool_param("enabled", "Only enabled (true) or disabled (false) connectors."),
        ),
    )
)
async def list_connectors(request: Request) -> Response:
    """``GET /connectors?type=&role=&enabled=&limit=&cursor=``: oldest first."""
    principal = await authorize(request)
    page = page_params(request)
    ctype = text_query(request, "type")
    role = enum_query(request, "role", Role)
    enabled = bool_query(request, "enabled")
    document = await run_in_threadpool(
        _list, deps_of(request), principal.tenant_id, page, ctype, role, enabled
    )
    return json(document)


@documented(
    Operation(
        summary="Create a connector",
        tag="connectors",
        answer=_connector_answer(201, "The created connector.", "Location", "ETag"),
        body=json_body("ConnectorInput", CSV_EXAMPLE),
        errors={409},
    )
)
async def create_connector(request: Request) -> Response:
    """``POST /connectors``: 201 with ``Location`` and ``ETag``."""
    principal = await authorize(request)
    body = await read_json(request, media_types=JSON)
    document, version = await run_in_threadpool(
        _create, deps_of(request), principal.tenant_id, body
    )
    headers = {"Location": location(request, document["id"]), "ETag": etag(version)}
    return json(document, 201, headers=headers)


@documented(
    Operation(
        summary="Get a connector",
        tag="connectors",
        answer=_connector_answer(200, "The connector (secrets by name only).", "ETag"),
    )
)
async def get_connector(request: Request) -> Response:
    """``GET /connectors/{id}``: secrets by name only; ``ETag`` of its version."""
    principal = await authorize(request)
    connector_id = _connector_id(request)
    document, version = await run_in_threadpool(
        _get, deps_of(request), principal.tenant_id, connector_id
    )
    return json(document, headers={"ETag": etag(version)})


@documented(
    Operation(
        summary="Update a connector (JSON merge patch)",
        tag="connectors",
        answer=_connector_answer(200, "The updated connector.", "ETag"),
        params=(IF_MATCH,),
        body=json_body("ConnectorPatch", {"description": "HR export, nightly"}, merge_patch=True),
        errors={409},
    )
)
async def update_connector(request: Request) -> Response:
    """``PATCH /connectors/{id}``: a JSON merge patch; ``If-Match`` honoured (412)."""
    principal = await authorize(request)
    connector_id = _connector_id(request)
    version = if_match(request)
    body = await read_json(request, media_types=MERGE_PATCH)
    document, new_version = await run_in_threadpool(
        _update, deps_of(request), principal.tenant_id, connector_id, body, version
    )
    return json(document, headers={"ETag": etag(new_version)})


@documented(
    Operation(
        summary="Delete a connector",
        tag="connectors",
        answer=Answer(204, None, "Deleted; its finished runs are kept for audit."),
        errors={409},
    )
)
async def delete_connector(request: Request) -> Response:
    """``DELETE /connectors/{id}``: 204; 409 while a run of it is active."""
    principal = await authorize(request)
    connector_id = _connector_id(request)
    await run_in_threadpool(
        connectors.delete_connector, deps_of(request), principal.tenant_id, connector_id
    )
    return no_content()


@documented(
    Operation(
        summary="Test the connection",
        tag="connectors",
        answer=Answer(200, "TestResult", "The result; a failing system is ok: false."),
    )
)
async def test_connector(request: Request) -> Response:
    """``POST /connectors/{id}/test``: 200 ``{ok, latency_ms, message, tested_at}``."""
    principal = await authorize(request)
    connector_id = _connector_id(request)
    document = await run_in_threadpool(_test, deps_of(request), principal.tenant_id, connector_id)
    return json(document)


@documented(
    Operation(
        summary="Get the schema",
        tag="connectors",
        answer=Answer(200, "Schema", "The cached schema, discovered first if none is."),
        params=(bool_param("refresh", "Discover it again even if one is cached."),),
        errors={409, 502},
    )
)
async def get_schema(request: Request) -> Response:
    """``GET /connectors/{id}/schema?refresh=``: cached, else discovered (502 if it can't)."""
    principal = await authorize(request)
    connector_id = _connector_id(request)
    refresh = bool_query(request, "refresh") or False
    document = await run_in_threadpool(
        _schema, deps_of(request), principal.tenant_id, connector_id, refresh
    )
    return json(document)


@documented(
    Operation(
        summary="List schema versions",
        tag="connectors",
        answer=Answer(200, "SchemaVersionPage", "Discovered versions, newest first."),
        params=PAGE,
    )
)
async def list_schema_versions(request: Request) -> Response:
    """``GET /connectors/{id}/schema/versions``: newest first, each with its diff."""
    principal = await authorize(request)
    connector_id = _connector_id(request)
    page = page_params(request)
    document = await run_in_threadpool(
        _schema_versions, deps_of(request), principal.tenant_id, connector_id, page
    )
    return json(document)


def routes() -> list[BaseRoute]:
    """The connector routes (without ``/connector-types``)."""
    return [
        route("/connectors", GET=list_connectors, POST=create_connector),
        route(
            "/connectors/{connector_id}",
            GET=get_connector,
            PATCH=update_connector,
            DELETE=delete_connector,
        ),
        route("/connectors/{connector_id}/test", POST=test_connector),
        route("/connectors/{connector_id}/schema", GET=get_schema),
        route("/connectors/{connector_id}/schema/versions", GET=list_schema_versions),
    ]


def connectors_router() -> Router:
    """A router of the connector endpoints and ``/connector-types``.

    Mount it (``Mount("/idm", app=connectors_router())``) or spread its ``routes`` into a
    host app; either way the host provides a ``ConnectorsState`` (see ``state``).
    """
    return Router([*routes(), *sync.routes(), *types.routes()])
