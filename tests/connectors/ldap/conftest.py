"""Fixtures for the ``ldap`` type: one real slapd per session, one ``ou`` per test."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import missing
from tests.support.slapd import Slapd, find_slapd, throwaway_slapd


@pytest.fixture(scope="session")
def slapd_server() -> Iterator[Slapd]:
    """A throwaway slapd (with TLS and the access log) for the whole session."""
    if find_slapd() is None:
        missing("OpenLDAP slapd (apt-get install slapd ldap-utils)")
    with throwaway_slapd(tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def admin(slapd_server: Slapd) -> Iterator[Any]:
    """A raw ldap3 connection bound as the root DN: changes made "directly" in LDAP."""
    import ldap3

    conn = ldap3.Connection(
        ldap3.Server(slapd_server.url, get_info=ldap3.NONE),
        slapd_server.root_dn,
        slapd_server.root_password,
        auto_bind=ldap3.AUTO_BIND_NO_TLS,
        check_names=False,
        raise_exceptions=True,
    )
    yield conn
    conn.unbind()


def _delete_subtree(admin: Any, dn: str) -> None:
    """Delete ``dn`` and everything below it, deepest entries first."""
    import ldap3
    from ldap3.core.exceptions import LDAPNoSuchObjectResult

    try:
        entries = admin.extend.standard.paged_search(
            dn, "(objectClass=*)", ldap3.SUBTREE, attributes=["1.1"], paged_size=500
        )
        dns = [e["dn"] for e in entries if e.get("type") == "searchResEntry"]
    except LDAPNoSuchObjectResult:
        return
    from ldap3.utils.dn import to_dn

    for target in sorted(dns, key=lambda d: len(to_dn(d)), reverse=True):
        admin.delete(target)


@pytest.fixture
def ldap_ou(admin: Any, slapd_server: Slapd, request: pytest.FixtureRequest) -> Iterator[str]:
    """The DN of a fresh ``ou`` for this test under the base, removed afterwards."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", request.node.name)[:48] + "-" + uuid.uuid4().hex[:6]
    dn = f"ou={name},{slapd_server.base_dn}"
    admin.add(dn, ["organizationalUnit"], {"ou": name})
    yield dn
    _delete_subtree(admin, dn)


@pytest.fixture
def ldap_config(slapd_server: Slapd, ldap_ou: str) -> Callable[..., dict[str, Any]]:
    """A config for the test's ``ou`` bound as the root DN; keyword arguments override."""

    def make(**overrides: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "url": slapd_server.url,
            "bind_dn": slapd_server.root_dn,
            "base_dn": ldap_ou,
            "timeout_seconds": 5,
        }
        config.update(overrides)
        return {k: v for k, v in config.items() if v is not None}

    return make


@pytest.fixture
def root_secrets(slapd_server: Slapd) -> dict[str, str]:
    return {"password": slapd_server.root_password}
