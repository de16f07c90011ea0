"""Tenants and API tokens: random 256-bit bearer tokens stored as SHA-256 digests.

A slow password hash would cost every request; a 256-bit random value does not need one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import FieldError, InvalidInput, NotFound
from xavyo_connectors_core.model import ApiToken, Principal, Tenant, TokenRole

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
TOKEN_PREFIX = "xvy_"  # noqa: S105 - a prefix that makes leaked tokens recognizable


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_tenant(deps: Deps, slug: str) -> Tenant:
    """The tenant with ``slug``, created if it does not exist."""
    if not SLUG_RE.match(slug):
        raise InvalidInput([FieldError("tenant", "must be a slug like 'default'")])
    with deps.store.unit_of_work() as uow:
        try:
            return uow.tenants.get_by_slug(slug)
        except NotFound:
            tenant = Tenant(id=uuid.uuid4(), slug=slug, created_at=deps.clock.now())
            uow.tenants.add(tenant)
            uow.commit()
            return tenant


def create_api_token(
    deps: Deps, tenant_id: uuid.UUID, role: TokenRole, *, name: str = "", token: str | None = None
) -> tuple[ApiToken, str]:
    """Create a token; return it and its plaintext (shown once, never stored)."""
    plaintext = token or TOKEN_PREFIX + secrets.token_urlsafe(32)
    if len(plaintext) < 16:
        raise InvalidInput([FieldError("token", "must be at least 16 characters")])
    record = ApiToken(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        role=role,
        digest=token_digest(plaintext),
        name=name,
        created_at=deps.clock.now(),
    )
    with deps.store.unit_of_work() as uow:
        uow.tenants.get(tenant_id)
        uow.api_tokens.add(record)
        uow.commit()
    return record, plaintext


def authenticate_token(deps: Deps, token: str) -> Principal | None:
    """The principal of a bearer token, or None when it is unknown."""
    if not token or len(token) > 512:
        return None
    with deps.store.unit_of_work() as uow:
        try:
            record = uow.api_tokens.get_by_digest(token_digest(token))
        except NotFound:
            return None
    return Principal(tenant_id=record.tenant_id, role=record.role)
