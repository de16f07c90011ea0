"""The operator's console: server-rendered pages over the same core functions as the API.

``console_router()`` returns a Starlette ``Router`` to mount next to the API (``serve``
mounts it at ``/console``); like the API routers it finds its ``ConnectorsState`` on the
app (or in the lifespan state), so the host's ``authenticate`` decides who a pasted token
is. Sign-in keeps the token in a sealed ``HttpOnly``, ``SameSite=Strict`` cookie
(``session``); every state-changing form carries a CSRF token (``csrf``). Templates
(Jinja2, autoescaped) and the static CSS/JS are package data served by the router itself:
no CDN, no build step. Importing this package builds nothing.
"""

from __future__ import annotations

from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles

from xavyo_connectors_starlette.console.context import Console
from xavyo_connectors_starlette.console.render import environment
from xavyo_connectors_starlette.console.routes import routes
from xavyo_connectors_starlette.console.session import DEFAULT_MAX_AGE, SessionCodec
from xavyo_connectors_starlette.console.signin import sign_in_routes

__all__ = ["console_router"]


def console_router(
    *, session_key: bytes | None = None, session_max_age: int = DEFAULT_MAX_AGE
) -> Router:
    """The console's pages, actions and static files, to mount (``Mount("/console", ...)``).

    Args:
        session_key: 32 bytes sealing the session cookies. Default: a random key drawn now,
            so sessions end when the process restarts; give a fixed key to keep them
            across restarts or share them between processes.
        session_max_age: seconds a sign-in lasts (default 8 hours).

    Raises:
        ValueError: ``session_key`` is not 32 bytes, or ``session_max_age`` is not positive.
    """
    console = Console(codec=SessionCodec(session_key, max_age=session_max_age), env=environment())
    static = StaticFiles(packages=[("xavyo_connectors_starlette.console", "static")])
    return Router(
        [
            *sign_in_routes(console),
            *routes(console),
            Mount("/static", app=static, name="console_static"),
        ]
    )
