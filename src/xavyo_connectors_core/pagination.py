"""Opaque keyset cursors shared by every store adapter.

A cursor encodes the sort key of the last item of a page; the next page starts strictly
after it. Tampered or foreign cursors are rejected as ``InvalidInput`` on ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from xavyo_connectors_core.errors import FieldError, InvalidInput

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


def encode_cursor(*key: Any) -> str:
    """Encode a sort key (strings, ints, floats) as an opaque URL-safe cursor."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """Decode a cursor made by ``encode_cursor`` with ``arity`` parts."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput([FieldError("cursor", "is not a valid cursor")]) from exc
    if not isinstance(key, list) or len(key) != arity:
        raise InvalidInput([FieldError("cursor", "is not a valid cursor")])
    return key


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput([FieldError("limit", f"must be between 1 and {MAX_LIMIT}")])
    return limit
