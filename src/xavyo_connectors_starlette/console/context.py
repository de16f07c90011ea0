"""Per-request plumbing of the console: who is asking, may they, and how failures look.

Every console endpoint is wrapped by one of three decorators:

- ``page``: a ``GET`` that renders HTML. No session: redirect to the sign-in page.
- ``action``: a ``POST`` that changes something. It is refused with 403 *before anything
  else happens* unless it carries the session's CSRF token; then the caller must be
  allowed to write (an ``admin``; a ``reader`` gets 403, exactly as from the API). It
  answers with a redirect (post/redirect/get) and a one-shot flash message; a core error
  becomes an error flash on the page the form came from.
- ``data``: a ``GET`` answering JSON (run progress, for the polling script).

The token in the session is re-authenticated on every request through the app's own
``authenticate`` (the API's bearer-token check, or a host's), presented as an
``Authorization: Bearer`` header, so the console sees exactly what that token may see.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

import jinja2
from attrs import field, frozen
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import InvalidInput, NotFound, XavyoError
from xavyo_connectors_core.model import Principal, TokenRole
from xavyo_connectors_starlette.auth import authenticate, authorize
from xavyo_connectors_starlette.console import csrf
from xavyo_connectors_starlette.console.render import SECURITY_HEADERS, html
from xavyo_connectors_starlette.console.session import (
    Session,
    SessionCodec,
    clear_session,
    read_session,
    write_session,
)
from xavyo_connectors_starlette.errors import HttpProblem, Unauthorized, problem_response
from xavyo_connectors_starlette.state import deps_of

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 1000
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]{1,512}")
"""A pasted token: printable ASCII without spaces (it travels in a header)."""


@frozen
class Console:
    """What every console endpoint shares: the session codec and the templates."""

    codec: SessionCodec
    env: jinja2.Environment


@frozen
class Ctx:
    """One signed-in request: the caller, their session, the core's dependencies."""

    request: Request
    console: Console
    session: Session
    principal: Principal
    deps: Deps
    form: Mapping[str, list[str]] = field(factory=dict)

    @property
    def base(self) -> str:
        return base_path(self.request)

    @property
    def tenant_id(self) -> UUID:
        return self.principal.tenant_id

    @property
    def can_act(self) -> bool:
        return self.principal.role is TokenRole.ADMIN

    def field(self, name: str) -> str | None:
        """The first value of form field ``name``, or None."""
        values = self.form.get(name)
        return values[0] if values else None

    def fields(self, name: str) -> list[str]:
        """Every value of form field ``name``."""
        return list(self.form.get(name, []))

    def render(self, template: str, *, status: int = 200, **context: Any) -> Response:
        """The page ``template``; a pending flash is shown on it, then dropped."""
        response = html(
            self.console.env,
            template,
            {**common_context(self.request, self.session), **context, **self._user()},
            status,
        )
        if self.session.flash is not None:
            write_session(response, self.request, self.console.codec, self.session.without_flash())
        return response

    def _user(self) -> dict[str, Any]:
        return {"principal": self.principal, "can_act": self.can_act}

    def back(self, default: str = "/connectors") -> str:
        """Where the form came from (its ``return_to`` field, if it is a console path)."""
        return safe_return(self.request, self.field("return_to"), default)

    def redirect(self, to: str, *, ok: str | None = None, error: str | None = None) -> Response:
        """303 to ``to`` (a console path), carrying a flash message."""
        response = RedirectResponse(to, status_code=303, headers=dict(SECURITY_HEADERS))
        session = self.session
        if ok is not None:
            session = session.with_flash("ok", ok)
        if error is not None:
            session = session.with_flash("error", error)
        write_session(response, self.request, self.console.codec, session)
        return response


Handler = Callable[[Ctx], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


# --------------------------------------------------------------------------- helpers


def base_path(request: Request) -> str:
    """Where the console is mounted (``/console``), without a trailing slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def safe_return(request: Request, target: str | None, default: str) -> str:
    """``target`` if it is a path inside the console, else ``base + default``.

    Keeps redirects on the console: no scheme, no host, no ``//``, ``..`` or backslash.
    """
    base = base_path(request)
    if target and _is_console_path(target, base):
        return target
    return base + default


def _is_console_path(target: str, base: str) -> bool:
    if "\\" in target or "//" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return False
    parsed = urllib.parse.urlsplit(target)
    if parsed.scheme or parsed.netloc or ".." in parsed.path.split("/"):
        return False
    return target.startswith(base + "/")


def common_context(request: Request, session: Session | None) -> dict[str, Any]:
    """What every template may use: base path, CSRF token, flash, current path."""
    path = request.url.path
    query = request.url.query
    return {
        "base": base_path(request),
        "csrf_field": csrf.FIELD,
        "csrf_token": csrf.form_token(session) if session else "",
        "flash": session.flash if session else None,
        "here": f"{path}?{query}" if query else path,
        "section": "",
        "principal": None,
        "can_act": False,
    }


async def read_form(request: Request) -> dict[str, list[str]]:
    """A ``application/x-www-form-urlencoded`` body (at most 64 KiB) as lists of values.

    Any other body is read as an empty form: it carries no CSRF token, so the post is
    refused (403) like any other forgery.

    Raises:
        HttpProblem: too large (413), not UTF-8 (400).
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return {}
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HttpProblem(413, "the form is too large")
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise HttpProblem(400, "the form could not be read") from None
    form: dict[str, list[str]] = {}
    for key, item in pairs:
        form.setdefault(key, []).append(item)
    return form


async def principal_of(
    request: Request, token: str, *, check_role: bool = True
) -> Principal | None:
    """Who ``token`` names, asked of the app's ``authenticate`` as a bearer token.

    Raises:
        Forbidden: with ``check_role``, the token's role may not use ``request``'s method
            (a reader posting), exactly as the API decides.
    """
    if not _TOKEN_SHAPE.fullmatch(token):
        return None
    scope = dict(request.scope)
    scope["headers"] = [
        (name, item)
        for name, item in request.scope["headers"]
        if name not in (b"authorization", b"cookie")
    ] + [(b"authorization", f"Bearer {token}".encode("ascii"))]
    try:
        if check_role:
            return await authorize(Request(scope))
        return await authenticate(Request(scope))
    except Unauthorized:
        return None


def error_page(
    request: Request,
    console: Console,
    session: Session | None,
    exc: BaseException,
    principal: Principal | None = None,
) -> Response:
    """The HTML twin of the API's problem document for ``exc`` (same status, same words)."""
    problem = problem_response(request, exc)
    body = json.loads(bytes(problem.body))
    context = common_context(request, session)
    context.update(
        {
            "status": problem.status_code,
            "title": body.get("title", "error"),
            "detail": body.get("detail", ""),
            "errors": body.get("errors", []),
            "principal": principal,
            "can_act": principal is not None and principal.role is TokenRole.ADMIN,
            "signed_in": session is not None and session.token is not None,
        }
    )
    return html(console.env, "error.html", context, problem.status_code)


def refused(request: Request, console: Console, detail: str) -> Response:
    """403 for a post that is not the console's own (no or a wrong CSRF token)."""
    log.warning("console: refused %s %s: %s", request.method, request.url.path, detail)
    return error_page(request, console, None, HttpProblem(403, detail))


def sign_in_redirect(request: Request, *, expired: bool = False) -> Response:
    """303 to the sign-in page, remembering the page that was asked for."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = {"next": target}
    if expired:
        query["expired"] = "1"
    location = f"{base_path(request)}/sign-in?{urllib.parse.urlencode(query)}"
    response = RedirectResponse(location, status_code=303, headers=dict(SECURITY_HEADERS))
    if expired:
        clear_session(response, request)
    return response


def reload_same_site(request: Request, console: Console) -> Response:
    """Ask the browser to load the page again, this time from the console itself.

    A ``SameSite=Strict`` cookie is not sent when a link on another site (a chat, a ticket)
    opens the console, so the operator would seem signed out. The page reloads itself at
    once (``<meta http-equiv=refresh>``, no script): that navigation is same-site and
    carries the cookie, and a real sign-out still ends at the sign-in form.
    """
    context = common_context(request, None)
    context["target"] = context["here"]
    return html(console.env, "continue.html", context, 200)


def invalid_input_message(exc: InvalidInput) -> str:
    """One line listing every field error."""
    return "; ".join(f"{e.path}: {e.message}" for e in exc.errors) or exc.detail


# --------------------------------------------------------------------------- wrappers


def page(console: Console, handler: Handler) -> Endpoint:
    """A signed-in ``GET`` page (see the module docstring)."""

    async def endpoint(request: Request) -> Response:
        session = read_session(request, console.codec)
        if session is None or session.token is None:
            if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
                return reload_same_site(request, console)
            return sign_in_redirect(request)
        principal = None
        try:
            principal = await principal_of(request, session.token)
            if principal is None:
                return sign_in_redirect(request, expired=True)
            ctx = Ctx(request, console, session, principal, deps_of(request))
            return await handler(ctx)
        except Exception as exc:
            return error_page(request, console, session, exc, principal)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    return endpoint


def action(console: Console, handler: Handler) -> Endpoint:
    """A signed-in, CSRF-checked, admin-only ``POST`` (see the module docstring)."""

    async def endpoint(request: Request) -> Response:
        session = read_session(request, console.codec)
        try:
            form = await read_form(request)
        except HttpProblem as exc:
            return error_page(request, console, None, exc)
        submitted = form.get(csrf.FIELD, [None])[0]
        if not csrf.is_valid(request, session, submitted):
            return refused(request, console, "this form did not come from your console session")
        assert session is not None  # is_valid checked it
        if session.token is None:
            return refused(request, console, "sign in first")
        principal = None
        try:
            principal = await principal_of(request, session.token)
            if principal is None:
                return sign_in_redirect(request, expired=True)
            ctx = Ctx(request, console, session, principal, deps_of(request), form)
            try:
                return await handler(ctx)
            except InvalidInput as exc:
                return ctx.redirect(ctx.back(), error=invalid_input_message(exc))
            except NotFound:
                raise
            except XavyoError as exc:
                return ctx.redirect(ctx.back(), error=exc.detail)
        except Exception as exc:
            return error_page(request, console, session, exc, principal)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    return endpoint


def data(console: Console, handler: Handler) -> Endpoint:
    """A signed-in ``GET`` answering JSON; 401 JSON without a session."""

    async def endpoint(request: Request) -> Response:
        session = read_session(request, console.codec)
        try:
            if session is None or session.token is None:
                raise Unauthorized("sign in to the console")
            principal = await principal_of(request, session.token)
            if principal is None:
                raise Unauthorized("the session has ended")
            response = await handler(Ctx(request, console, session, principal, deps_of(request)))
        except Exception as exc:
            response = problem_response(request, exc)
        response.headers.update(SECURITY_HEADERS)
        return response

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__
    return endpoint


def json_answer(document: Any) -> Response:
    """A JSON answer for the polling script."""
    return JSONResponse(document)
