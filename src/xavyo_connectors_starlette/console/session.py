"""The console's session: one sealed, ``HttpOnly``, ``SameSite=Strict`` cookie.

The cookie holds the pasted API token, the session's CSRF secret, when it was issued and
a one-shot flash message. It is sealed with AES-256-GCM (``cryptography``, already a core
dependency) under a key the console owns: the tag authenticates it like an HMAC would,
and the encryption also keeps the bearer token unreadable to anyone who sees the cookie
(a proxy log, a shared screen). A cookie that does not open, is malformed, or is older
than ``max_age`` counts as no session at all.

Nothing is stored on the server: signing out clears the cookie, and every request
re-authenticates the token through the app's ``authenticate``, so a revoked token ends
its sessions at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
from typing import Any

from attrs import evolve, frozen
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import Response

COOKIE_NAME = "xavyo_console"
KEY_SIZE = 32
NONCE_SIZE = 12
DEFAULT_MAX_AGE = 8 * 3600
"""Sessions last a working day; then the token is pasted again."""

MAX_COOKIE_LENGTH = 4096
_AD = b"xavyo-connectors/console-session/v1"
_FLASH_KINDS = frozenset({"ok", "error"})


@frozen
class Flash:
    """A message shown once, on the page a redirect leads to."""

    kind: str  # "ok" or "error"
    text: str


@frozen
class Session:
    """What the cookie carries.

    Attributes:
        token: the API token, or None for an anonymous session (the sign-in form's).
        csrf: the secret every state-changing form must echo back.
        issued_at: Unix time the session was issued; it expires ``max_age`` later.
        flash: a message for the next page, or None.
    """

    token: str | None
    csrf: str
    issued_at: int
    flash: Flash | None = None

    @classmethod
    def new(cls, token: str | None = None) -> Session:
        """A fresh session with a new CSRF secret (issued at sign-in, so never fixated)."""
        return cls(token=token, csrf=secrets.token_urlsafe(32), issued_at=int(time.time()))

    def with_flash(self, kind: str, text: str) -> Session:
        return evolve(self, flash=Flash(kind=kind, text=text[:500]))

    def without_flash(self) -> Session:
        return evolve(self, flash=None)


class SessionCodec:
    """Seals sessions into cookie values and opens them again.

    Args:
        key: 32 bytes; None draws a random key (sessions then end when the app restarts).
        max_age: seconds a session is valid after it was issued.
    """

    def __init__(self, key: bytes | None = None, *, max_age: int = DEFAULT_MAX_AGE) -> None:
        key = os.urandom(KEY_SIZE) if key is None else key
        if not isinstance(key, bytes) or len(key) != KEY_SIZE:
            raise ValueError(f"the console session key must be {KEY_SIZE} bytes")
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        self._aead = AESGCM(key)
        self.max_age = max_age

    def __repr__(self) -> str:
        return f"SessionCodec(max_age={self.max_age})"

    def seal(self, session: Session) -> str:
        """The cookie value of ``session``."""
        payload: dict[str, Any] = {
            "tok": session.token,
            "csrf": session.csrf,
            "iat": session.issued_at,
        }
        if session.flash is not None:
            payload["flash"] = [session.flash.kind, session.flash.text]
        plain = json.dumps(payload, separators=(",", ":")).encode()
        nonce = os.urandom(NONCE_SIZE)
        sealed = nonce + self._aead.encrypt(nonce, plain, _AD)
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, value: str | None, *, now: float | None = None) -> Session | None:
        """The session sealed in ``value``; None if absent, tampered, malformed or expired."""
        if not value or len(value) > MAX_COOKIE_LENGTH:
            return None
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self._aead.decrypt(raw[:NONCE_SIZE], raw[NONCE_SIZE:], _AD)
            payload = json.loads(plain)
        except (binascii.Error, ValueError, InvalidTag):
            return None
        return _session_of(payload, self.max_age, time.time() if now is None else now)


def _session_of(payload: Any, max_age: int, now: float) -> Session | None:
    if not isinstance(payload, dict):
        return None
    token, csrf, issued = payload.get("tok"), payload.get("csrf"), payload.get("iat")
    if not (token is None or isinstance(token, str)) or not isinstance(csrf, str) or not csrf:
        return None
    if not isinstance(issued, int) or not (now - max_age < issued <= now + 60):
        return None
    flash = None
    raw_flash = payload.get("flash")
    if (
        isinstance(raw_flash, list)
        and len(raw_flash) == 2
        and raw_flash[0] in _FLASH_KINDS
        and isinstance(raw_flash[1], str)
    ):
        flash = Flash(kind=raw_flash[0], text=raw_flash[1])
    return Session(token=token, csrf=csrf, issued_at=issued, flash=flash)


def cookie_path(request: Request) -> str:
    """The console's base path: the cookie is sent to the console only."""
    return _base_path(request) or "/"


def _base_path(request: Request) -> str:
    root = str(request.scope.get("root_path", ""))
    return root.rstrip("/")


def read_session(request: Request, codec: SessionCodec) -> Session | None:
    """The session of ``request``, or None."""
    return codec.open(request.cookies.get(COOKIE_NAME))


def write_session(
    response: Response, request: Request, codec: SessionCodec, session: Session
) -> None:
    """Set the session cookie on ``response`` (``Secure`` when served over HTTPS)."""
    remaining = max(1, session.issued_at + codec.max_age - int(time.time()))
    response.set_cookie(
        COOKIE_NAME,
        codec.seal(session),
        max_age=remaining,
        path=cookie_path(request),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_session(response: Response, request: Request) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        COOKIE_NAME,
        path=cookie_path(request),
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
