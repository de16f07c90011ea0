"""Signing in and out of the console.

``GET /sign-in`` shows the form under an anonymous session (so the form itself carries a
CSRF token); ``POST /sign-in`` checks the pasted token with the app's ``authenticate``
and, if it names someone, issues a fresh session (new CSRF secret: no fixation);
``POST /sign-out`` replaces the session with an anonymous one. The token is never echoed
back, logged, or put in a URL.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from xavyo_connectors_starlette.console import csrf
from xavyo_connectors_starlette.console.context import (
    Console,
    base_path,
    common_context,
    error_page,
    principal_of,
    read_form,
    refused,
    safe_return,
)
from xavyo_connectors_starlette.console.render import SECURITY_HEADERS, html
from xavyo_connectors_starlette.console.session import Session, read_session, write_session
from xavyo_connectors_starlette.errors import HttpProblem


def sign_in_routes(console: Console) -> list[BaseRoute]:
    """Sign-in (``GET`` shows the form, ``POST`` checks the token) and sign-out."""

    async def sign_in_form(request: Request) -> Response:
        session = read_session(request, console.codec)
        target = safe_return(request, request.query_params.get("next"), "/connectors")
        if (
            session is not None
            and session.token is not None
            and await principal_of(request, session.token, check_role=False) is not None
        ):
            return RedirectResponse(target, 303, headers=dict(SECURITY_HEADERS))
        if session is None or session.token is not None:
            session = Session.new()
        expired = request.query_params.get("expired") == "1"
        return _sign_in_page(request, session, target, expired=expired)

    async def sign_in(request: Request) -> Response:
        session = read_session(request, console.codec)
        try:
            form = await read_form(request)
        except HttpProblem as exc:
            return error_page(request, console, None, exc)
        if not csrf.is_valid(request, session, form.get(csrf.FIELD, [None])[0]):
            return refused(request, console, "this form did not come from your console session")
        assert session is not None
        token = form.get("token", [""])[0].strip()
        target = safe_return(request, form.get("next", [None])[0], "/connectors")
        principal = await principal_of(request, token, check_role=False) if token else None
        if principal is None:
            return _sign_in_page(
                request, session, target, error="That token is not valid.", status=401
            )
        signed_in = Session.new(token).with_flash("ok", f"Signed in ({principal.role.value}).")
        response = RedirectResponse(target, 303, headers=dict(SECURITY_HEADERS))
        write_session(response, request, console.codec, signed_in)
        return response

    async def sign_out(request: Request) -> Response:
        session = read_session(request, console.codec)
        try:
            form = await read_form(request)
        except HttpProblem as exc:
            return error_page(request, console, None, exc)
        if not csrf.is_valid(request, session, form.get(csrf.FIELD, [None])[0]):
            return refused(request, console, "this form did not come from your console session")
        response = RedirectResponse(
            f"{base_path(request)}/sign-in", 303, headers=dict(SECURITY_HEADERS)
        )
        anonymous = Session.new().with_flash("ok", "You have signed out.")
        write_session(response, request, console.codec, anonymous)
        return response

    def _sign_in_page(
        request: Request,
        session: Session,
        target: str,
        *,
        expired: bool = False,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        context = common_context(request, session)
        context.update({"next": target, "expired": expired, "error": error})
        response = html(console.env, "sign_in.html", context, status)
        write_session(response, request, console.codec, session.without_flash())
        return response

    return [
        Route("/sign-in", sign_in_form, methods=["GET"], name="console_sign_in_form"),
        Route("/sign-in", sign_in, methods=["POST"], name="console_sign_in"),
        Route("/sign-out", sign_out, methods=["POST"], name="console_sign_out"),
    ]
