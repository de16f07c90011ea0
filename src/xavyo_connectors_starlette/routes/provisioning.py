"""The provisioning queue and dead-letter queue over HTTP (SPEC §3.7, §4.1, §4.2).

The core has no provisioning use cases yet, so the router holds no routes; the issue
that adds them fills ``routes()``.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Router


def routes() -> list[BaseRoute]:
    """The provisioning routes (none yet)."""
    return []


def provisioning_router() -> Router:
    """A router of the provisioning endpoints, to mount or to spread into a host app."""
    return Router(routes())
