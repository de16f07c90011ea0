"""Reading a JSON request body safely: media type, size, encoding, syntax and depth.

- The media type must be ``application/json`` (PATCH also takes
  ``application/merge-patch+json``), with no charset other than UTF-8: else 415.
- The body may be at most 1 MiB: ``Content-Length`` is checked first, then the chunks
  are counted while streaming, so an oversized body is never held in memory: else 413.
- It must be UTF-8 and one JSON value, without ``NaN``/``Infinity``, without a key
  repeated in one object, without a string escaping a lone surrogate (``"\\ud800"``:
  not Unicode text, no store can hold it), nested at most ``MAX_DEPTH`` deep: else 400.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from xavyo_connectors_starlette.errors import HttpProblem

MAX_BODY_BYTES = 1024 * 1024
"""The largest request body accepted (1 MiB)."""

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects accepted."""

JSON = frozenset({"application/json"})
"""Media types of a JSON body."""

MERGE_PATCH = frozenset({"application/json", "application/merge-patch+json"})
"""Media types of a JSON merge patch body (RFC 7396)."""


async def read_json(
    request: Request,
    *,
    media_types: frozenset[str] = JSON,
    max_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """The parsed JSON body of ``request``.

    Raises:
        HttpProblem: 415 wrong media type, 413 too large, 400 malformed.
    """
    check_media_type(request.headers.get("content-type"), media_types)
    raw = await read_limited(request, max_bytes)
    return parse_json(raw)


async def read_optional_json(
    request: Request,
    *,
    media_types: frozenset[str] = JSON,
    max_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """Like ``read_json``, but an empty body (no content type, no bytes) is ``None``."""
    if not request.headers.get("content-type"):
        raw = await read_limited(request, max_bytes)
        if not raw.strip():
            return None
        check_media_type(None, media_types)
    return await read_json(request, media_types=media_types, max_bytes=max_bytes)


def check_media_type(content_type: str | None, allowed: frozenset[str]) -> None:
    """Raise 415 unless ``content_type`` is one of ``allowed`` (charset UTF-8 only)."""
    expected = " or ".join(sorted(allowed))
    if not content_type:
        raise HttpProblem(415, f"the request body must be {expected}")
    media_type, *params = content_type.split(";")
    if media_type.strip().lower() not in allowed:
        raise HttpProblem(415, f"the request body must be {expected}")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise HttpProblem(415, "the request body must be encoded in UTF-8")


async def read_limited(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (413) more than ``max_bytes`` before reading it all."""
    too_large = HttpProblem(413, f"the request body must be at most {max_bytes} bytes")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HttpProblem(400, "the Content-Length header is not a number")
        if int(declared) > max_bytes:
            raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise too_large
    except ClientDisconnect:
        raise HttpProblem(400, "the client disconnected before sending the whole body") from None
    return bytes(body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("an object repeats a key")
    return result


def parse_json(raw: bytes) -> Any:
    """Parse a UTF-8 JSON document strictly (see the module docstring).

    Raises:
        HttpProblem: 400 with a detail that never quotes the body.
    """
    if not raw.strip():
        raise HttpProblem(400, "the request body is empty; a JSON document is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpProblem(400, "the request body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise HttpProblem(
            400, f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise HttpProblem(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise HttpProblem(400, f"the JSON body is nested more than {MAX_DEPTH} deep") from None
    if _inspect(value) > MAX_DEPTH:
        raise HttpProblem(400, f"the JSON body is nested more than {MAX_DEPTH} deep")
    return value


def _unicode(text: str) -> None:
    """Raise 400 for a string that is not Unicode text (a lone surrogate ``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise HttpProblem(
            400, "the JSON body holds a string that is not valid Unicode (a lone surrogate)"
        ) from None


def _inspect(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), iteratively,
    checking on the way that every string is Unicode text.

    Raises:
        HttpProblem: 400 for a string (key or value) that is not valid Unicode.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            for key in node:
                _unicode(key)
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            if isinstance(node, str):
                _unicode(node)
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                return deepest
        stack.extend((child, depth) for child in children)
    return deepest
