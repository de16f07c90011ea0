"""Fixtures of the end-to-end tests: the real servers of the connector-type tests, reused.

The session slapd (with the access log), its root ``admin`` connection and the per-test
``ou`` come from the ``ldap`` type's fixtures; the per-test SCIM provider from the ``scim``
type's. They are imported, not copied, so both suites start the servers the same way.
"""

from tests.connectors.ldap.conftest import admin, ldap_ou, slapd_server
from tests.connectors.scim.conftest import scim_server

__all__ = ["admin", "ldap_ou", "scim_server", "slapd_server"]
