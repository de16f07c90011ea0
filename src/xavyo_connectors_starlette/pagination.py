"""List parameters and answers (SPEC §4.3): ``?limit=`` (1 to 500, default 50), ``?cursor=``.

An answer is ``{"items": [...], "next_cursor": "..." | null}``; the cursor is opaque and
made by the store, which also rejects a tampered one (422 on ``cursor``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from attrs import frozen
from starlette.requests import Request

from xavyo_connectors_core.errors import FieldError, InvalidInput
from xavyo_connectors_core.model import Page
from xavyo_connectors_core.pagination import DEFAULT_LIMIT, MAX_LIMIT

T = TypeVar("T")

MAX_CURSOR_LENGTH = 2048
_DIGITS = re.compile(r"[0-9]{1,6}")


@frozen
class PageParams:
    """Where a list starts and how long a page is."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


def page_params(request: Request) -> PageParams:
    """The ``limit`` and ``cursor`` of ``request``.

    Raises:
        InvalidInput: ``limit`` is not an integer from 1 to 500, or ``cursor`` is too long.
    """
    errors = []
    limit = DEFAULT_LIMIT
    raw_limit = request.query_params.get("limit")
    if raw_limit is not None:
        if _DIGITS.fullmatch(raw_limit) and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
            errors.append(FieldError("limit", f"must be an integer from 1 to {MAX_LIMIT}"))
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
        errors.append(FieldError("cursor", "is not a valid cursor"))
    if errors:
        raise InvalidInput(errors)
    return PageParams(limit=limit, cursor=cursor)


def page_document(page: Page[T], render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """``{"items": [render(item) ...], "next_cursor": ...}``."""
    return {"items": [render(item) for item in page.items], "next_cursor": page.next_cursor}
