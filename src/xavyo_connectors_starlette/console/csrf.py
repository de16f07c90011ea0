"""CSRF protection of every state-changing console form (the synchronizer-token pattern).

Each session carries a random secret (``Session.csrf``) sealed inside its cookie; every
form that changes something renders it in a hidden ``csrf_token`` field, and a ``POST``
is accepted only when the field equals the secret of the cookie it came with (compared
in constant time). A page on another site cannot read the secret (the cookie is sealed,
``HttpOnly``, and the page's HTML is not readable cross-origin), and with
``SameSite=Strict`` the browser does not even send the cookie on a cross-site post.
Requests a browser marks ``Sec-Fetch-Site: cross-site`` are refused as well.

The sign-in form is protected too, by the anonymous session its page issues, so no site
can sign a victim into someone else's token.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from xavyo_connectors_starlette.console.session import Session

FIELD = "csrf_token"
"""The form field that carries the token."""


def form_token(session: Session) -> str:
    """The token to render in ``session``'s forms."""
    return session.csrf


def is_valid(request: Request, session: Session | None, submitted: str | None) -> bool:
    """Whether a state-changing ``request`` may proceed.

    False when there is no session, no or a wrong token, or the browser says the request
    comes from another site.
    """
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return False
    if session is None or not submitted:
        return False
    return hmac.compare_digest(submitted.encode(), session.csrf.encode())
