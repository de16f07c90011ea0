"""One error hierarchy for the whole library.

Core errors (``NotFound``, ``Conflict``, ``InvalidInput`` ...) become HTTP answers in the
web adapter, in one place. Connector errors (``TargetUnavailable``, ``TargetRejected``,
``AccountExists``, ``AccountNotFound``) come from the connector SPI and drive retries.
No message of any error may contain a secret value.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from attrs import frozen


@frozen
class FieldError:
    """One problem with one field of an input document, e.g. ``mappings[2].account``."""

    path: str
    message: str


class XavyoError(Exception):
    """Base of every error the library raises on purpose."""

    title = "error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class NotFound(XavyoError):
    """The resource does not exist for this tenant (another tenant's looks the same)."""

    title = "not found"


class Conflict(XavyoError):
    """The request conflicts with the current state (duplicate name, active run...)."""

    title = "conflict"

    def __init__(self, detail: str = "", *, run_id: UUID | None = None) -> None:
        super().__init__(detail)
        self.run_id = run_id


class VersionConflict(Conflict):
    """An optimistic write lost: the stored version is not the one the writer read."""

    title = "version conflict"


class PreconditionFailed(XavyoError):
    """An ``If-Match`` version does not match the stored version."""

    title = "precondition failed"


class SchemaUnavailable(Conflict):
    """A write needs the system's schema, and it cannot be had."""

    title = "schema unavailable"


class NeedsAttention(Conflict):
    """The connector's mappings are broken by a schema change; runs are refused."""

    title = "connector needs attention"


class InvalidInput(XavyoError):
    """An input document is invalid; ``errors`` lists every problem with its path."""

    title = "validation failed"

    def __init__(self, errors: Iterable[FieldError], detail: str = "") -> None:
        self.errors = tuple(errors)
        super().__init__(detail or "; ".join(f"{e.path}: {e.message}" for e in self.errors))


class Forbidden(XavyoError):
    """The principal's role may not do this."""

    title = "forbidden"


class StoreUnavailable(XavyoError):
    """The store (database) cannot be reached."""

    title = "store unavailable"


class SecretError(XavyoError):
    """A sealed secret cannot be opened: unknown key id, or it fails authentication."""

    title = "secret cannot be opened"


class ConnectorError(XavyoError):
    """Base of errors raised by connector types when talking to an external system."""

    title = "connector error"


class TargetUnavailable(ConnectorError):
    """Transient: timeout, connection refused, 5xx, 429, busy. Retry later."""

    title = "target unavailable"

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TargetRejected(ConnectorError):
    """Permanent: the system refused the request (bad request, schema violation)."""

    title = "target rejected"


class AccountExists(ConnectorError):
    """A create found the account already there."""

    title = "account exists"

    def __init__(self, detail: str = "", *, uid: str | None = None) -> None:
        super().__init__(detail)
        self.uid = uid


class AccountNotFound(ConnectorError):
    """The account does not exist in the system."""

    title = "account not found"
