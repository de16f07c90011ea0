"""HTML out: the Jinja2 environment (autoescaped), display filters, the SVG chart geometry.

Templates live in package data (``templates/``) and are loaded when the console is
built, never at import. Every page goes out with headers that keep it from being framed,
sniffed, cached or fed scripts from anywhere but the console itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import jinja2
from attrs import frozen
from starlette.responses import HTMLResponse, Response

from xavyo_connectors_core.model import Situation

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""Sent with every console page and JSON answer (not with the static files)."""


def environment() -> jinja2.Environment:
    """The console's template environment: autoescape on, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("xavyo_connectors_starlette.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["short_id"] = short_id
    env.filters["value"] = value
    env.globals["stacked"] = stacked_bar
    return env


def html(
    env: jinja2.Environment, template: str, context: Mapping[str, Any], status: int
) -> Response:
    """Render ``template`` with ``context`` into an HTML response with the security headers."""
    body = env.get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers=dict(SECURITY_HEADERS))


# --------------------------------------------------------------------------- filters


def _parse(stamp: Any) -> datetime | None:
    if isinstance(stamp, datetime):
        return stamp
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def when(stamp: Any) -> str:
    """An RFC 3339 time as ``2026-01-31 14:05:09 UTC``; ``—`` for none."""
    parsed = _parse(stamp)
    if parsed is None:
        return "—"
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: Any) -> str:
    """Seconds as ``2 h 5 min``, ``3 min 4 s`` or ``12 s``; ``—`` for none."""
    if not isinstance(seconds, int | float):
        return "—"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def short_id(value: Any) -> str:
    """The first 8 characters of an id (the full id goes in a ``title``)."""
    return str(value)[:8] if value else "—"


def value(item: Any) -> str:
    """A value for a table cell: lists joined, objects as JSON, None as ``—``."""
    if item is None or item == "":
        return "—"
    if isinstance(item, list | tuple):
        return ", ".join(value(v) for v in item) or "—"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, dict):
        return json.dumps(item, sort_keys=True, default=str)
    return str(item)


# --------------------------------------------------------------------------- chart


@frozen
class Bar:
    """One bar of the counts chart, in the SVG's user units."""

    label: str
    count: int
    y: int
    width: float
    css: str


@frozen
class Chart:
    """A horizontal bar chart of counts per situation (drawn by ``_macros.html``)."""

    bars: tuple[Bar, ...]
    height: int
    label_width: int = 110
    bar_area: int = 230
    row: int = 26


def situation_chart(counts: Mapping[str, int], *, extra: Iterable[str] = ()) -> Chart:
    """Bars for every situation (in the SPEC's order) plus any ``extra`` count keys."""
    keys = [s.value for s in Situation] + [k for k in extra if k in counts]
    largest = max([int(counts.get(k, 0)) for k in keys] + [1])
    chart = Chart(bars=(), height=0)
    bars = tuple(
        Bar(
            label=key,
            count=int(counts.get(key, 0)),
            y=i * chart.row,
            width=round(chart.bar_area * int(counts.get(key, 0)) / largest, 1),
            css=f"bar-{key}",
        )
        for i, key in enumerate(keys)
    )
    return Chart(bars=bars, height=len(bars) * chart.row)


@frozen
class Segment:
    """One situation's share of a run's stacked bar (``x``/``width`` in percent)."""

    label: str
    count: int
    x: float
    width: float
    css: str


def stacked_bar(counts: Mapping[str, int]) -> tuple[Segment, ...]:
    """The non-zero situations of ``counts`` as consecutive segments of one 100 % bar."""
    present = [(s.value, int(counts.get(s.value, 0))) for s in Situation]
    present = [(label, n) for label, n in present if n > 0]
    total = sum(n for _, n in present)
    segments: list[Segment] = []
    x = 0.0
    for label, n in present:
        width = round(100 * n / total, 2)
        segments.append(Segment(label=label, count=n, x=x, width=width, css=f"bar-{label}"))
        x = round(x + width, 2)
    return tuple(segments)
