"""What each endpoint promises, written next to it: the operations of the OpenAPI document.

Every endpoint is decorated with ``@documented(Operation(...))``: a summary, its success
answer, the query and header parameters it reads, its request body, and the errors it
can answer beyond those its shape implies (``openapi.py`` adds 401/403 for protected
operations, 404 for path ids, 400/413/415/422 for bodies, 422 for query parameters, 412
for ``If-Match``). The path, the method and the path parameters come from the route
table itself; the schemas are components built from the core's types (``schemas.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from attrs import field, frozen

from xavyo_connectors_core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from xavyo_connectors_starlette.body import JSON, MERGE_PATCH
from xavyo_connectors_starlette.jsonschema import JsonSchema, ref
from xavyo_connectors_starlette.pagination import MAX_CURSOR_LENGTH

E = TypeVar("E", bound=Callable[..., Any])

ATTRIBUTE = "__xavyo_operation__"
"""The attribute of an endpoint function holding its ``Operation``."""


@frozen
class Param:
    """A query or header parameter an endpoint reads."""

    name: str
    schema: JsonSchema
    description: str
    where: str = "query"
    required: bool = False
    enum_class: type[enum.Enum] | None = None
    """The enum whose component ``schema`` refers to (so the document includes it)."""


@frozen
class Body:
    """A JSON request body.

    Attributes:
        schema: the component name of its schema (``None``: any JSON, ignored).
        required: False when an empty body (no content type, no bytes) is accepted.
        media_types: the accepted media types (others are 415).
        example: a valid body, shown in the document and used by the tests.
    """

    schema: str | None
    required: bool = True
    media_types: frozenset[str] = JSON
    example: Any = None


@frozen
class Answer:
    """The success answer of an operation.

    Attributes:
        status: its status code.
        schema: the component name of its JSON body; None for no body (204).
        description: what it is.
        headers: the names of the headers it always carries (``HEADERS`` of openapi).
        link_as: the path parameter the answer's ``id`` fills in other operations
            (their other parameters are filled from the answer's property of that name).
        link_within: only operations whose path starts with this are linked.
    """

    status: int
    schema: str | None
    description: str
    headers: tuple[str, ...] = ()
    link_as: str | None = None
    link_within: str = "/"


def _statuses(statuses: Iterable[int]) -> frozenset[int]:
    return frozenset(statuses)


@frozen
class Operation:
    """One documented operation (a method of a route)."""

    summary: str
    tag: str
    answer: Answer
    params: tuple[Param, ...] = ()
    body: Body | None = None
    errors: frozenset[int] = field(default=frozenset(), converter=_statuses)
    also: tuple[Answer, ...] = ()
    """Other non-error answers (``/healthz``'s 503)."""
    public: bool = False
    """No authentication (``/healthz``, ``/openapi.json``)."""


def documented(operation: Operation) -> Callable[[E], E]:
    """Attach ``operation`` to the endpoint it decorates (behaviour is unchanged)."""

    def attach(endpoint: E) -> E:
        setattr(endpoint, ATTRIBUTE, operation)
        return endpoint

    return attach


def operation_of(endpoint: object) -> Operation | None:
    """The ``Operation`` attached to ``endpoint``, or None."""
    found = getattr(endpoint, ATTRIBUTE, None)
    return found if isinstance(found, Operation) else None


# --------------------------------------------------------------------- parameters

LIMIT = Param(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "How many items per page.",
)
CURSOR = Param(
    "cursor",
    {"type": "string", "maxLength": MAX_CURSOR_LENGTH},
    "The next_cursor of the previous page (opaque; a tampered one is a 422).",
)
PAGE = (LIMIT, CURSOR)
IF_MATCH = Param(
    "If-Match",
    {"type": "string", "pattern": '^(\\*|"[0-9]{1,18}")$'},
    'Write only if the stored version is this one (the ETag of a read, like "3"); else 412.',
    where="header",
)


def enum_param(name: str, cls: type[enum.Enum], description: str) -> Param:
    """A query filter naming a member of ``cls`` by its value."""
    return Param(name, ref(cls.__name__), description, enum_class=cls)


def bool_param(name: str, description: str) -> Param:
    """A ``true``/``false`` query filter."""
    return Param(name, {"type": "boolean"}, description)


def uuid_param(name: str, description: str) -> Param:
    """A query filter holding an id."""
    return Param(name, {"type": "string", "format": "uuid"}, description)


def text_param(name: str, description: str, *, max_length: int = 256) -> Param:
    """A non-empty text query filter."""
    return Param(name, {"type": "string", "minLength": 1, "maxLength": max_length}, description)


def json_body(
    schema: str,
    example: Mapping[str, Any] | None = None,
    *,
    required: bool = True,
    merge_patch: bool = False,
) -> Body:
    """A JSON body of the component ``schema``."""
    return Body(
        schema=schema,
        required=required,
        media_types=MERGE_PATCH if merge_patch else JSON,
        example=dict(example) if example is not None else None,
    )


IGNORED_BODY = Body(schema=None, required=False)
"""An optional JSON body that is parsed (so it must be JSON) and otherwise ignored."""
