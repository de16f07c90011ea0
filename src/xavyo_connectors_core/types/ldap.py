"""The ``ldap`` connector type: an LDAP v3 directory or Active Directory (``ldap3``).

Accounts are the entries under ``base_dn`` (``scope`` ``sub`` or ``one``) that match
``filter``; their object class is ``object_class`` (``inetOrgPerson``). An account's uid is
the value of ``uid_attribute`` (``entryUUID``; ``objectGUID`` in Active Directory mode,
rendered as the usual GUID text), its name the value of ``name_attribute`` (``uid``), and
its attributes are the entry's user attributes plus ``dn``. Values are normalized with the
directory's schema: a SINGLE-VALUE attribute gives a scalar and any other a list; INTEGER
and Boolean values become ints and bools; Generalized Time values become RFC 3339 UTC
strings (``2024-05-01T12:00:00Z``); binary values (Octet String, JPEG, certificates)
become base64 text; everything else is text. Password attributes (``userPassword``,
``unicodePwd``) are writable but never read back.

Connections bind with a simple bind (``bind_dn`` + the ``password`` secret, or
anonymously) over plain LDAP, StartTLS (``start_tls``) or LDAPS (``ldaps://`` URLs). TLS
always verifies the server certificate and host name against the system trust store
(``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` select another). Searches are paged (RFC 2696,
``page_size`` entries a page) and never dereference aliases. Every value put into a filter
is escaped (RFC 4515) and every value put into a DN is escaped (RFC 4514): filters and DNs
are never built from raw values.

Writes: ``create`` names the entry ``<rdn_attribute>=<value>,<base_dn>`` and gives it the
configured object class with its superclasses; ``update`` applies replace / add / remove
deltas (adding a value that is there or removing one that is not is a no-op, so a retried
update is harmless) and renames the entry first when the naming attribute changes;
``set_enabled`` writes ``TRUE``/``FALSE`` to ``enabled_attribute``, or flips the
ACCOUNTDISABLE bit (2) of ``userAccountControl`` in Active Directory mode.

Incremental changes (``changelog``):

- ``accesslog`` (``auto`` picks it when ``cn=accesslog`` is readable by the bound user):
  the OpenLDAP access log, which lists every successful write, deletes included. Adds,
  modifies and renames yield an upsert with the entry re-read by its (new) DN; deletes
  yield a delete with the uid logged by the server (``reqEntryUUID``, or ``reqOld`` when
  the overlay has ``logold (objectClass=*)`` and ``logoldattr <uid attribute>``). A token
  is ``accesslog:<reqStart>`` of the last log record read; records are read strictly
  after it. Records are read in the log's own order (sorted by ``reqStart`` within each
  page). A write that commits after a later-started write has been read is missed — with
  concurrent writers a full scan now and then covers that — and ``logpurge`` must keep
  records longer than the longest gap between syncs.
- ``timestamp`` (the fallback of ``auto``): entries with ``modifyTimestamp`` at or after
  the token minus a 2-second overlap; entries already delivered unchanged inside the
  overlap are skipped (the token carries short digests of them). Deletes are not seen:
  a full scan finds them.
- Active Directory (``auto`` with ``active_directory``): ``uSNChanged`` above the token,
  which starts at the rootDSE's ``highestCommittedUSN``. USNs are per domain controller:
  bind to one. Deletes are found by a full scan. This mode is not tested against a real
  Active Directory.
- ``none``: the connection has no change stream (``supports_changes`` is false); syncs
  scan.

Active Directory mode (``active_directory: true``) uses ``objectGUID`` as the uid
attribute when ``uid_attribute`` is left at ``entryUUID``, ``userAccountControl`` to
enable and disable, ``uSNChanged`` for changes, and writes ``unicodePwd`` as AD requires;
it is documented, not tested against a real Active Directory. Typical settings:
``object_class: user``, ``rdn_attribute: cn``, ``name_attribute: sAMAccountName``,
``filter: (&(objectCategory=person)(objectClass=user))``, an ``ldaps://`` URL.

Importing this module does not import ``ldap3``: the driver is imported when a
connection is opened or a config is checked.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import math
import re
import ssl
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
from attrs import frozen

from xavyo_connectors_core.config import validate_config
from xavyo_connectors_core.errors import (
    AccountExists,
    AccountNotFound,
    FieldError,
    TargetRejected,
    TargetUnavailable,
)
from xavyo_connectors_core.model import (
    Attribute,
    AttributeDelta,
    AttributeType,
    Capability,
    DeltaOp,
    ObjectClass,
    Schema,
)
from xavyo_connectors_core.spi import (
    TIMEOUT_FIELD,
    Change,
    ChangeKind,
    ConfigField,
    ConfigType,
    ConnectorObject,
    OpenContext,
)

if TYPE_CHECKING:
    from xavyo_connectors_core.spi import ConnectorType, IncrementalConnection

__all__ = ["CONFIG_SPEC", "TYPE", "LdapConnection", "LdapType"]

log = logging.getLogger(__name__)

ACCESSLOG_BASE = "cn=accesslog"
"""Where OpenLDAP's accesslog overlay writes its log (``logdb``)."""

TIMESTAMP_OVERLAP = timedelta(seconds=2)
"""How far before its token a ``timestamp`` change read looks again."""

_PAGED_OID = "1.2.840.113556.1.4.319"
_AD_DISABLED = 0x2
_MAX_DIGESTS = 2000
_EPOCH_REQSTART = "19700101000000.000000Z"
_EPOCH_TIMESTAMP = "19700101000000Z"
_PASSWORD_ATTRIBUTES = frozenset({"userpassword", "unicodepwd"})

CONFIG_SPEC: tuple[ConfigField, ...] = (
    ConfigField(
        "url",
        ConfigType.STRING,
        required=True,
        description="ldap://host[:port] or ldaps://host[:port] (LDAPS).",
    ),
    ConfigField(
        "start_tls",
        ConfigType.BOOLEAN,
        default=False,
        description="Upgrade an ldap:// connection with StartTLS before binding.",
    ),
    ConfigField(
        "bind_dn",
        ConfigType.STRING,
        description="The DN to bind as (simple bind); none binds anonymously.",
    ),
    ConfigField(
        "password",
        ConfigType.STRING,
        secret=True,
        description="The password of bind_dn.",
    ),
    ConfigField(
        "base_dn",
        ConfigType.STRING,
        required=True,
        description="The entry under which accounts live; new accounts are created right below it.",
    ),
    ConfigField(
        "filter",
        ConfigType.STRING,
        default="(objectClass=inetOrgPerson)",
        description="The LDAP filter (RFC 4515) an entry must match to be an account.",
    ),
    ConfigField(
        "scope",
        ConfigType.STRING,
        default="sub",
        choices=("sub", "one"),
        description="sub: the whole subtree below base_dn; one: its direct children only.",
    ),
    ConfigField(
        "object_class",
        ConfigType.STRING,
        default="inetOrgPerson",
        description="The structural object class of accounts (schema and new entries).",
    ),
    ConfigField(
        "rdn_attribute",
        ConfigType.STRING,
        default="uid",
        description="The naming attribute of new entries; changing its value renames the entry.",
    ),
    ConfigField(
        "uid_attribute",
        ConfigType.STRING,
        default="entryUUID",
        description="The attribute holding each account's stable unique id (AD: objectGUID).",
    ),
    ConfigField(
        "name_attribute",
        ConfigType.STRING,
        default="uid",
        description="The attribute holding each account's human name.",
    ),
    ConfigField(
        "enabled_attribute",
        ConfigType.STRING,
        description=(
            "A Boolean attribute (TRUE/FALSE) telling whether an account is enabled; needed "
            "to disable accounts instead of deleting them (not needed in AD mode)."
        ),
    ),
    ConfigField(
        "page_size",
        ConfigType.INTEGER,
        default=500,
        description="Entries per page of a paged search (RFC 2696).",
    ),
    ConfigField(
        "changelog",
        ConfigType.STRING,
        default="auto",
        choices=("auto", "accesslog", "timestamp", "none"),
        description=(
            "Where incremental changes come from: the OpenLDAP access log (sees deletes), "
            "modifyTimestamp (deletes found by full scans), none, or auto (the access log "
            "when readable, uSNChanged in AD mode, else modifyTimestamp)."
        ),
    ),
    ConfigField(
        "active_directory",
        ConfigType.BOOLEAN,
        default=False,
        description=(
            "Active Directory mode: objectGUID uids, userAccountControl enable/disable, "
            "uSNChanged changes (documented, not tested against a real AD)."
        ),
    ),
    TIMEOUT_FIELD,
)


# --------------------------------------------------------------------------- settings


@frozen
class _Settings:
    url: str
    host: str
    use_ssl: bool
    start_tls: bool
    bind_dn: str | None
    base_dn: str
    filter: str
    scope: str
    object_class: str
    rdn_attribute: str
    uid_attribute: str
    name_attribute: str
    enabled_attribute: str | None
    page_size: int
    changelog: str
    active_directory: bool
    timeout_seconds: float

    @property
    def transport(self) -> str:
        if self.use_ssl:
            return "LDAPS"
        return "StartTLS" if self.start_tls else "plain LDAP"


_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$|^[0-9]+(\.[0-9]+)+$")


def _check_url(url: str) -> str | None:
    """An error message for ``url``, or None when it is a usable LDAP URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("ldap", "ldaps"):
        return "must start with ldap:// or ldaps://"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials (use bind_dn and the password secret)"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must be just ldap[s]://host[:port]"
    if port == 0:
        return "has an invalid port"
    return None


def _check_filter(text: str) -> str | None:
    """A light syntax check of an RFC 4515 filter (ldap3 checks it fully when present)."""
    depth = 0
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "has unbalanced parentheses"
    if depth != 0:
        return "has unbalanced parentheses"
    try:
        from ldap3.core.exceptions import LDAPException
        from ldap3.operation.search import parse_filter
    except ImportError:  # pragma: no cover - without the driver the light check is all
        return None
    try:
        parse_filter(_wrap_filter(text), None, True, True, None, False)
    except (LDAPException, ValueError, IndexError, TypeError):
        return "is not a valid LDAP filter"
    return None


def _check_dn(text: str) -> str | None:
    try:
        rdns = _parse_dn(text)
    except ValueError:
        return "is not a valid DN"
    if not rdns:
        return "is not a valid DN"
    for rdn in rdns:
        for attribute, _value in rdn:
            if not _ATTRIBUTE_NAME.match(attribute):
                return "is not a valid DN"
    return None


def _check(config: Mapping[str, Any]) -> list[FieldError]:
    """Checks beyond the field spec; ``config`` is normalized and well-typed."""
    errors: list[FieldError] = []
    url = config.get("url", "")
    problem = _check_url(url)
    if problem:
        errors.append(FieldError("config.url", problem))
    elif config.get("start_tls") and url.lower().startswith("ldaps:"):
        errors.append(
            FieldError("config.start_tls", "cannot be used with ldaps:// (already encrypted)")
        )
    for key in ("base_dn", "bind_dn"):
        value = config.get(key)
        if value is not None:
            problem = _check_dn(value) if value.strip() else "must not be empty"
            if problem:
                errors.append(FieldError(f"config.{key}", problem))
    problem = _check_filter(config.get("filter", "(objectClass=*)"))
    if problem:
        errors.append(FieldError("config.filter", problem))
    for key in (
        "object_class",
        "rdn_attribute",
        "uid_attribute",
        "name_attribute",
        "enabled_attribute",
    ):
        value = config.get(key)
        if value is not None and not _ATTRIBUTE_NAME.match(value):
            errors.append(FieldError(f"config.{key}", "must be an attribute or class name"))
    page_size = config.get("page_size", 500)
    if not 1 <= page_size <= 100_000:
        errors.append(FieldError("config.page_size", "must be between 1 and 100000"))
    return errors


def _wrap_filter(text: str) -> str:
    text = text.strip()
    return text if text.startswith("(") else f"({text})"


def _settings(config: Mapping[str, Any]) -> _Settings:
    normalized, errors = validate_config(TYPE, config, {}, files_root=None)
    if errors:
        raise TargetRejected(
            "invalid ldap config: " + "; ".join(f"{e.path} {e.message}" for e in errors)
        )
    url = normalized["url"].strip()
    parts = urlsplit(url)
    active_directory = bool(normalized["active_directory"])
    uid_attribute = normalized["uid_attribute"]
    if active_directory and uid_attribute.lower() == "entryuuid":
        uid_attribute = "objectGUID"
    return _Settings(
        url=f"{parts.scheme.lower()}://{parts.netloc}",
        host=parts.hostname or "",
        use_ssl=parts.scheme.lower() == "ldaps",
        start_tls=bool(normalized["start_tls"]),
        bind_dn=normalized.get("bind_dn"),
        base_dn=normalized["base_dn"].strip(),
        filter=_wrap_filter(normalized["filter"]),
        scope=normalized["scope"],
        object_class=normalized["object_class"],
        rdn_attribute=normalized["rdn_attribute"],
        uid_attribute=uid_attribute,
        name_attribute=normalized["name_attribute"],
        enabled_attribute=normalized.get("enabled_attribute"),
        page_size=int(normalized["page_size"]),
        changelog=normalized["changelog"],
        active_directory=active_directory,
        timeout_seconds=float(normalized["timeout_seconds"]),
    )


# --------------------------------------------------------------------------- the type


class LdapType:
    """The ``ldap`` connector type (SPEC §5)."""

    key: str = "ldap"
    description: str = (
        "An LDAP v3 directory or Active Directory (ldap3): simple bind over plain LDAP, "
        "StartTLS or LDAPS, paged search, schema from the subschema subentry, incremental "
        "changes from the OpenLDAP access log or modifyTimestamp."
    )
    config_spec: tuple[ConfigField, ...] = CONFIG_SPEC
    capabilities: frozenset[Capability] = frozenset(
        {
            Capability.SCHEMA,
            Capability.SEARCH,
            Capability.CREATE,
            Capability.UPDATE,
            Capability.DELETE,
            Capability.CHANGES,
            Capability.DISABLE,
        }
    )

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        """The configured ``object_class`` (``inetOrgPerson`` by default)."""
        return str(config.get("object_class") or "inetOrgPerson")

    def can_disable(self, config: Mapping[str, Any]) -> bool:
        """Accounts can be disabled through an ``enabled_attribute`` or in AD mode."""
        return bool(config.get("enabled_attribute")) or bool(config.get("active_directory"))

    def enabled_attribute(self, config: Mapping[str, Any]) -> str | None:
        """The Boolean attribute that tells whether an account is enabled, if any.

        In AD mode without one, enabling and disabling go through ``set_enabled``.
        """
        value = config.get("enabled_attribute")
        return str(value) if value else None

    def check_config(self, config: Mapping[str, Any]) -> list[FieldError]:
        """URL, DNs, filter, attribute names and page size (called by ``validate_config``)."""
        return _check(config)

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> LdapConnection:
        """Prepare a connection; nothing is sent until the first call.

        Raises:
            TargetRejected: the config is invalid, or ``ldap3`` is not installed.
        """
        settings = _settings(config)
        try:
            import ldap3  # noqa: F401
        except ImportError:
            raise TargetRejected(
                "the ldap connector type needs ldap3: pip install 'xavyo-connectors[ldap]'"
            ) from None
        password = secrets.get("password")
        return LdapConnection(settings, password or None)

    def __repr__(self) -> str:
        return "LdapType()"


TYPE = LdapType()
"""The registered instance."""


# --------------------------------------------------------------------------- values

_SYNTAX_TYPES: dict[str, AttributeType] = {
    "1.3.6.1.4.1.1466.115.121.1.27": AttributeType.INTEGER,
    "1.2.840.113556.1.4.906": AttributeType.INTEGER,  # AD Large Integer
    "1.3.6.1.4.1.1466.115.121.1.7": AttributeType.BOOLEAN,
    "1.3.6.1.4.1.1466.115.121.1.24": AttributeType.DATETIME,
    "1.3.6.1.4.1.1466.115.121.1.53": AttributeType.DATETIME,  # UTC Time
    "1.3.6.1.4.1.1466.115.121.1.5": AttributeType.BINARY,  # Binary
    "1.3.6.1.4.1.1466.115.121.1.8": AttributeType.BINARY,  # Certificate
    "1.3.6.1.4.1.1466.115.121.1.9": AttributeType.BINARY,  # Certificate List
    "1.3.6.1.4.1.1466.115.121.1.10": AttributeType.BINARY,  # Certificate Pair
    "1.3.6.1.4.1.1466.115.121.1.28": AttributeType.BINARY,  # JPEG
    "1.3.6.1.4.1.1466.115.121.1.40": AttributeType.BINARY,  # Octet String
    "1.3.6.1.4.1.1466.115.121.1.4": AttributeType.BINARY,  # Audio
    "1.3.6.1.4.1.1466.115.121.1.49": AttributeType.BINARY,  # Supported Algorithm
    "1.2.840.113556.1.4.907": AttributeType.BINARY,  # AD NT Security Descriptor
    "1.3.6.1.4.1.1466.115.121.1.12": AttributeType.REFERENCE,  # DN
}
"""SYNTAX OIDs with a type other than string (Directory String, IA5, Printable ... )."""

_GENERALIZED_TIME = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(?:[.,](\d{1,9}))?(Z|[+-]\d{2}(?:\d{2})?)?$"
)
_UTC_TIME = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})?$")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return _b64(value)


def _integer(value: bytes) -> int | str:
    try:
        return int(value)
    except ValueError:
        return _text(value)


def _boolean(value: bytes) -> bool | str:
    upper = value.upper()
    if upper == b"TRUE":
        return True
    if upper == b"FALSE":
        return False
    return _text(value)


def _offset(text: str | None) -> timedelta:
    if not text or text == "Z":
        return timedelta(0)
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[3:5] or 0) if len(text) > 3 else 0
    return sign * timedelta(hours=hours, minutes=minutes)


def _rfc3339(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_ldap_time(text: str) -> datetime | None:
    """An aware UTC datetime from Generalized Time (or UTC Time) text, None if malformed."""
    match = _GENERALIZED_TIME.match(text)
    try:
        if match:
            year, month, day, hour, minute, second, fraction, zone = match.groups()
            micro = int((fraction or "0")[:6].ljust(6, "0")) if second else 0
            moment = datetime(
                int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro
            )
            return (moment - _offset(zone)).replace(tzinfo=UTC)
        match = _UTC_TIME.match(text)
        if match:
            yy, month, day, hour, minute, second, zone = match.groups()
            year = 1900 + int(yy) if int(yy) >= 50 else 2000 + int(yy)
            moment = datetime(year, int(month), int(day), int(hour), int(minute), int(second or 0))
            return (moment - _offset(zone)).replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


def _time(value: bytes) -> str:
    text = _text(value)
    moment = parse_ldap_time(text)
    return _rfc3339(moment) if moment is not None else text


def _generalized(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise TargetRejected("datetime values must be timezone-aware")
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y%m%d%H%M%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


_DECODERS: dict[AttributeType, Callable[[bytes], Any]] = {
    AttributeType.STRING: _text,
    AttributeType.REFERENCE: _text,
    AttributeType.INTEGER: _integer,
    AttributeType.BOOLEAN: _boolean,
    AttributeType.DATETIME: _time,
    AttributeType.BINARY: _b64,
}


@frozen
class _AttrInfo:
    """What the directory schema says about one attribute type."""

    name: str
    type: AttributeType = AttributeType.STRING
    single: bool | None = None
    """True/False from the schema; None when the schema does not know the attribute."""
    operational: bool = False
    user_modifiable: bool = True
    case_ignore: bool = True
    password: bool = False


def _unescape_dn_value(value: str) -> str:
    r"""The plain text of a DN attribute value (RFC 4514 ``\,`` and ``\2C`` escapes)."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        value = value[1:-1]  # RFC 2253 quoting
    if "\\" not in value:
        return value
    out = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out.extend(value[i + 1].encode("utf-8"))
            i += 2
            continue
        out.extend(ch.encode("utf-8"))
        i += 1
    return out.decode("utf-8", errors="replace")


def _split_unescaped(text: str, separators: str) -> list[str]:
    """``text`` split at separators that are neither escaped nor inside quotes."""
    parts: list[str] = []
    current: list[str] = []
    escaped = quoted = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch in separators and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    if escaped or quoted:
        raise ValueError("unterminated escape or quote")
    parts.append("".join(current))
    return parts


def _rdn_strings(dn: str) -> list[str]:
    """The RDNs of ``dn`` as written (escapes kept), most specific first."""
    if not dn.strip():
        return []
    return [part.strip() for part in _split_unescaped(dn, ",;")]


def _parse_dn(dn: str) -> list[list[tuple[str, str]]]:
    """``dn`` as RDNs of (attribute, escaped value) pairs; ValueError when malformed.

    A small RFC 4514 parser: ldap3's refuses valid DNs (a ``#`` inside a value).
    """
    rdns = []
    for rdn in _rdn_strings(dn):
        avas = []
        for ava in _split_unescaped(rdn, "+"):
            attribute, sep, value = ava.partition("=")
            if not sep or not attribute.strip():
                raise ValueError("an RDN lacks attribute=value")
            avas.append((attribute.strip(), value.strip()))
        rdns.append(avas)
    return rdns


def _dn_key(dn: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """A comparable form of a DN: per RDN its sorted (attribute, value), case-folded."""
    try:
        rdns = _parse_dn(dn)
    except ValueError:
        return (((dn.casefold(), ""),),)
    return tuple(
        tuple(sorted((a.casefold(), _unescape_dn_value(v).casefold()) for a, v in rdn))
        for rdn in rdns
    )


def _guid_text(value: bytes) -> str:
    """AD's 16-byte ``objectGUID`` as GUID text (mixed-endian, like AD tools show it)."""
    if len(value) == 16:
        return str(uuid.UUID(bytes_le=bytes(value)))
    return _text(value)


def _guid_filter_value(uid: str) -> str | None:
    """AD ``objectGUID`` assertion value: every byte escaped (``\\xx``), None if not a GUID."""
    try:
        raw = uuid.UUID(uid.strip("{}")).bytes_le
    except ValueError:
        return None
    return "".join(f"\\{b:02x}" for b in raw)


# --------------------------------------------------------------------------- schema


class _DirectorySchema:
    """The subschema subentry's attribute types and object classes, by lower-cased name."""

    def __init__(self, attribute_types: Mapping[str, Any], object_classes: Mapping[str, Any]):
        self._types: dict[str, Any] = {}
        for info in _unique(attribute_types.values()):
            for name in (*(info.name or ()), info.oid):
                if name:
                    self._types.setdefault(str(name).lower(), info)
        self._classes: dict[str, Any] = {}
        for info in _unique(object_classes.values()):
            for name in (*(info.name or ()), info.oid):
                if name:
                    self._classes.setdefault(str(name).lower(), info)
        self._infos: dict[str, _AttrInfo] = {}

    def object_class(self, name: str) -> Any | None:
        return self._classes.get(name.lower())

    def class_chain(self, name: str) -> list[Any]:
        """``name``'s class info followed by its superclasses (breadth first, no repeats)."""
        chain: list[Any] = []
        seen: set[int] = set()
        todo = [name]
        while todo:
            info = self._classes.get(todo.pop(0).lower())
            if info is None or id(info) in seen:
                continue
            seen.add(id(info))
            chain.append(info)
            todo.extend(info.superior or ())
        return chain

    def subclasses_of(self, name: str) -> set[str]:
        """Lower-cased names of ``name`` and of every class that inherits from it."""
        target = self._classes.get(name.lower())
        result = {name.lower()}
        if target is None:
            return result
        for key, info in self._classes.items():
            if any(c is target for c in self.class_chain(info.name[0] if info.name else key)):
                result.add(key)
        return result

    def _attribute_type(self, name: str) -> Any | None:
        return self._types.get(name.split(";", 1)[0].lower())

    def info(self, name: str) -> _AttrInfo:
        """What the schema says about attribute ``name`` (options like ``;binary`` ignored)."""
        key = name.lower()
        cached = self._infos.get(key)
        if cached is not None:
            return cached
        at = self._attribute_type(name)
        if at is None:
            result = _AttrInfo(name=name, password=key in _PASSWORD_ATTRIBUTES)
        else:
            syntax, equality = at.syntax, at.equality
            parent = at
            depth = 0
            while (syntax is None or equality is None) and parent.superior and depth < 16:
                parent = self._attribute_type(parent.superior[0])
                if parent is None:
                    break
                syntax = syntax or parent.syntax
                equality = equality or parent.equality
                depth += 1
            password = key in _PASSWORD_ATTRIBUTES or any(
                str(n).lower() in _PASSWORD_ATTRIBUTES for n in at.name or ()
            )
            kind = _SYNTAX_TYPES.get(str(syntax or "").split("{", 1)[0], AttributeType.STRING)
            if ";binary" in key:
                kind = AttributeType.BINARY
            result = _AttrInfo(
                name=str(at.name[0]) if at.name else name,
                type=AttributeType.STRING if password else kind,
                single=bool(at.single_value),
                operational=at.usage is not None,
                user_modifiable=not at.no_user_modification,
                case_ignore=equality is None or "ignore" in str(equality).lower(),
                password=password,
            )
        self._infos[key] = result
        return result


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: set[int] = set()
    result = []
    for value in values:
        if id(value) not in seen:
            seen.add(id(value))
            result.append(value)
    return result


# --------------------------------------------------------------------------- results

_UNAVAILABLE_CODES = frozenset({3, 11, 51, 52, 80, 81, 85, 91})
"""timeLimitExceeded, adminLimitExceeded, busy, unavailable, other, serverDown, timeout,
connectError."""


def _result_text(result: Mapping[str, Any]) -> str:
    text = str(result.get("description") or f"result {result.get('result')}")
    message = str(result.get("message") or "").strip()
    return f"{text} ({message})" if message else text


def _failure(result: Mapping[str, Any], what: str) -> Exception:
    """The connector error for an LDAP result code other than success."""
    code = int(result.get("result", 80))
    text = f"{what}: {_result_text(result)}"
    if code in _UNAVAILABLE_CODES:
        return TargetUnavailable(text)
    return TargetRejected(text)


def _cookie(result: Mapping[str, Any]) -> bytes | None:
    controls = result.get("controls") or {}
    value = (controls.get(_PAGED_OID) or {}).get("value") or {}
    cookie = value.get("cookie")
    return bytes(cookie) if cookie else None


_Raw = Mapping[str, list[bytes]]
_Caller = Callable[[str, Callable[[Any], Any]], tuple[Mapping[str, Any], Any]]
_SCOPES = {"sub": "SUBTREE", "one": "LEVEL", "base": "BASE"}
"""Our scope names -> ldap3's scope constants."""


# --------------------------------------------------------------------------- connection


class LdapConnection:
    """An open ``ldap`` connector: one LDAP session, bound on first use.

    Not thread-safe beyond a lock that serializes its LDAP operations; open one per thread.
    """

    def __init__(self, settings: _Settings, password: str | None) -> None:
        self._settings = settings
        self._password = password
        self._ldap: Any = None
        self._lock = threading.RLock()
        self._schema: _DirectorySchema | None = None
        self._schema_loaded = False
        self._mode: str | None = None
        self._paging = False

    def __repr__(self) -> str:
        return f"LdapConnection(url={self._settings.url!r}, base_dn={self._settings.base_dn!r})"

    def __enter__(self) -> LdapConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Unbind and close the session (a later call opens a new one)."""
        ldap, self._ldap = self._ldap, None
        if ldap is not None:
            with contextlib.suppress(Exception):
                ldap.unbind()

    @property
    def supports_changes(self) -> bool:
        """False when ``changelog`` is ``none``: syncs then scan."""
        return self._settings.changelog != "none"

    # ------------------------------------------------------------------ session

    @contextlib.contextmanager
    def _driver_errors(self, what: str, *, drop: bool = True) -> Iterator[None]:
        """Translate ldap3's exceptions into connector errors (never with the password).

        A broken session is dropped (``drop``), so that the next call opens a new one.
        """
        from ldap3.core.exceptions import (
            LDAPCommunicationError,
            LDAPException,
            LDAPResponseTimeoutError,
            LDAPStartTLSError,
        )

        url = self._settings.url
        untrusted = f"{what}: the server's TLS certificate is not trusted ({url})"
        try:
            yield
        except (LDAPCommunicationError, LDAPResponseTimeoutError, OSError) as exc:
            if drop:
                self._drop()
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise TargetRejected(untrusted) from None
            raise TargetUnavailable(f"{what}: {url} is unreachable ({exc})") from None
        except LDAPStartTLSError as exc:
            if drop:
                self._drop()
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise TargetRejected(untrusted) from None
            raise TargetRejected(f"{what}: StartTLS failed ({exc})") from None
        except LDAPException as exc:
            if type(exc).__name__ == "LDAPCertificateError":
                if drop:
                    self._drop()
                raise TargetRejected(
                    f"{what}: the server's TLS certificate does not match {self._settings.host!r}"
                ) from None
            raise TargetRejected(f"{what}: {exc}") from None

    def _drop(self) -> None:
        ldap, self._ldap = self._ldap, None
        if ldap is not None:
            with contextlib.suppress(Exception):
                ldap.unbind()

    def _connect(self) -> Any:
        import ldap3

        s = self._settings
        if s.bind_dn and not self._password:
            raise TargetRejected(f"binding as {s.bind_dn!r} needs the password secret")
        tls = None
        if s.use_ssl or s.start_tls:
            sni = None if _is_ip(s.host) else s.host
            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, sni=sni)
        server = ldap3.Server(
            s.url,
            use_ssl=s.use_ssl,
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=s.timeout_seconds,
        )
        conn = ldap3.Connection(
            server,
            user=s.bind_dn or None,
            password=self._password if s.bind_dn else None,
            authentication=ldap3.SIMPLE if s.bind_dn else ldap3.ANONYMOUS,
            client_strategy=ldap3.SYNC,
            auto_bind=ldap3.AUTO_BIND_NONE,
            auto_referrals=False,
            check_names=False,
            raise_exceptions=False,
            return_empty_attributes=False,
            fast_decoder=True,
            receive_timeout=max(1, math.ceil(s.timeout_seconds)),  # ldap3 wants whole seconds
        )
        _decode_entries_raw_only(conn)
        try:
            with self._driver_errors("connect", drop=False):
                conn.open()
                if s.start_tls:
                    conn.start_tls()
                ok = conn.bind()
        except BaseException:
            _discard(conn)
            raise
        if not ok:
            result = dict(conn.result or {})
            _discard(conn)
            who = f"as {s.bind_dn!r}" if s.bind_dn else "anonymously"
            code = int(result.get("result", 80))
            if code == 49:
                raise TargetRejected(f"cannot bind {who}: invalid credentials")
            raise _failure(result, f"cannot bind {who}")
        return conn

    def _conn(self) -> Any:
        if self._ldap is None or self._ldap.closed:
            self._ldap = None
            self._ldap = self._connect()
        return self._ldap

    def _call(self, what: str, operation: Callable[[Any], Any]) -> tuple[Mapping[str, Any], Any]:
        """Run one LDAP operation on the main session; return its result and response."""
        with self._lock:
            conn = self._conn()
            with self._driver_errors(what):
                operation(conn)
            result = conn.result or {"result": 80, "description": "no result"}
            return result, conn.response

    @contextlib.contextmanager
    def _paging_session(self) -> Iterator[_Caller]:
        """A session for one paged search: the main one, or a private one while another
        paged search is open on it (OpenLDAP keeps one paged search per connection)."""
        if not self._paging:
            self._paging = True
            try:
                yield self._call
            finally:
                self._paging = False
            return
        extra: list[Any] = []

        def call(what: str, operation: Callable[[Any], Any]) -> tuple[Mapping[str, Any], Any]:
            if not extra:
                extra.append(self._connect())
            with self._driver_errors(what, drop=False):
                operation(extra[0])
            result = extra[0].result or {"result": 80, "description": "no result"}
            return result, extra[0].response

        try:
            yield call
        finally:
            if extra:
                _discard(extra[0])

    def _search(
        self,
        base: str,
        search_filter: str,
        *,
        scope: str,
        attributes: Sequence[str],
        size_limit: int = 0,
        missing_ok: bool = False,
    ) -> list[tuple[str, _Raw]]:
        """A plain (unpaged) search for a few entries: base reads and uid look-ups."""
        import ldap3

        def search(conn: Any) -> None:
            conn.search(
                base,
                search_filter,
                _SCOPES[scope],
                dereference_aliases=ldap3.DEREF_NEVER,
                attributes=list(attributes),
                size_limit=size_limit,
            )

        result, response = self._call("search", search)
        code = int(result.get("result", 80))
        if code == 32 and missing_ok:
            return []
        if code not in (0, 4):  # 4: sizeLimitExceeded, the entries up to the limit came
            raise _failure(result, f"search under {base!r}")
        return [
            (entry["dn"], entry["raw_attributes"])
            for entry in response or ()
            if entry.get("type") == "searchResEntry"
        ]

    def _paged(
        self,
        base: str,
        search_filter: str,
        *,
        scope: str,
        attributes: Sequence[str],
        page_size: int,
    ) -> Iterator[list[tuple[str, _Raw]]]:
        """Pages of ``(dn, raw attributes)`` of a paged search (RFC 2696).

        Other calls may be made on this connection between pages; an abandoned search
        tells the server to drop its state (a page size of 0).
        """
        import ldap3

        with self._paging_session() as call:
            cookie: bytes | None = None
            done = False
            try:
                while True:
                    current = cookie

                    def search(conn: Any, current: bytes | None = current) -> None:
                        conn.search(
                            base,
                            search_filter,
                            _SCOPES[scope],
                            dereference_aliases=ldap3.DEREF_NEVER,
                            attributes=list(attributes),
                            paged_size=page_size,
                            paged_cookie=current,
                        )

                    result, response = call("search", search)
                    code = int(result.get("result", 80))
                    if code != 0:
                        done = True
                        if code == 4:
                            raise TargetRejected(
                                f"search under {base!r}: the server's size limit was exceeded; "
                                "allow the bind DN more entries"
                            )
                        raise _failure(result, f"search under {base!r}")
                    cookie = _cookie(result)
                    done = not cookie
                    yield [
                        (entry["dn"], entry["raw_attributes"])
                        for entry in response or ()
                        if entry.get("type") == "searchResEntry"
                    ]
                    if done:
                        return
            finally:
                if not done and cookie:
                    abandoned = cookie

                    def abandon(conn: Any) -> None:
                        conn.search(
                            base,
                            search_filter,
                            _SCOPES[scope],
                            attributes=["1.1"],
                            paged_size=0,
                            paged_cookie=abandoned,
                        )

                    with contextlib.suppress(Exception):
                        call("abandon search", abandon)

    def _read_base(
        self, dn: str, attributes: Sequence[str], search_filter: str = "(objectClass=*)"
    ) -> _Raw | None:
        """The raw attributes of the entry ``dn`` if it exists and matches the filter."""
        found = self._search(
            dn, search_filter, scope="base", attributes=attributes, missing_ok=True
        )
        return found[0][1] if found else None

    def _directory_schema(self, *, refresh: bool = False) -> _DirectorySchema | None:
        """The directory's schema, read once per connection (None when unreadable)."""
        if self._schema_loaded and not refresh:
            return self._schema
        from ldap3.protocol.rfc4512 import AttributeTypeInfo, ObjectClassInfo

        root = self._read_base("", ["subschemaSubentry"])
        entries = (root or {}).get("subschemaSubentry") or [b"cn=Subschema"]
        subschema = _text(entries[0])
        raw = self._read_base(
            subschema, ["objectClasses", "attributeTypes"], "(objectClass=subschema)"
        )
        self._schema_loaded = True
        if not raw or not raw.get("attributeTypes"):
            if refresh:
                raise TargetRejected(f"the subschema subentry {subschema!r} is not readable")
            log.warning("ldap: the subschema subentry is not readable; values are not typed")
            self._schema = None
            return None
        types = AttributeTypeInfo.from_definition([_text(v) for v in raw["attributeTypes"]])
        classes = ObjectClassInfo.from_definition(
            [_text(v) for v in raw.get("objectClasses") or ()]
        )
        self._schema = _DirectorySchema(types, classes)
        return self._schema

    def _info(self, name: str) -> _AttrInfo:
        schema = self._directory_schema()
        if schema is None:
            return _AttrInfo(name=name, password=name.lower() in _PASSWORD_ATTRIBUTES)
        return schema.info(name)

    def _decoder(self, name: str) -> tuple[Callable[[bytes], Any], bool | None, bool]:
        if name.lower() == "objectguid":
            return _guid_text, True, False
        info = self._info(name)
        return _DECODERS[info.type], info.single, info.password

    def _uid_of(self, raw: _Raw, dn: str) -> str:
        values = raw.get(self._settings.uid_attribute)
        if not values:
            raise TargetRejected(
                f"the entry {dn!r} has no {self._settings.uid_attribute} (the uid attribute)"
            )
        if self._settings.uid_attribute.lower() == "objectguid":
            return _guid_text(values[0])
        return _text(values[0])

    def _objects(self) -> Callable[[str, _Raw], ConnectorObject]:
        """A converter of raw entries, with a per-attribute decoder cache."""
        cache: dict[str, tuple[Callable[[bytes], Any], bool | None, bool]] = {}
        decoder = self._decoder
        name_attribute = self._settings.name_attribute
        uid_of = self._uid_of

        def to_object(dn: str, raw: _Raw) -> ConnectorObject:
            attributes: dict[str, Any] = {"dn": dn}
            for name, values in raw.items():
                if not values:
                    continue
                found = cache.get(name)
                if found is None:
                    found = cache[name] = decoder(name)
                decode, single, password = found
                if password:
                    continue
                if single or (single is None and len(values) == 1):
                    attributes[name] = decode(values[0])
                else:
                    attributes[name] = [decode(v) for v in values]
            names = raw.get(name_attribute)
            account_name = _text(names[0]) if names else dn
            return ConnectorObject(uid=uid_of(raw, dn), name=account_name, attributes=attributes)

        return to_object

    def _attributes(self) -> list[str]:
        return ["*", self._settings.uid_attribute]

    def _check_class(self, object_class: str) -> None:
        if object_class.casefold() != self._settings.object_class.casefold():
            raise TargetRejected(
                f"unknown object class {object_class!r}: this connector manages "
                f"{self._settings.object_class}"
            )

    def _uid_filter(self, uid: str) -> str | None:
        from ldap3.utils.conv import escape_filter_chars

        s = self._settings
        if s.uid_attribute.lower() == "objectguid":
            value = _guid_filter_value(uid)
            if value is None:
                return None
        else:
            value = escape_filter_chars(uid)
        return f"(&{s.filter}({s.uid_attribute}={value}))"

    def _find(self, uid: str, attributes: Sequence[str] | None = None) -> tuple[str, _Raw] | None:
        """The DN and raw attributes of the account with ``uid``, or None."""
        s = self._settings
        search_filter = self._uid_filter(uid)
        if search_filter is None:
            return None
        wanted = list(attributes) if attributes is not None else self._attributes()
        found = self._search(
            s.base_dn, search_filter, scope=s.scope, attributes=wanted, size_limit=2
        )
        if len(found) > 1:
            raise TargetRejected(f"{len(found)} entries have {s.uid_attribute} {uid!r}")
        return found[0] if found else None

    def _in_scope(self, dn: str) -> bool:
        key, base = _dn_key(dn), _dn_key(self._settings.base_dn)
        if self._settings.scope == "one":
            return key[1:] == base
        return len(key) >= len(base) and key[len(key) - len(base) :] == base

    # ------------------------------------------------------------------ SPI: reads

    def test(self) -> str:
        """Bind (over plain LDAP, StartTLS or LDAPS) and read the base entry.

        Raises:
            TargetUnavailable: the server cannot be reached or does not answer in time.
            TargetRejected: the credentials are refused, the certificate is not trusted,
                or ``base_dn`` does not exist.
        """
        self.close()
        s = self._settings
        with self._lock:
            self._conn()
        if self._read_base(s.base_dn, ["1.1"]) is None:
            raise TargetRejected(f"base_dn {s.base_dn!r} does not exist (or is not visible)")
        who = f"bound as {s.bind_dn}" if s.bind_dn else "bound anonymously"
        return f"{who} to {s.url} over {s.transport}"

    def schema(self) -> Schema:
        """The configured object class from the subschema subentry.

        Its attributes are the MUST and MAY attributes of the class and its superclasses,
        plus the uid attribute and ``dn`` (read-only).

        Raises:
            TargetRejected: the subschema is unreadable or lacks the object class.
        """
        s = self._settings
        directory = self._directory_schema(refresh=True)
        assert directory is not None  # refresh raises instead
        chain = directory.class_chain(s.object_class)
        if not chain:
            raise TargetRejected(f"the directory schema has no object class {s.object_class!r}")
        must: dict[str, str] = {}
        may: dict[str, str] = {}
        for info in chain:
            for name in info.must_contain or ():
                must.setdefault(str(name).lower(), str(name))
            for name in info.may_contain or ():
                may.setdefault(str(name).lower(), str(name))
        names = {**must, **{k: v for k, v in may.items() if k not in must}}
        attributes: list[Attribute] = []
        seen: set[str] = set()
        for key, name in names.items():
            attr = self._schema_attribute(
                directory, name, required=key in must and key != "objectclass"
            )
            if attr.name.lower() not in seen:
                seen.add(attr.name.lower())
                attributes.append(attr)
        for extra in (s.uid_attribute, s.name_attribute, s.enabled_attribute):
            if extra and extra.lower() not in seen and directory.info(extra).single is not None:
                attr = self._schema_attribute(directory, extra, required=False)
                seen.add(attr.name.lower())
                attributes.append(attr)
        uid_index = next(
            (i for i, a in enumerate(attributes) if a.name.lower() == s.uid_attribute.lower()),
            None,
        )
        if uid_index is None:
            attributes.append(
                Attribute(s.uid_attribute, creatable=False, updateable=False, required=False)
            )
        else:
            attributes[uid_index] = attrs.evolve(
                attributes[uid_index],
                type=AttributeType.STRING,  # AD's binary objectGUID is given as GUID text
                multivalued=False,
                required=False,
                creatable=False,
                updateable=False,
            )
        attributes.append(
            Attribute("dn", AttributeType.REFERENCE, creatable=False, updateable=False)
        )
        uid_name = attributes[uid_index].name if uid_index is not None else s.uid_attribute
        object_class = ObjectClass(
            name=s.object_class,
            uid_attribute=uid_name,
            name_attribute=directory.info(s.name_attribute).name,
            attributes=tuple(attributes),
        )
        return Schema(object_classes=(object_class,), discovered_at=datetime.now(UTC))

    def _schema_attribute(
        self, directory: _DirectorySchema, name: str, *, required: bool
    ) -> Attribute:
        info = directory.info(name)
        return Attribute(
            name=info.name,
            type=info.type,
            multivalued=not info.single if info.single is not None else True,
            required=required,
            readable=not info.password,
            creatable=info.user_modifiable,
            updateable=info.user_modifiable,
            returned_by_default=not info.operational and not info.password,
        )

    def search(self, object_class: str, page_size: int) -> Iterator[ConnectorObject]:
        """Every account, page by page (the LDAP page size is the config's ``page_size``)."""
        self._check_class(object_class)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        return self._stream()

    def _stream(self) -> Iterator[ConnectorObject]:
        s = self._settings
        to_object = self._objects()
        for page in self._paged(
            s.base_dn, s.filter, scope=s.scope, attributes=self._attributes(), page_size=s.page_size
        ):
            for dn, raw in page:
                yield to_object(dn, raw)

    def get(self, object_class: str, uid: str) -> ConnectorObject:
        """The account with ``uid``.

        Raises:
            AccountNotFound: no entry in scope has it.
        """
        self._check_class(object_class)
        found = self._find(uid)
        if found is None:
            raise AccountNotFound(f"no account with uid {uid!r} under {self._settings.base_dn!r}")
        return self._objects()(*found)

    def _object_at(self, dn: str) -> ConnectorObject:
        raw = self._read_base(dn, self._attributes())
        if raw is None:
            raise AccountNotFound(f"the entry {dn!r} vanished")
        return self._objects()(dn, raw)

    # ------------------------------------------------------------------ SPI: writes

    def _encode(self, name: str, value: Any) -> bytes | str:
        info = self._info(name)
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        if isinstance(value, datetime):
            return _generalized(value)
        if isinstance(value, bytes | bytearray):
            return bytes(value)
        if not isinstance(value, str):
            raise TargetRejected(
                f"attribute {name!r}: values must be text, numbers, booleans or datetimes"
            )
        if "\x00" in value and info.type is not AttributeType.BINARY:
            raise TargetRejected(f"attribute {name!r} must not contain NUL")
        if info.password and self._settings.active_directory and name.lower() == "unicodepwd":
            return f'"{value}"'.encode("utf-16-le")
        if info.type is AttributeType.BINARY and not info.password:
            try:
                return base64.b64decode(value, validate=True)
            except ValueError:
                raise TargetRejected(f"attribute {name!r} is binary: give base64 text") from None
        if info.type is AttributeType.DATETIME and not _GENERALIZED_TIME.match(value):
            try:
                return _generalized(datetime.fromisoformat(value))
            except ValueError:
                raise TargetRejected(
                    f"attribute {name!r} must be an RFC 3339 or LDAP time"
                ) from None
        if info.type is AttributeType.BOOLEAN:
            flag = {"true": "TRUE", "false": "FALSE", "1": "TRUE", "0": "FALSE"}
            mapped = flag.get(value.strip().lower())
            if mapped is None:
                raise TargetRejected(f"attribute {name!r} must be a boolean")
            return mapped
        return value

    def _values(self, name: str, value: Any) -> list[bytes | str]:
        items = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
        return [self._encode(name, v) for v in items if v is not None and v != ""]

    def _object_classes(self, extra: Iterable[str]) -> list[str]:
        s = self._settings
        directory = self._directory_schema()
        if directory is not None and directory.class_chain(s.object_class):
            chain = [str(c.name[0]) for c in directory.class_chain(s.object_class) if c.name]
            classes = list(reversed(chain))
        elif s.object_class.lower() == "inetorgperson":
            classes = ["top", "person", "organizationalPerson", "inetOrgPerson"]
        else:
            classes = ["top", s.object_class]
        lowered = {c.lower() for c in classes}
        classes.extend(c for c in extra if c.lower() not in lowered)
        return classes

    def _dn_for(self, rdn_value: str) -> str:
        from ldap3.utils.dn import escape_rdn

        return f"{self._settings.rdn_attribute}={escape_rdn(rdn_value)},{self._settings.base_dn}"

    def _read_only(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in ("dn", self._settings.uid_attribute.lower()):
            return True
        return not self._info(name).user_modifiable

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        """Add the entry ``<rdn_attribute>=<value>,<base_dn>``.

        Raises:
            AccountExists: an entry with that DN exists (its uid attached when readable).
            TargetRejected: the naming attribute is missing, a value is invalid, or the
                server refuses the entry (schema or constraint violation).
        """
        self._check_class(object_class)
        s = self._settings
        payload: dict[str, list[bytes | str]] = {}
        extra_classes: list[str] = []
        for name, value in attributes.items():
            if name.lower() == "objectclass":
                extra_classes = [str(v) for v in self._values(name, value)]
                continue
            if self._read_only(name):
                raise TargetRejected(f"attribute {name!r} is set by the server, not writable")
            values = self._values(name, value)
            if values:
                payload[name] = values
        rdn_values = next(
            (v for k, v in payload.items() if k.lower() == s.rdn_attribute.lower()), []
        )
        if not rdn_values:
            raise TargetRejected(f"the naming attribute {s.rdn_attribute!r} is required")
        rdn_value = rdn_values[0]
        if isinstance(rdn_value, bytes):
            raise TargetRejected(f"the naming attribute {s.rdn_attribute!r} must be text")
        dn = self._dn_for(rdn_value)
        payload["objectClass"] = list(self._object_classes(extra_classes))
        result, _ = self._call("add", lambda conn: conn.add(dn, attributes=payload))
        code = int(result.get("result", 80))
        if code == 68:
            existing = self._read_base(dn, [s.uid_attribute])
            uid = self._uid_of(existing, dn) if existing else None
            raise AccountExists(f"an entry named {dn!r} exists", uid=uid)
        if code != 0:
            raise _failure(result, f"cannot add {dn!r}")
        return self._object_at(dn)

    def _current_values(self, raw: _Raw, name: str) -> list[Any]:
        binary = self._info(name).type is AttributeType.BINARY
        for key, values in raw.items():
            if key.lower() == name.lower():
                return [bytes(v) if binary else _text(v) for v in values]
        return []

    def _modifications(
        self, raw: _Raw, deltas: Sequence[AttributeDelta]
    ) -> dict[str, list[tuple[Any, list[bytes | str]]]]:
        """ldap3 modify changes for ``deltas``; adds of present and removals of absent values
        are dropped so that applying the same deltas twice is harmless."""
        import ldap3

        current: dict[str, list[Any]] = {}
        changes: dict[str, list[tuple[Any, list[bytes | str]]]] = {}
        for delta in deltas:
            name = delta.attribute
            if self._read_only(name):
                raise TargetRejected(f"attribute {name!r} is set by the server, not writable")
            info = self._info(name)
            key = name.lower()
            have = current.setdefault(key, self._current_values(raw, name))
            values = self._values(name, list(delta.values))

            def same(a: Any, b: Any, info: _AttrInfo = info) -> bool:
                if isinstance(a, str) and isinstance(b, str) and info.case_ignore:
                    return a.casefold() == b.casefold()
                return bool(a == b)

            def present(value: Any, pool: list[Any]) -> bool:
                return any(same(value, p) for p in pool)

            if delta.op is DeltaOp.REPLACE:
                changes.setdefault(name, []).append((ldap3.MODIFY_REPLACE, values))
                current[key] = list(values)
            elif delta.op is DeltaOp.ADD:
                new = [v for v in dict.fromkeys(values) if not present(v, have)]
                if new:
                    changes.setdefault(name, []).append((ldap3.MODIFY_ADD, new))
                    have.extend(new)
            elif values:
                gone = [v for v in dict.fromkeys(values) if present(v, have)]
                if gone:
                    changes.setdefault(name, []).append((ldap3.MODIFY_DELETE, gone))
                    current[key] = [h for h in have if not present(h, gone)]
            elif have:
                changes.setdefault(name, []).append((ldap3.MODIFY_DELETE, []))
                current[key] = []
        return changes

    def _final_values(self, raw: _Raw, name: str, deltas: Sequence[AttributeDelta]) -> list[str]:
        values = self._current_values(raw, name)
        for delta in deltas:
            if delta.attribute.lower() != name.lower():
                continue
            given = [str(v) for v in delta.values if v is not None and v != ""]
            if delta.op is DeltaOp.REPLACE:
                values = list(given)
            elif delta.op is DeltaOp.ADD:
                values.extend(v for v in given if v not in values)
            else:
                values = [v for v in values if v not in given] if given else []
        return values

    def update(
        self, object_class: str, uid: str, deltas: Sequence[AttributeDelta]
    ) -> ConnectorObject:
        """Apply replace / add / remove deltas; rename first when the RDN value changes.

        Raises:
            AccountNotFound: no account has ``uid``.
            TargetRejected: a read-only attribute, an invalid value, a rename onto an
                existing name, or a schema/constraint violation.
        """
        self._check_class(object_class)
        s = self._settings
        found = self._find(uid)
        if found is None:
            raise AccountNotFound(f"no account with uid {uid!r} under {s.base_dn!r}")
        dn, raw = found
        rdn = _first_rdn(dn)
        touches_rdn = rdn is not None and any(d.attribute.lower() == rdn[0].lower() for d in deltas)
        if rdn is not None and touches_rdn:
            final = self._final_values(raw, rdn[0], deltas)
            if not final:
                raise TargetRejected(f"the naming attribute {rdn[0]!r} cannot be removed")
            if rdn[1] not in final:
                dn = self._rename(dn, rdn[0], final[0])
                renamed = self._read_base(dn, self._attributes())
                if renamed is None:
                    raise AccountNotFound(f"the entry {dn!r} vanished while being renamed")
                raw = renamed
        changes = self._modifications(raw, deltas)
        if changes:
            target = dn
            result, _ = self._call("modify", lambda conn: conn.modify(target, changes))
            code = int(result.get("result", 80))
            if code == 32:
                raise AccountNotFound(f"the entry {dn!r} vanished")
            if code != 0:
                raise _failure(result, f"cannot modify {dn!r}")
        return self._object_at(dn)

    def _rename(self, dn: str, attribute: str, value: str) -> str:
        from ldap3.utils.dn import escape_rdn

        new_rdn = f"{attribute}={escape_rdn(value)}"
        result, _ = self._call(
            "rename", lambda conn: conn.modify_dn(dn, new_rdn, delete_old_dn=True)
        )
        code = int(result.get("result", 80))
        if code == 32:
            raise AccountNotFound(f"the entry {dn!r} vanished")
        if code == 68:
            raise TargetRejected(f"cannot rename {dn!r}: an entry named {new_rdn!r} exists")
        if code != 0:
            raise _failure(result, f"cannot rename {dn!r}")
        return _join_dn(new_rdn, _parent_dn(dn) or "")

    def delete(self, object_class: str, uid: str) -> None:
        """Delete the account's entry.

        Raises:
            AccountNotFound: no account has ``uid``.
            TargetRejected: the entry has children, or the server refuses.
        """
        self._check_class(object_class)
        found = self._find(uid, ["1.1"])
        if found is None:
            raise AccountNotFound(f"no account with uid {uid!r} under {self._settings.base_dn!r}")
        dn = found[0]
        result, _ = self._call("delete", lambda conn: conn.delete(dn))
        code = int(result.get("result", 80))
        if code == 32:
            raise AccountNotFound(f"the entry {dn!r} vanished")
        if code != 0:
            raise _failure(result, f"cannot delete {dn!r}")

    def set_enabled(self, object_class: str, uid: str, enabled: bool) -> ConnectorObject:
        """Enable or disable an account: ``enabled_attribute`` TRUE/FALSE, or in AD mode
        the ACCOUNTDISABLE bit of ``userAccountControl``.

        Raises:
            AccountNotFound: no account has ``uid``.
            TargetRejected: the connector has no way to disable accounts.
        """
        s = self._settings
        if s.enabled_attribute:
            delta = AttributeDelta(s.enabled_attribute, DeltaOp.REPLACE, (bool(enabled),))
            return self.update(object_class, uid, [delta])
        if not s.active_directory:
            raise TargetRejected(
                "this connector cannot disable accounts: set enabled_attribute "
                "(or active_directory)"
            )
        self._check_class(object_class)
        found = self._find(uid, ["userAccountControl"])
        if found is None:
            raise AccountNotFound(f"no account with uid {uid!r} under {s.base_dn!r}")
        values = found[1].get("userAccountControl") or [b"512"]
        flags = int(values[0])
        flags = flags & ~_AD_DISABLED if enabled else flags | _AD_DISABLED
        delta = AttributeDelta("userAccountControl", DeltaOp.REPLACE, (flags,))
        return self.update(object_class, uid, [delta])

    # ------------------------------------------------------------------ SPI: changes

    def _change_mode(self) -> str:
        """``accesslog``, ``timestamp`` or ``usn`` for this connection (probed once)."""
        if self._mode is not None:
            return self._mode
        s = self._settings
        if s.changelog == "none":
            raise TargetRejected("changelog is none: this connector has no change stream")
        if s.changelog == "accesslog":
            if not self._accesslog_readable():
                raise TargetRejected(
                    f"changelog is accesslog but {ACCESSLOG_BASE!r} is not readable "
                    "by the bound user"
                )
            self._mode = "accesslog"
        elif s.changelog == "timestamp":
            self._mode = "timestamp"
        elif s.active_directory:
            self._mode = "usn"
        else:
            self._mode = "accesslog" if self._accesslog_readable() else "timestamp"
        return self._mode

    def _accesslog_readable(self) -> bool:
        result, response = self._call(
            "read the access log",
            lambda conn: conn.search(ACCESSLOG_BASE, "(objectClass=*)", "BASE", attributes=["1.1"]),
        )
        code = int(result.get("result", 80))
        if code in (32, 50, 53):
            return False
        if code != 0:
            raise _failure(result, "cannot probe the access log")
        return bool(response)

    def latest_token(self, object_class: str) -> str | None:
        """The position of the newest change; ``changes`` from it sees only later ones.

        None when ``changelog`` is ``none``.
        """
        self._check_class(object_class)
        if not self.supports_changes:
            return None
        mode = self._change_mode()
        if mode == "accesslog":
            return "accesslog:" + self._latest_reqstart()
        if mode == "usn":
            root = self._read_base("", ["highestCommittedUSN"]) or {}
            values = root.get("highestCommittedUSN") or [b"0"]
            return f"usn:{int(values[0])}"
        return "timestamp:" + self._latest_timestamp()

    def _context_csn_time(self, dn: str) -> datetime | None:
        """The time part of the nearest ``contextCSN`` at or above ``dn`` (OpenLDAP)."""
        candidate: str | None = dn
        while candidate is not None:
            try:
                raw = self._read_base(candidate, ["contextCSN"])
            except TargetRejected:  # a referral or an ACL above the base: look higher
                raw = None
            values = (raw or {}).get("contextCSN")
            if values:
                times = [parse_ldap_time(_text(v).split("#", 1)[0]) for v in values]
                known = [t for t in times if t is not None]
                if known:
                    return max(known)
            candidate = _parent_dn(candidate)
        return None

    def _latest_reqstart(self) -> str:
        since = self._context_csn_time(ACCESSLOG_BASE)
        filters = ["(objectClass=auditWriteObject)"]
        if since is not None:
            filters.append(f"(reqStart>={_reqstart(since - timedelta(seconds=2))})")
        latest = _EPOCH_REQSTART
        for attempt in (filters, filters[:1]):
            for page in self._paged(
                ACCESSLOG_BASE,
                f"(&{''.join(attempt)})",
                scope="one",
                attributes=["reqStart"],
                page_size=self._settings.page_size,
            ):
                for _dn, raw in page:
                    value = _text((raw.get("reqStart") or [b""])[0])
                    latest = max(latest, value)
            if latest != _EPOCH_REQSTART or len(attempt) == 1:
                break
        return latest

    def _latest_timestamp(self) -> str:
        s = self._settings
        moment = self._context_csn_time(s.base_dn)
        if moment is None:
            latest: datetime | None = None
            for page in self._paged(
                s.base_dn,
                s.filter,
                scope=s.scope,
                attributes=["modifyTimestamp"],
                page_size=s.page_size,
            ):
                for _dn, raw in page:
                    values = raw.get("modifyTimestamp")
                    when = parse_ldap_time(_text(values[0])) if values else None
                    if when is not None and (latest is None or when > latest):
                        latest = when
            moment = latest
        return moment.strftime("%Y%m%d%H%M%SZ") if moment is not None else _EPOCH_TIMESTAMP

    def changes(self, object_class: str, token: str | None) -> Iterator[Change]:
        """Changes to accounts after ``token`` (from ``latest_token`` or an earlier change).

        Raises:
            TargetRejected: ``changelog`` is ``none``, or the token is malformed.
        """
        self._check_class(object_class)
        mode = self._change_mode()
        kind, _, value = (token or "").partition(":")
        if token is not None and kind not in ("accesslog", "timestamp", "usn"):
            raise TargetRejected(f"malformed change token {token!r}")
        if mode == "usn":
            if token is not None and kind != "usn":
                raise TargetRejected("the change token is not a uSNChanged token")
            return self._usn_changes(int(value) if token else 0)
        since = _token_time(kind, value) if token is not None else None
        if mode == "accesslog":
            start = _reqstart(since) if since is not None else _EPOCH_REQSTART
            if kind == "accesslog":
                start = value.split(":", 1)[0]
            return self._accesslog_changes(start)
        digests = _token_digests(value) if kind == "timestamp" else frozenset()
        return self._timestamp_changes(since, digests, token)

    def _accesslog_changes(self, after: str) -> Iterator[Change]:
        from ldap3.utils.conv import escape_filter_chars

        s = self._settings
        base = escape_filter_chars(s.base_dn)
        search_filter = (
            "(&(objectClass=auditWriteObject)(reqResult=0)"
            f"(reqStart>={escape_filter_chars(after)})"
            f"(|(reqDN:dnSubtreeMatch:={base})(reqNewSuperior:dnSubtreeMatch:={base})))"
        )
        attributes = [
            "reqStart",
            "reqType",
            "reqDN",
            "reqNewDN",
            "reqNewRDN",
            "reqNewSuperior",
            "reqEntryUUID",
            "reqOld",
        ]
        to_object = self._objects()
        family = self._class_family()
        position = after
        for page in self._paged(
            ACCESSLOG_BASE,
            search_filter,
            scope="one",
            attributes=attributes,
            page_size=s.page_size,
        ):
            records = sorted(
                ((_text(_first(raw, "reqStart")), raw) for _dn, raw in page),
                key=lambda item: item[0],
            )
            for start, raw in records:
                if start <= after:
                    continue
                change = self._log_change(raw, to_object, family)
                position = max(position, start)
                if change is not None:
                    kind, uid, obj = change
                    yield Change(kind, uid, obj, "accesslog:" + position)

    def _class_family(self) -> set[str]:
        directory = self._directory_schema()
        if directory is None:
            return {self._settings.object_class.lower()}
        return directory.subclasses_of(self._settings.object_class)

    def _log_change(
        self,
        raw: _Raw,
        to_object: Callable[[str, _Raw], ConnectorObject],
        family: set[str],
    ) -> tuple[ChangeKind, str, ConnectorObject | None] | None:
        s = self._settings
        req_type = _text(_first(raw, "reqType")).lower()
        req_dn = _text(_first(raw, "reqDN"))
        if req_type == "delete":
            if not self._in_scope(req_dn):
                return None
            old = _old_values(raw)
            classes = {c.lower() for c in old.get("objectclass", [])}
            if classes and not classes & family:
                return None
            uid = self._logged_uid(raw, old)
            if uid is None:
                log.warning(
                    "ldap: the access log does not name the %s of the deleted entry %r; "
                    "configure logold (objectClass=*) and logoldattr %s",
                    s.uid_attribute,
                    req_dn,
                    s.uid_attribute,
                )
                return None
            return ChangeKind.DELETE, uid, None
        if req_type in ("modrdn", "moddn"):
            dn = _text(_first(raw, "reqNewDN")) or _renamed_dn(raw, req_dn)
        elif req_type in ("add", "modify"):
            dn = req_dn
        else:
            return None
        current = self._read_base(dn, self._attributes(), s.filter)
        if current is None:
            return None  # gone since, or not an account: a later record or a scan covers it
        if self._in_scope(dn):
            obj = to_object(dn, current)
            return ChangeKind.UPSERT, obj.uid, obj
        if req_type in ("modrdn", "moddn") and self._in_scope(req_dn):
            return ChangeKind.DELETE, self._uid_of(current, dn), None  # moved out of scope
        return None

    def _logged_uid(self, raw: _Raw, old: Mapping[str, list[str]]) -> str | None:
        s = self._settings
        logged = old.get(s.uid_attribute.lower())
        if logged:
            return logged[0]
        if s.uid_attribute.lower() == "entryuuid":
            values = raw.get("reqEntryUUID")
            if values:
                return _text(values[0])
        return None

    def _timestamp_changes(
        self, since: datetime | None, seen: frozenset[str], token: str | None
    ) -> Iterator[Change]:
        s = self._settings
        search_filter = s.filter
        if since is not None:
            lower = (since - TIMESTAMP_OVERLAP).strftime("%Y%m%d%H%M%SZ")
            search_filter = f"(&{s.filter}(modifyTimestamp>={lower}))"
        to_object = self._objects()
        attributes = [*self._attributes(), "modifyTimestamp"]
        wants_timestamp = any(a.lower() == "modifytimestamp" for a in self._attributes())
        delivered: list[tuple[datetime, str]] = []
        latest = since
        pending: Change | None = None
        for page in self._paged(
            s.base_dn, search_filter, scope=s.scope, attributes=attributes, page_size=s.page_size
        ):
            for dn, raw in page:
                stamp_values = raw.get("modifyTimestamp")
                stamp = parse_ldap_time(_text(stamp_values[0])) if stamp_values else None
                obj = to_object(dn, raw)
                if not wants_timestamp:
                    obj = ConnectorObject(
                        obj.uid,
                        obj.name,
                        {k: v for k, v in obj.attributes.items() if k.lower() != "modifytimestamp"},
                    )
                digest = _digest(obj)
                if stamp is not None:
                    delivered.append((stamp, digest))
                    if latest is None or stamp > latest:
                        latest = stamp
                if digest in seen:
                    continue  # delivered before, unchanged, inside the overlap
                if pending is not None:
                    yield pending
                pending = Change(ChangeKind.UPSERT, obj.uid, obj, token)
        if pending is not None:
            yield Change(
                pending.kind, pending.uid, pending.object, _timestamp_token(latest, delivered)
            )

    def _usn_changes(self, after: int) -> Iterator[Change]:
        s = self._settings
        search_filter = f"(&{s.filter}(uSNChanged>={after + 1}))"
        to_object = self._objects()
        latest = after
        pending: Change | None = None
        for page in self._paged(
            s.base_dn,
            search_filter,
            scope=s.scope,
            attributes=[*self._attributes(), "uSNChanged"],
            page_size=s.page_size,
        ):
            for dn, raw in page:
                values = raw.get("uSNChanged")
                if values:
                    latest = max(latest, int(values[0]))
                obj = to_object(dn, raw)
                if pending is not None:
                    yield pending
                pending = Change(ChangeKind.UPSERT, obj.uid, obj, f"usn:{after}")
        if pending is not None:
            yield Change(pending.kind, pending.uid, pending.object, f"usn:{latest}")


# --------------------------------------------------------------------------- helpers


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _Unformatted(dict[str, Any]):
    """Stands in for ldap3's formatted values, which this connector never reads (ldap3's
    auto-range code may still add to it and delete from it)."""

    def __missing__(self, key: str) -> list[Any]:
        return []

    def __delitem__(self, key: str) -> None:
        self.pop(key, None)


def _decode_entries_raw_only(conn: Any) -> None:
    """Make ``conn`` decode search entries to bytes only.

    ldap3 decodes each search entry twice: to bytes (``raw_attributes``) and to formatted
    text (``attributes``). This connector reads only the bytes (it types values with the
    directory schema itself), and the second decoding costs about a third of a full read
    (measured with benchmarks/ldap_read.py on 50k entries: 6.4k -> 9.6k entries/s). The
    override is per connection and uses ldap3's own raw decoder; any other message, or an
    entry with controls, goes to ldap3's decoder unchanged.
    """
    from ldap3.operation.search import raw_attributes_to_dict_fast

    strategy = conn.strategy
    original = getattr(strategy, "decode_response_fast", None)
    if original is None or not getattr(conn, "fast_decoder", False):
        return

    def decode(message: Any) -> Any:
        if message.get("protocolOp") != 4 or message.get("controls"):
            return original(message)
        payload = message["payload"]
        raw_dn = bytes(payload[0][3])
        return {
            "type": "searchResEntry",
            "raw_dn": raw_dn,
            "dn": raw_dn.decode("utf-8", errors="replace"),
            "raw_attributes": raw_attributes_to_dict_fast(payload[1][3]),
            "attributes": _Unformatted(),
        }

    strategy.decode_response_fast = decode


def _discard(conn: Any) -> None:
    """Unbind ``conn`` and close its socket even when opening it failed half-way."""
    with contextlib.suppress(Exception):
        conn.unbind()
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(Exception):
            sock.close()


def _first(raw: _Raw, name: str) -> bytes:
    values = raw.get(name)
    return bytes(values[0]) if values else b""


def _first_rdn(dn: str) -> tuple[str, str] | None:
    """The attribute and unescaped value of ``dn``'s first RDN (single-valued RDNs only)."""
    try:
        rdns = _parse_dn(dn)
    except ValueError:
        return None
    if not rdns or len(rdns[0]) != 1:
        return None
    attribute, value = rdns[0][0]
    return attribute, _unescape_dn_value(value)


def _parent_dn(dn: str) -> str | None:
    """The parent of ``dn`` ("" for a top entry), None for the root DSE."""
    if not dn.strip():
        return None
    try:
        parts = _rdn_strings(dn)
    except ValueError:
        parts = dn.split(",")
    return ",".join(parts[1:])


def _join_dn(rdn: str, parent: str) -> str:
    return f"{rdn},{parent}" if parent else rdn


def _renamed_dn(raw: _Raw, old_dn: str) -> str:
    new_rdn = _text(_first(raw, "reqNewRDN"))
    superior = _text(_first(raw, "reqNewSuperior")) or (_parent_dn(old_dn) or "")
    return _join_dn(new_rdn, superior)


def _old_values(raw: _Raw) -> dict[str, list[str]]:
    """``reqOld`` (``attr: value`` lines) as lower-cased attribute -> values."""
    old: dict[str, list[str]] = {}
    for line in raw.get("reqOld") or ():
        name, sep, value = _text(line).partition(":")
        if sep:
            old.setdefault(name.split(";", 1)[0].strip().lower(), []).append(value.strip())
    return old


def _reqstart(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S.%fZ")


def _token_time(kind: str, value: str) -> datetime | None:
    text = value.split(":", 1)[0]
    moment = parse_ldap_time(text) if kind in ("accesslog", "timestamp") else None
    if moment is None:
        raise TargetRejected("malformed change token")
    return moment


def _digest(obj: ConnectorObject) -> str:
    """A short digest of an object's content: the same entry, unchanged, digests the same."""
    text = repr((obj.uid, sorted(obj.attributes.items())))
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()[:9]).decode("ascii")


def _token_digests(value: str) -> frozenset[str]:
    _, _, digests = value.partition(":")
    return frozenset(d for d in digests.split(".") if d)


def _timestamp_token(latest: datetime | None, delivered: list[tuple[datetime, str]]) -> str:
    if latest is None:
        return "timestamp:" + _EPOCH_TIMESTAMP
    horizon = latest - TIMESTAMP_OVERLAP
    recent = [digest for stamp, digest in delivered if stamp >= horizon]
    text = "timestamp:" + latest.strftime("%Y%m%d%H%M%SZ")
    if recent and len(recent) <= _MAX_DIGESTS:
        text += ":" + ".".join(sorted(set(recent)))
    return text


if TYPE_CHECKING:  # the type and its connection satisfy the SPI Protocols

    def _conforms(
        ctype: LdapType, connection: LdapConnection
    ) -> tuple[ConnectorType, IncrementalConnection]:
        return ctype, connection
