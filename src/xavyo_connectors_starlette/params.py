"""Path ids, query filters and the ``If-Match`` header, parsed into plain values.

A malformed id in a path is a 404, exactly like an unknown one; a bad value of a known
query parameter is a 422 naming the parameter; a malformed ``If-Match`` is a 412.
"""

from __future__ import annotations

import enum
import re
from typing import TypeVar
from uuid import UUID

from starlette.requests import Request

from xavyo_connectors_core.errors import FieldError, InvalidInput, NotFound, PreconditionFailed

E = TypeVar("E", bound=enum.Enum)

_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_ETAG = re.compile(r'"([0-9]{1,18})"')


def path_id(request: Request, name: str, what: str) -> UUID:
    """The UUID in path parameter ``name``; anything else is ``NotFound`` for ``what``."""
    raw = request.path_params.get(name)
    if isinstance(raw, str) and len(raw) <= 45:
        try:
            return UUID(raw)
        except ValueError:
            pass
    raise NotFound(f"{what} not found")


def bool_query(request: Request, name: str) -> bool | None:
    """``true``/``false`` (or ``1``/``0``) in query parameter ``name``; None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    folded = raw.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise InvalidInput([FieldError(name, "must be true or false")])


def enum_query(request: Request, name: str, cls: type[E]) -> E | None:
    """A member of ``cls`` named by its value in query parameter ``name``; None if absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    for member in cls:
        if member.value == raw:
            return member
    allowed = ", ".join(str(m.value) for m in cls)
    raise InvalidInput([FieldError(name, f"must be one of: {allowed}")])


def text_query(request: Request, name: str, *, max_length: int = 256) -> str | None:
    """A non-empty string in query parameter ``name``; None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > max_length:
        raise InvalidInput([FieldError(name, f"must be 1 to {max_length} characters")])
    return raw


def if_match(request: Request) -> int | None:
    """The version named by ``If-Match: "<n>"``; None when absent or ``*``.

    Raises:
        PreconditionFailed: the header is not one strong entity tag of a version (a weak
            tag never matches, RFC 9110 §13.1.1).
    """
    values = request.headers.getlist("if-match")
    if not values:
        return None
    if len(values) == 1:
        value = values[0].strip()
        if value == "*":
            return None
        match = _ETAG.fullmatch(value)
        if match:
            return int(match.group(1))
    raise PreconditionFailed('If-Match must be one entity tag of a version, like "3"')


def etag(version: int) -> str:
    """The ``ETag`` of a versioned resource: ``"<version>"``."""
    return f'"{version}"'


def uuid_query(request: Request, name: str) -> UUID | None:
    """A UUID in query parameter ``name`` (a filter); None when absent, 422 when malformed."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if len(raw) <= 45:
        try:
            return UUID(raw)
        except ValueError:
            pass
    raise InvalidInput([FieldError(name, "must be a UUID")])
