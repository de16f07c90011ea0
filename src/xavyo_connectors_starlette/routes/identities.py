"""The reference identity store over HTTP (SPEC §4.2 ``/identities``, §4.4 Identity)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router

from xavyo_connectors_core import identities
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_starlette.auth import authorize
from xavyo_connectors_starlette.body import JSON, MERGE_PATCH, read_json
from xavyo_connectors_starlette.operations import (
    IF_MATCH,
    PAGE,
    Answer,
    Operation,
    bool_param,
    documented,
    json_body,
)
from xavyo_connectors_starlette.pagination import PageParams, page_document, page_params
from xavyo_connectors_starlette.params import bool_query, etag, if_match, path_id
from xavyo_connectors_starlette.routes._http import json, location, no_content, route
from xavyo_connectors_starlette.state import deps_of

Document = dict[str, Any]


def _identity_id(request: Request) -> UUID:
    return path_id(request, "identity_id", "identity")


# --------------------------------------------------------------------- core calls


def _list(deps: Deps, tenant_id: UUID, page: PageParams, enabled: bool | None) -> Document:
    found = identities.list_identities(
        deps, tenant_id, limit=page.limit, cursor=page.cursor, enabled=enabled
    )
    return page_document(found, identities.identity_document)


def _create(deps: Deps, tenant_id: UUID, body: Any) -> tuple[Document, int]:
    created = identities.create_identity(deps, tenant_id, body)
    return identities.identity_document(created), created.version


def _get(deps: Deps, tenant_id: UUID, identity_id: UUID) -> tuple[Document, int]:
    found = identities.get_identity(deps, tenant_id, identity_id)
    return identities.identity_document(found), found.version


def _update(
    deps: Deps, tenant_id: UUID, identity_id: UUID, body: Any, version: int | None
) -> tuple[Document, int]:
    updated = identities.update_identity(deps, tenant_id, identity_id, body, if_match=version)
    return identities.identity_document(updated), updated.version


# --------------------------------------------------------------------- endpoints


def _identity_answer(status: int, description: str, *headers: str) -> Answer:
    return Answer(
        status,
        "Identity",
        description,
        headers=headers,
        link_as="identity_id",
        link_within="/identities",
    )


@documented(
    Operation(
        summary="List identities",
        tag="identities",
        answer=Answer(200, "IdentityPage", "One page of identities, oldest first."),
        params=(*PAGE, bool_param("enabled", "Only enabled (true) or disabled (false) ones.")),
    )
)
async def list_identities(request: Request) -> Response:
    """``GET /identities?enabled=&limit=&cursor=``: oldest first."""
    principal = await authorize(request)
    page = page_params(request)
    enabled = bool_query(request, "enabled")
    document = await run_in_threadpool(_list, deps_of(request), principal.tenant_id, page, enabled)
    return json(document)


@documented(
    Operation(
        summary="Create an identity",
        tag="identities",
        answer=_identity_answer(201, "The created identity.", "Location", "ETag"),
        body=json_body(
            "IdentityInput",
            {"attributes": {"email": "ada@example.org", "department": "eng"}},
        ),
    )
)
async def create_identity(request: Request) -> Response:
    """``POST /identities``: 201 with ``Location`` and ``ETag``."""
    principal = await authorize(request)
    body = await read_json(request, media_types=JSON)
    document, version = await run_in_threadpool(
        _create, deps_of(request), principal.tenant_id, body
    )
    headers = {"Location": location(request, document["id"]), "ETag": etag(version)}
    return json(document, 201, headers=headers)


@documented(
    Operation(
        summary="Get an identity",
        tag="identities",
        answer=_identity_answer(200, "The identity.", "ETag"),
    )
)
async def get_identity(request: Request) -> Response:
    """``GET /identities/{id}`` with the ``ETag`` of its version."""
    principal = await authorize(request)
    identity_id = _identity_id(request)
    document, version = await run_in_threadpool(
        _get, deps_of(request), principal.tenant_id, identity_id
    )
    return json(document, headers={"ETag": etag(version)})


@documented(
    Operation(
        summary="Update an identity (JSON merge patch)",
        tag="identities",
        answer=_identity_answer(200, "The updated identity.", "ETag"),
        params=(IF_MATCH,),
        body=json_body("IdentityPatch", {"attributes": {"department": "ops"}}, merge_patch=True),
        errors={409},
    )
)
async def update_identity(request: Request) -> Response:
    """``PATCH /identities/{id}``: merge patch of attributes/enabled; ``If-Match`` (412)."""
    principal = await authorize(request)
    identity_id = _identity_id(request)
    version = if_match(request)
    body = await read_json(request, media_types=MERGE_PATCH)
    document, new_version = await run_in_threadpool(
        _update, deps_of(request), principal.tenant_id, identity_id, body, version
    )
    return json(document, headers={"ETag": etag(new_version)})


@documented(
    Operation(
        summary="Delete an identity",
        tag="identities",
        answer=Answer(204, None, "Deleted; target accounts get their leave-scope operation."),
    )
)
async def delete_identity(request: Request) -> Response:
    """``DELETE /identities/{id}``: 204."""
    principal = await authorize(request)
    identity_id = _identity_id(request)
    await run_in_threadpool(
        identities.delete_identity, deps_of(request), principal.tenant_id, identity_id
    )
    return no_content()


def routes() -> list[BaseRoute]:
    """The identity routes."""
    return [
        route("/identities", GET=list_identities, POST=create_identity),
        route(
            "/identities/{identity_id}",
            GET=get_identity,
            PATCH=update_identity,
            DELETE=delete_identity,
        ),
    ]


def identities_router() -> Router:
    """A router of the reference identity store's endpoints."""
    return Router(routes())
