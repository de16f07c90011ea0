"""Reconciliation runs over HTTP (SPEC §3.6, §4.1, §4.2).

The core has no reconciliation use cases yet, so the router holds no routes; the
issue that adds them fills ``routes()``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Router


def routes() -> list[BaseRoute]:
    """The reconciliation routes (none yet)."""
    return []


def reconciliation_router() -> Router:
    """A router of the reconciliation endpoints, to mount or to spread into a host app."""
    return Router(routes())
