"""``GET /healthz``: liveness and store reachability, without authentication."""

from __future__ import annotations

import logging

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from xavyo_connectors_starlette.operations import Answer, Operation, documented
from xavyo_connectors_starlette.routes._http import json, route
from xavyo_connectors_starlette.state import deps_of

log = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 5.0


@documented(
    Operation(
        summary="Liveness and store reachability",
        tag="meta",
        answer=Answer(200, "Health", "Up, and the store answers.", headers=("Cache-Control",)),
        also=(Answer(503, "Health", "The store does not answer.", headers=("Cache-Control",)),),
        public=True,
    )
)
async def healthz(request: Request) -> Response:
    """200 ``{"status": "ok", "store": "ok"}``, or 503 with ``"store": "unreachable"``."""
    store = deps_of(request).store
    reachable = False
    try:
        with anyio.fail_after(PING_TIMEOUT_SECONDS):
            # abandon the thread on timeout: a hung driver must not hang the probe
            reachable = await anyio.to_thread.run_sync(store.ping, abandon_on_cancel=True)
    except TimeoutError:
        log.warning("store ping timed out after %g s", PING_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("store ping failed: %s", type(exc).__name__)
    headers = {"Cache-Control": "no-store"}
    if reachable:
        return json({"status": "ok", "store": "ok"}, headers=headers)
    return json({"status": "unavailable", "store": "unreachable"}, 503, headers=headers)


def routes() -> list[BaseRoute]:
    """The health route (no authentication)."""
    return [route("/healthz", GET=healthz)]
