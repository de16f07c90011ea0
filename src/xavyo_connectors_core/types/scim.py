"""The ``scim`` connector type: one resource type of a SCIM 2.0 service provider.

The accounts are the resources of one resource type (``resource_type``, ``User`` by
default) of a provider speaking RFC 7643 / RFC 7644 over HTTP (``httpx``, imported only when
a request is made). The object class is named after the resource type.

**Attributes are flattened** into the names the rest of the library uses:

* a simple attribute by its name: ``userName``, ``active``, ``id``, ``externalId``;
* a sub-attribute of a single-valued complex attribute by its dotted path:
  ``name.givenName``, ``meta.lastModified`` (of ``meta`` only ``created`` and
  ``lastModified`` are kept);
* a multi-valued complex attribute that has a ``value`` sub-attribute (``emails``,
  ``phoneNumbers``, ``groups``, ``roles``...) as one multivalued attribute holding the
  ``value`` of each element, the ``primary`` one first; its type is the type of the
  ``value`` sub-attribute; the other sub-attributes (``type``, ``display``) are not
  exposed, and written elements carry only ``value`` (and ``primary: true`` on the first);
* a multi-valued complex attribute without ``value`` (``addresses``) by the dotted paths
  of the sub-attributes of its primary (else first) element, single-valued
  (``addresses.locality``); writing one changes that element only;
* an extension attribute prefixed with the extension URN and a colon:
  ``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber``.

SCIM types map to ``string`` (string), ``reference``, ``binary`` (base64 text),
``boolean``, ``integer``, ``datetime`` (dateTime, kept as the provider's text); a
``decimal`` is a ``string`` holding the number's text (the SPI has no decimal type).
Mutability ``readOnly`` is neither creatable nor updateable, ``immutable`` is creatable
only, ``writeOnly`` (``password``) is not readable; ``returned: never`` is not readable
and ``returned: request`` is not returned by default. ``id`` (read-only) is the uid and
``userName`` (else ``displayName``) the name. Extension attributes are required only
when the extension itself is.

**Reads** page with ``startIndex``/``count`` (``count`` = the config's ``page_size``) and
never trust one page: providers cap ``count`` silently (scim2-server at 1000), so paging
goes on until a page is empty or ``startIndex`` passes ``totalResults``.

**Writes**: create is a POST of the nested document built from the flattened attributes;
a 409 becomes ``AccountExists`` carrying the existing resource's id, found with a
``userName eq "..."`` filter. Update is a PATCH whose operations (replace / add / remove)
are built from the attribute deltas; when a delta needs the current values (adding values
to a multi-valued attribute skips those already there, removing given values removes
only those present) the resource is read first. When the provider's
``ServiceProviderConfig`` says PATCH is unsupported, update reads the resource, applies
the deltas to it and PUTs it whole (a PUT cannot carry ``writeOnly`` values it could not
read, e.g. the password: whether the provider keeps them is the provider's choice).
Disabling and enabling go through ``active``. A PATCH answered ``204`` is followed by a GET.

**Changes** (incremental sync) use ``filter=meta.lastModified gt "T"`` where the provider
filters (``ServiceProviderConfig.filter.supported``; ``supports_changes`` says so). The
token is the greatest ``(meta.lastModified, id)`` seen, written ``<timestamp>|<id>``. The
query starts ``CHANGE_OVERLAP`` (2 s) before the token, so that a provider comparing with
less precision loses nothing, and skips what is at or before the token; the results of
all pages are deduplicated and sorted client-side (paging follows the provider's default
order, which a change does not reorder), and a listing whose ``totalResults`` moved while
it was paged is read again (up to three times). Deletes are not visible through SCIM:
they are found by a full scan. An object written with a ``lastModified`` earlier than
the token after the token was taken (a provider's clock running backwards, or a write
committed late) is not seen until the next full scan.

**Errors**: a timeout or connection failure, a 5xx (but 501 and 505), 408 and 429 are
``TargetUnavailable`` (transient) with ``retry_after`` from ``Retry-After`` (seconds or an
HTTP date) when given; 401/403 are ``TargetRejected("authentication failed")``; 404 on a
resource is ``AccountNotFound``; every other 4xx (and 501/505, a redirect, a body that is
not JSON) is ``TargetRejected`` with the SCIM ``scimType`` and ``detail``. Messages never
carry the Authorization header, and any configured secret that a provider echoes is
masked.

**Auth**: ``bearer`` sends ``Authorization: Bearer <token>`` (nothing when no ``token``
secret is set, for providers without authentication); ``basic`` needs ``username`` and
the ``password`` secret. A connection holds one ``httpx.Client`` (timeout
``timeout_seconds``), closed when its ``with`` block ends; it is not thread-safe.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import enum
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote, urlsplit

import attrs
from attrs import field, frozen

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
    import httpx

    from xavyo_connectors_core.spi import ConnectorType, IncrementalConnection

__all__ = [
    "CHANGE_OVERLAP",
    "TYPE",
    "ProviderFeatures",
    "ScimConnection",
    "ScimType",
    "parse_retry_after",
    "quote_filter_value",
]

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"

CHANGE_OVERLAP = timedelta(seconds=2)
"""How far before the token a changes query starts."""

_SCAN_ATTEMPTS = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_TYPES = {
    "string": AttributeType.STRING,
    "reference": AttributeType.REFERENCE,
    "binary": AttributeType.BINARY,
    "boolean": AttributeType.BOOLEAN,
    "integer": AttributeType.INTEGER,
    "decimal": AttributeType.STRING,
    "datetime": AttributeType.DATETIME,
}
_DEFAULT_ENDPOINTS = {
    "user": ("User", "/Users", CORE_USER, ((ENTERPRISE_USER, False),)),
    "group": ("Group", "/Groups", CORE_GROUP, ()),
}
"""Used when a provider does not serve ``/ResourceTypes`` (RFC 7644 §3.2 endpoints)."""
_ABSENT = (404, 405, 501)
"""Statuses of a discovery endpoint that the provider does not implement."""


# --------------------------------------------------------------------------- config

CONFIG_SPEC: tuple[ConfigField, ...] = (
    ConfigField(
        "base_url",
        ConfigType.STRING,
        required=True,
        description=(
            "The SCIM base URL, http:// or https:// (e.g. https://app.example.com/scim/v2); "
            "credentials never go in it."
        ),
    ),
    ConfigField(
        "resource_type",
        ConfigType.STRING,
        default="User",
        description=(
            "The resource type whose resources are the accounts, as named in /ResourceTypes; "
            "the object class is named after it."
        ),
    ),
    ConfigField(
        "auth",
        ConfigType.STRING,
        default="bearer",
        choices=("bearer", "basic"),
        description=(
            "bearer: Authorization: Bearer <token> (no header when no token is set); "
            "basic: username and password."
        ),
    ),
    ConfigField("username", ConfigType.STRING, description="The user name for basic auth."),
    ConfigField("token", ConfigType.STRING, secret=True, description="The bearer token."),
    ConfigField(
        "password", ConfigType.STRING, secret=True, description="The password for basic auth."
    ),
    ConfigField(
        "page_size",
        ConfigType.INTEGER,
        default=100,
        description="Resources asked for per page (count); a provider may return fewer.",
    ),
    TIMEOUT_FIELD,
)


def _check(config: Mapping[str, Any]) -> list[FieldError]:
    """Checks beyond the field spec; ``config`` is normalized and well-typed."""
    errors: list[FieldError] = []
    url = config.get("base_url", "")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        errors.append(FieldError("config.base_url", "must be an http:// or https:// URL"))
    elif parts.username is not None or parts.password is not None:
        errors.append(
            FieldError(
                "config.base_url",
                "must not carry credentials: use auth, username and the secrets",
            )
        )
    elif parts.query or parts.fragment:
        errors.append(FieldError("config.base_url", "must not have a query or fragment"))
    resource_type = config.get("resource_type", "User")
    if not resource_type.strip() or "/" in resource_type:
        errors.append(FieldError("config.resource_type", "must be a resource type name"))
    if config.get("auth") == "basic" and not config.get("username"):
        errors.append(FieldError("config.username", "is required when auth is basic"))
    if ":" in config.get("username", ""):
        errors.append(FieldError("config.username", "must not contain ':' (basic auth)"))
    if config.get("page_size", 100) < 1:
        errors.append(FieldError("config.page_size", "must be at least 1"))
    return errors


@frozen
class _Settings:
    base_url: str
    resource_type: str
    auth: str
    username: str | None
    page_size: int
    timeout_seconds: float


def _settings(config: Mapping[str, Any]) -> _Settings:
    normalized, errors = validate_config(TYPE, config, {}, files_root=None)
    if errors:
        raise TargetRejected(
            "invalid scim config: " + "; ".join(f"{e.path} {e.message}" for e in errors)
        )
    return _Settings(
        base_url=normalized["base_url"].rstrip("/"),
        resource_type=normalized["resource_type"],
        auth=normalized["auth"],
        username=normalized.get("username"),
        page_size=normalized["page_size"],
        timeout_seconds=float(normalized["timeout_seconds"]),
    )


# --------------------------------------------------------------------------- the type


class ScimType:
    """The ``scim`` connector type (SPEC §5)."""

    key: str = "scim"
    description: str = (
        "A SCIM 2.0 service provider (RFC 7643/7644) over HTTP: bearer or basic auth, "
        "schema from /Schemas and /ResourceTypes, CRUD with PATCH (or PUT), paging, "
        "incremental sync through meta.lastModified, disable through active."
    )
    config_spec: tuple[ConfigField, ...] = CONFIG_SPEC
    capabilities: frozenset[Capability] = frozenset(Capability)

    def account_object_class(self, config: Mapping[str, Any]) -> str:
        """The configured resource type (``User`` by default)."""
        return str(config.get("resource_type") or "User")

    def can_disable(self, config: Mapping[str, Any]) -> bool:
        """Always: accounts are disabled through ``active``."""
        return True

    def enabled_attribute(self, config: Mapping[str, Any]) -> str | None:
        """``active``."""
        return "active"

    def check_config(self, config: Mapping[str, Any]) -> list[FieldError]:
        """The base URL, basic auth's user name and the page size."""
        return _check(config)

    def open(
        self, config: Mapping[str, Any], secrets: Mapping[str, str], context: OpenContext
    ) -> ScimConnection:
        """Prepare a connection; nothing is sent until the first call.

        Raises:
            TargetRejected: the config is invalid, basic auth lacks its password, or the
                token is not printable ASCII.
        """
        settings = _settings(config)
        token = secrets.get("token") or None
        password = secrets.get("password") or None
        if settings.auth == "basic" and password is None:
            raise TargetRejected("auth basic needs the secret password")
        if token is not None and not all("!" <= c <= "~" for c in token):
            raise TargetRejected("the secret token must be printable ASCII without spaces")
        return ScimConnection(settings, token=token, password=password)

    def __repr__(self) -> str:
        return "ScimType()"


TYPE = ScimType()
"""The registered instance."""


# --------------------------------------------------------------------------- helpers


class _Refused(TargetRejected):
    """A ``TargetRejected`` for an HTTP error status, which it keeps."""

    def __init__(self, detail: str, *, status: int) -> None:
        super().__init__(detail)
        self.status = status


def quote_filter_value(value: Any) -> str:
    """``value`` as a SCIM filter literal (RFC 7644 §3.4.2.2; JSON string escaping).

    Strings are double-quoted with backslash, double quote and control characters
    escaped, so a value can never close the string and add filter syntax of its own.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        value = _format_time(value)
    return json.dumps(str(value), ensure_ascii=False)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    Returns None when the header is absent or unreadable; a date in the past gives 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@frozen(order=True)
class _Position:
    """A point in the change stream: a ``meta.lastModified`` and an id for ties."""

    at: datetime
    id: str

    def token(self) -> str:
        return f"{_format_time(self.at)}|{self.id}"

    @classmethod
    def parse(cls, token: str) -> _Position:
        stamp, sep, uid = token.partition("|")
        at = _parse_time(stamp)
        if at is None or not sep:
            raise TargetRejected("invalid scim change token")
        return cls(at, uid)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def _scalar(value: Any) -> Any:
    """A JSON scalar as an attribute value; a decimal becomes its text."""
    if isinstance(value, float):
        return repr(value)
    return value


def _flatten_into(out: dict[str, Any], name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            if sub is not None and _is_scalar(sub):
                out[f"{name}.{key}"] = _scalar(sub)
        return
    if isinstance(value, list):
        elements = [e for e in value if isinstance(e, Mapping)]
        if elements and len(elements) == len(value):
            if any("value" in e for e in elements):
                ordered = sorted(elements, key=lambda e: e.get("primary") is not True)
                values = [_scalar(e["value"]) for e in ordered if _is_scalar(e.get("value"))]
                if values:
                    out[name] = list(dict.fromkeys(values))
                return
            element = next((e for e in elements if e.get("primary") is True), elements[0])
            for key, sub in element.items():
                if key != "primary" and sub is not None and _is_scalar(sub):
                    out[f"{name}.{key}"] = _scalar(sub)
            return
        values = [_scalar(v) for v in value if _is_scalar(v)]
        if values:
            out[name] = list(dict.fromkeys(values))
        return
    if _is_scalar(value):
        out[name] = _scalar(value)


def flatten(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened attributes of one SCIM resource (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in resource.items():
        if key == "schemas" or value is None:
            continue
        if key == "meta":
            if isinstance(value, Mapping):
                for sub in ("created", "lastModified"):
                    if isinstance(value.get(sub), str):
                        out[f"meta.{sub}"] = value[sub]
            continue
        if key.startswith("urn:") and isinstance(value, Mapping):
            for sub_key, sub_value in value.items():
                if sub_value is not None:
                    _flatten_into(out, f"{key}:{sub_key}", sub_value)
            continue
        _flatten_into(out, key, value)
    return out


def _to_object(resource: Mapping[str, Any]) -> ConnectorObject:
    uid = resource.get("id")
    if not isinstance(uid, str) or not uid:
        raise TargetRejected("the provider returned a resource without an id")
    name = resource.get("userName") or resource.get("displayName") or uid
    return ConnectorObject(uid=uid, name=str(name), attributes=flatten(resource))


# --------------------------------------------------------------------------- resource model


class _Kind(enum.Enum):
    SIMPLE = "simple"
    """A single-valued simple attribute: ``userName``."""
    SUB = "sub"
    """A sub-attribute of a single-valued complex attribute: ``name.givenName``."""
    MULTI = "multi"
    """The ``value`` of each element of a multi-valued complex attribute: ``emails``."""
    MULTI_SIMPLE = "multi_simple"
    """A multi-valued simple attribute."""
    PRIMARY_SUB = "primary_sub"
    """A sub-attribute of the primary element of a multi-valued complex attribute
    without ``value``: ``addresses.locality``."""


@frozen
class _Attr:
    """One flattened attribute and where it lives in a SCIM document."""

    attribute: Attribute
    urn: str | None
    top: str
    sub: str | None
    kind: _Kind
    scim_type: str
    case_exact: bool = False
    has_primary: bool = False

    @property
    def name(self) -> str:
        return self.attribute.name

    @property
    def single(self) -> bool:
        return self.kind in (_Kind.SIMPLE, _Kind.SUB, _Kind.PRIMARY_SUB)

    def same(self, a: Any, b: Any) -> bool:
        if isinstance(a, str) and isinstance(b, str) and not self.case_exact:
            return a.casefold() == b.casefold()
        return bool(a == b)


_MUTABILITY_ORDER = ("readWrite", "writeOnly", "immutable", "readOnly")


def _flags(
    parts: Sequence[Mapping[str, Any]], *, required: bool, multivalued: bool, scim_type: str
) -> Attribute:
    """The SPI attribute of a flattened attribute made of ``parts`` (parent, then child)."""
    mutabilities = [str(p.get("mutability") or "readWrite") for p in parts]
    mutability = max(
        mutabilities,
        key=lambda m: _MUTABILITY_ORDER.index(m) if m in _MUTABILITY_ORDER else 0,
    )
    returned = [str(p.get("returned") or "default") for p in parts]
    readable = mutability != "writeOnly" and "never" not in returned
    return Attribute(
        name="",
        type=_TYPES.get(scim_type.casefold(), AttributeType.STRING),
        multivalued=multivalued,
        required=required,
        readable=readable,
        creatable=mutability != "readOnly",
        updateable=mutability in ("readWrite", "writeOnly"),
        returned_by_default=readable and "request" not in returned,
    )


def _attrs_of(schema: Mapping[str, Any], urn: str | None, required_ok: bool) -> list[_Attr]:
    """The flattened attributes of one schema (``urn`` set for an extension)."""
    prefix = f"{urn}:" if urn else ""
    found: list[_Attr] = []

    def add(attr: _Attr, name: str) -> None:
        found.append(attrs.evolve(attr, attribute=attrs.evolve(attr.attribute, name=name)))

    for raw in schema.get("attributes") or ():
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            continue
        top = raw["name"]
        scim_type = str(raw.get("type") or "string")
        multi = bool(raw.get("multiValued"))
        required = required_ok and bool(raw.get("required"))
        subs = [
            s
            for s in raw.get("subAttributes") or ()
            if isinstance(s, Mapping) and isinstance(s.get("name"), str)
        ]
        if scim_type.casefold() != "complex":
            kind = _Kind.MULTI_SIMPLE if multi else _Kind.SIMPLE
            flags = _flags([raw], required=required, multivalued=multi, scim_type=scim_type)
            attr = _Attr(flags, urn, top, None, kind, scim_type, bool(raw.get("caseExact")))
            add(attr, prefix + top)
            continue
        by_name = {str(s["name"]).casefold(): s for s in subs}
        value = by_name.get("value")
        has_primary = "primary" in by_name
        if multi and value is not None:
            value_type = str(value.get("type") or "string")
            flags = _flags([raw, value], required=required, multivalued=True, scim_type=value_type)
            attr = _Attr(
                flags,
                urn,
                top,
                None,
                _Kind.MULTI,
                value_type,
                bool(value.get("caseExact")),
                has_primary,
            )
            add(attr, prefix + top)
            continue
        for sub in subs:
            if multi and str(sub["name"]).casefold() == "primary":
                continue
            sub_type = str(sub.get("type") or "string")
            flags = _flags(
                [raw, sub],
                required=required and bool(sub.get("required")),
                multivalued=False,
                scim_type=sub_type,
            )
            kind = _Kind.PRIMARY_SUB if multi else _Kind.SUB
            attr = _Attr(
                flags,
                urn,
                top,
                sub["name"],
                kind,
                sub_type,
                bool(sub.get("caseExact")),
                has_primary,
            )
            add(attr, f"{prefix}{top}.{sub['name']}")
    return found


def _common_attrs() -> list[_Attr]:
    """RFC 7643 §3.1 attributes that ``/Schemas`` does not list."""

    def attr(name: str, top: str, sub: str | None, kind: _Kind, raw: dict[str, Any]) -> _Attr:
        scim_type = raw["type"]
        flags = _flags([raw], required=False, multivalued=False, scim_type=scim_type)
        named = attrs.evolve(flags, name=name)
        return _Attr(named, None, top, sub, kind, scim_type, bool(raw.get("caseExact")))

    read_only = {"mutability": "readOnly", "returned": "default"}
    return [
        attr(
            "id",
            "id",
            None,
            _Kind.SIMPLE,
            {"type": "string", "mutability": "readOnly", "returned": "always", "caseExact": True},
        ),
        attr("externalId", "externalId", None, _Kind.SIMPLE, {"type": "string", "caseExact": True}),
        attr("meta.created", "meta", "created", _Kind.SUB, {"type": "dateTime", **read_only}),
        attr(
            "meta.lastModified",
            "meta",
            "lastModified",
            _Kind.SUB,
            {"type": "dateTime", **read_only},
        ),
    ]


@frozen
class _ResourceType:
    name: str
    endpoint: str
    core: str
    extensions: tuple[tuple[str, bool], ...]


@frozen
class _Model:
    """The resolved resource type with its flattened attributes."""

    resource_type: _ResourceType
    attrs: tuple[_Attr, ...]
    by_fold: Mapping[str, _Attr] = field(repr=False)

    @classmethod
    def of(cls, resource_type: _ResourceType, items: Sequence[_Attr]) -> _Model:
        by_fold: dict[str, _Attr] = {}
        for attr in items:
            by_fold.setdefault(attr.name.casefold(), attr)
        return cls(resource_type, tuple(by_fold.values()), by_fold)

    @property
    def name_attribute(self) -> str:
        for candidate in ("userName", "displayName"):
            attr = self.by_fold.get(candidate.casefold())
            if attr is not None:
                return attr.name
        return "id"

    def lookup(self, name: str) -> _Attr:
        attr = self.by_fold.get(name.casefold())
        if attr is None:
            raise TargetRejected(
                f"unknown attribute {name!r}: the {self.resource_type.name} schema has no such "
                "attribute"
            )
        return attr


# --------------------------------------------------------------------------- writing


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [v for v in value if v is not None]
    return [value]


def _to_scim(attr: _Attr, value: Any) -> Any:
    """``value`` as the JSON value of ``attr``'s SCIM type."""
    kind = attr.scim_type.casefold()

    def reject(expected: str) -> NoReturn:
        raise TargetRejected(f"attribute {attr.name!r} must be {expected}")

    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        reject("a boolean")
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        reject("an integer")
    if kind == "decimal":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                reject("a number")
            if math.isfinite(number):
                return int(number) if number.is_integer() and "." not in value else number
        reject("a number")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            reject("an aware datetime")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    reject("text")


def _element(attr: _Attr, value: Any, primary: bool) -> dict[str, Any]:
    element: dict[str, Any] = {"value": value}
    if primary and attr.has_primary:
        element["primary"] = True
    return element


def _elements(attr: _Attr, values: Sequence[Any], *, first_primary: bool) -> list[dict[str, Any]]:
    return [_element(attr, v, first_primary and i == 0) for i, v in enumerate(values)]


def _dedupe(attr: _Attr, values: Sequence[Any]) -> list[Any]:
    kept: list[Any] = []
    for value in values:
        if not any(attr.same(value, k) for k in kept):
            kept.append(value)
    return kept


def build_document(model: _Model, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The nested SCIM document of a new resource from flattened ``attributes``."""
    doc: dict[str, Any] = {"schemas": [model.resource_type.core]}
    for name, raw in attributes.items():
        attr = model.lookup(name)
        values = [_to_scim(attr, v) for v in _values(raw)]
        if not values:
            continue
        if not attr.attribute.creatable:
            raise TargetRejected(f"attribute {attr.name!r} is read-only")
        if attr.single and len(values) > 1:
            raise TargetRejected(f"attribute {attr.name!r} is single-valued")
        container: dict[str, Any] = doc if attr.urn is None else doc.setdefault(attr.urn, {})
        if attr.kind is _Kind.SIMPLE:
            container[attr.top] = values[0]
        elif attr.kind is _Kind.SUB:
            container.setdefault(attr.top, {})[attr.sub] = values[0]
        elif attr.kind is _Kind.MULTI:
            container[attr.top] = _elements(attr, _dedupe(attr, values), first_primary=True)
        elif attr.kind is _Kind.MULTI_SIMPLE:
            container[attr.top] = _dedupe(attr, values)
        else:
            elements = container.setdefault(attr.top, [{"primary": True}])
            elements[0][attr.sub] = values[0]
    doc["schemas"].extend(urn for urn, _ in model.resource_type.extensions if urn in doc)
    return doc


_NO_MATCH = object()


@frozen
class _Op:
    """One PATCH operation on the paths this type writes; also applied locally for PUT."""

    op: str
    urn: str | None
    top: str
    sub: str | None = None
    value: Any = None
    match: Any = _NO_MATCH

    def path(self) -> str:
        path = (f"{self.urn}:" if self.urn else "") + self.top
        if self.match is not _NO_MATCH:
            path += f"[value eq {quote_filter_value(self.match)}]"
        if self.sub:
            path += f".{self.sub}"
        return path

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"op": self.op, "path": self.path()}
        if self.op != "remove":
            rendered["value"] = self.value
        return rendered

    def apply(self, doc: dict[str, Any], same: Callable[[Any, Any], bool]) -> None:
        """Apply this operation to a resource document, in place."""
        if self.urn is None:
            container = doc
        elif self.op == "remove":
            if not isinstance(doc.get(self.urn), dict):
                return
            container = doc[self.urn]
        else:
            container = doc.setdefault(self.urn, {})
        if self.op == "remove":
            self._remove(container, same)
        elif self.sub is not None:
            current = container.get(self.top)
            if not isinstance(current, dict):
                current = container[self.top] = {}
            current[self.sub] = copy.deepcopy(self.value)
        elif self.op == "add" and isinstance(self.value, list):
            current = container.get(self.top)
            container[self.top] = (current if isinstance(current, list) else []) + copy.deepcopy(
                self.value
            )
        else:
            container[self.top] = copy.deepcopy(self.value)
        if self.urn is not None and not doc.get(self.urn):
            doc.pop(self.urn, None)

    def _remove(self, container: dict[str, Any], same: Callable[[Any, Any], bool]) -> None:
        current = container.get(self.top)
        if self.match is not _NO_MATCH:
            if isinstance(current, list):
                kept = [
                    e
                    for e in current
                    if not (isinstance(e, Mapping) and same(e.get("value"), self.match))
                ]
                if kept:
                    container[self.top] = kept
                else:
                    container.pop(self.top, None)
        elif self.sub is not None:
            if isinstance(current, dict):
                current.pop(self.sub, None)
                if not current:
                    container.pop(self.top, None)
        else:
            container.pop(self.top, None)


def _needs_current(attr: _Attr, delta: AttributeDelta) -> bool:
    if attr.kind is _Kind.PRIMARY_SUB:
        return True
    if delta.op is DeltaOp.REPLACE:
        return False
    if attr.single:
        return delta.op is DeltaOp.REMOVE and bool(delta.values)
    return delta.op is DeltaOp.ADD or bool(delta.values)


def _current_values(attr: _Attr, doc: Mapping[str, Any] | None) -> list[Any]:
    if doc is None:
        return []
    wanted = attr.name.casefold()
    flat = flatten(doc)
    return _values(next((v for k, v in flat.items() if k.casefold() == wanted), None))


def _raw_elements(attr: _Attr, doc: Mapping[str, Any] | None) -> list[Any]:
    container = doc if attr.urn is None or doc is None else doc.get(attr.urn)
    if not isinstance(container, Mapping):
        return []
    current = container.get(attr.top)
    return list(current) if isinstance(current, list) else []


def plan_update(
    model: _Model, deltas: Sequence[AttributeDelta], current: dict[str, Any] | None
) -> list[_Op]:
    """The operations that apply ``deltas``; ``current`` (a working copy of the resource,
    updated in place) is needed when ``_needs_current`` says so for any delta."""
    ops: list[_Op] = []

    def emit(op: _Op, attr: _Attr) -> None:
        ops.append(op)
        if current is not None:
            op.apply(current, attr.same)

    for delta in deltas:
        attr = model.lookup(delta.attribute)
        if not attr.attribute.updateable:
            raise TargetRejected(f"attribute {attr.name!r} cannot be updated")
        values = [_to_scim(attr, v) for v in delta.values if v is not None]
        if attr.single and len(values) > 1:
            raise TargetRejected(f"attribute {attr.name!r} is single-valued")
        if attr.kind is _Kind.PRIMARY_SUB:
            _plan_primary_sub(attr, delta, values, current, emit)
        elif attr.single:
            if delta.op is not DeltaOp.REMOVE and values:
                emit(_Op("replace", attr.urn, attr.top, attr.sub, values[0]), attr)
            elif delta.op is DeltaOp.REPLACE or (delta.op is DeltaOp.REMOVE and not values):
                emit(_Op("remove", attr.urn, attr.top, attr.sub), attr)
            elif delta.op is DeltaOp.REMOVE:
                have = _current_values(attr, current)
                if have and attr.same(have[0], values[0]):
                    emit(_Op("remove", attr.urn, attr.top, attr.sub), attr)
        else:
            _plan_multi(attr, delta, _dedupe(attr, values), current, emit)
    return ops


def _plan_multi(
    attr: _Attr,
    delta: AttributeDelta,
    values: list[Any],
    current: dict[str, Any] | None,
    emit: Callable[[_Op, _Attr], None],
) -> None:
    multi = attr.kind is _Kind.MULTI
    if delta.op is DeltaOp.REPLACE or (delta.op is DeltaOp.REMOVE and not values):
        if values and delta.op is DeltaOp.REPLACE:
            value: Any = _elements(attr, values, first_primary=True) if multi else values
            emit(_Op("replace", attr.urn, attr.top, value=value), attr)
        else:
            emit(_Op("remove", attr.urn, attr.top), attr)
        return
    have = _current_values(attr, current)
    if delta.op is DeltaOp.ADD:
        new = [v for v in values if not any(attr.same(v, h) for h in have)]
        if new:
            value = _elements(attr, new, first_primary=not have) if multi else new
            emit(_Op("add", attr.urn, attr.top, value=value), attr)
        return
    present = [h for h in have if any(attr.same(v, h) for v in values)]
    if not present:
        return
    if multi:
        for stored in present:
            emit(_Op("remove", attr.urn, attr.top, match=stored), attr)
        return
    kept = [h for h in have if h not in present]
    if kept:
        emit(_Op("replace", attr.urn, attr.top, value=kept), attr)
    else:
        emit(_Op("remove", attr.urn, attr.top), attr)


def _plan_primary_sub(
    attr: _Attr,
    delta: AttributeDelta,
    values: list[Any],
    current: dict[str, Any] | None,
    emit: Callable[[_Op, _Attr], None],
) -> None:
    elements = [dict(e) if isinstance(e, Mapping) else e for e in _raw_elements(attr, current)]
    index = next(
        (i for i, e in enumerate(elements) if isinstance(e, dict) and e.get("primary") is True),
        0 if elements and isinstance(elements[0], dict) else None,
    )
    element: dict[str, Any] = elements[index] if index is not None else {}
    have = element.get(attr.sub or "")
    if delta.op is not DeltaOp.REMOVE and values:
        element[attr.sub or ""] = values[0]
    elif delta.op is DeltaOp.ADD or (values and not attr.same(have, values[0])):
        return  # nothing to add, or a remove of a value that is not there
    else:
        element.pop(attr.sub or "", None)
    if index is None:
        if attr.has_primary:
            element["primary"] = True
        elements.append(element)
    elements = [e for e in elements if not isinstance(e, dict) or set(e) - {"primary"}]
    if elements:
        emit(_Op("replace", attr.urn, attr.top, value=elements), attr)
    else:
        emit(_Op("remove", attr.urn, attr.top), attr)


# --------------------------------------------------------------------------- connection


@frozen
class ProviderFeatures:
    """What the provider's ``/ServiceProviderConfig`` says it supports."""

    patch: bool = True
    filter: bool = True
    sort: bool = False
    max_results: int | None = None


class ScimConnection:
    """An open ``scim`` connector: one ``httpx.Client``, closed when the block ends."""

    def __init__(
        self, settings: _Settings, *, token: str | None = None, password: str | None = None
    ) -> None:
        self._settings = settings
        self._token = token
        self._password = password
        self._client: httpx.Client | None = None
        self._features: ProviderFeatures | None = None
        self._resource_type: _ResourceType | None = None
        self._model: _Model | None = None

    def __repr__(self) -> str:
        return (
            f"ScimConnection(base_url={self._settings.base_url!r}, "
            f"resource_type={self._settings.resource_type!r})"
        )

    def __enter__(self) -> ScimConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client (idempotent)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ HTTP

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            headers = {"Accept": f"{SCIM_JSON}, application/json", "User-Agent": "xavyo-connectors"}
            auth: httpx.BasicAuth | None = None
            if self._settings.auth == "basic":
                auth = httpx.BasicAuth(self._settings.username or "", self._password or "")
            elif self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._client = httpx.Client(
                base_url=self._settings.base_url + "/",
                headers=headers,
                auth=auth,
                timeout=self._settings.timeout_seconds,
                follow_redirects=False,
            )
        return self._client

    def _scrub(self, text: str) -> str:
        """Mask every form a credential can take in a provider's answer: the token, the
        password, and the base64 ``user:password`` of basic auth (a hostile or careless
        provider may echo the request's headers)."""
        hidden = [s for s in (self._token, self._password) if s]
        if self._password:
            pair = f"{self._settings.username or ''}:{self._password}".encode()
            hidden.append(base64.b64encode(pair).decode("ascii"))
        for secret in sorted(hidden, key=len, reverse=True):
            text = text.replace(secret, "***")
        text = re.sub(r"(?i)(authorization:\s*(?:basic|bearer)\s+)\S+", r"\1***", text)
        return text[:500]

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        not_found: str | None = None,
    ) -> httpx.Response:
        """Send one request; map transport failures and error statuses to our errors."""
        import httpx

        client = self._http()
        url = path.lstrip("/")
        content = None if body is None else json.dumps(body).encode()
        headers = None if body is None else {"Content-Type": SCIM_JSON}
        where = f"{method} {path}"
        try:
            response = client.request(method, url, params=params, content=content, headers=headers)
        except httpx.TimeoutException:
            raise TargetUnavailable(
                f"the SCIM provider did not answer {where} within "
                f"{self._settings.timeout_seconds:g} s"
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise TargetRejected(f"invalid SCIM URL: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise TargetUnavailable(
                f"cannot reach the SCIM provider at {self._settings.base_url}: {type(exc).__name__}"
            ) from None
        except httpx.HTTPError as exc:
            raise TargetUnavailable(f"{where} failed: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 404 and not_found is not None:
            raise AccountNotFound(not_found)
        self._fail(response, where)

    def _fail(self, response: httpx.Response, where: str) -> NoReturn:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status in (401, 403):
            raise _Refused(
                f"authentication failed: the SCIM provider answered {where} with {status}",
                status=status,
            )
        reason = self._error_text(response)
        message = self._scrub(f"the SCIM provider answered {where} with {status}{reason}")
        if status in (408, 429) or (status >= 500 and status not in (501, 505)):
            raise TargetUnavailable(message, retry_after=retry_after)
        if 300 <= status < 400:
            message = self._scrub(f"the SCIM provider redirected {where} ({status})")
        raise _Refused(message, status=status)

    @staticmethod
    def _error_text(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        if not isinstance(body, Mapping):
            return ""
        parts = [str(body[k]) for k in ("scimType", "detail") if body.get(k)]
        return (": " + ": ".join(parts)) if parts else ""

    def _json(self, response: httpx.Response, where: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise TargetRejected(
                f"the SCIM provider answered {where} with a non-JSON body"
            ) from None

    def _document(self, response: httpx.Response, where: str) -> dict[str, Any]:
        body = self._json(response, where)
        if not isinstance(body, dict):
            raise TargetRejected(f"the SCIM provider answered {where} with a non-object body")
        return body

    def _get_document(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._document(self._request("GET", path, params=params), f"GET {path}")

    def _list(self, path: str) -> list[Mapping[str, Any]]:
        """The items of an unpaged list endpoint (``/Schemas``, ``/ResourceTypes``)."""
        body = self._json(self._request("GET", path), f"GET {path}")
        items = body.get("Resources") if isinstance(body, Mapping) else body
        if not isinstance(items, list):
            raise TargetRejected(f"the SCIM provider answered GET {path} with no list")
        return [i for i in items if isinstance(i, Mapping)]

    def _pages(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[tuple[int | None, list[dict[str, Any]]]]:
        """``(totalResults, resources)`` of every page, with ``startIndex``/``count``."""
        start = 1
        previous: set[str] = set()
        while True:
            query = {**(params or {}), "startIndex": start, "count": self._settings.page_size}
            body = self._get_document(path, query)
            resources = body.get("Resources") or []
            if not isinstance(resources, list):
                raise TargetRejected(f"the SCIM provider answered GET {path} with no list")
            resources = [r for r in resources if isinstance(r, dict)]
            total = body.get("totalResults")
            total = total if isinstance(total, int) and not isinstance(total, bool) else None
            ids = {r["id"] for r in resources if isinstance(r.get("id"), str)}
            if ids and ids <= previous:
                raise TargetRejected(
                    f"the SCIM provider ignores startIndex on GET {path}: a page repeats"
                )
            yield total, resources
            if not resources:
                return
            start += len(resources)
            if total is not None and start > total:
                return
            previous = ids

    # ------------------------------------------------------------------ discovery

    def features(self) -> ProviderFeatures:
        """What the provider supports, from ``/ServiceProviderConfig`` (read once).

        A provider without that endpoint (404/405/501) is assumed to do PATCH and filtering.
        """
        if self._features is None:
            try:
                body = self._get_document("/ServiceProviderConfig")
            except _Refused as exc:
                if exc.status not in _ABSENT:
                    raise
                self._features = ProviderFeatures()
            else:
                self._features = self._parse_features(body)
        return self._features

    @staticmethod
    def _parse_features(body: Mapping[str, Any]) -> ProviderFeatures:
        def supported(key: str, default: bool) -> bool:
            section = body.get(key)
            if isinstance(section, Mapping) and isinstance(section.get("supported"), bool):
                return bool(section["supported"])
            return default

        section = body.get("filter")
        max_results = section.get("maxResults") if isinstance(section, Mapping) else None
        return ProviderFeatures(
            patch=supported("patch", True),
            filter=supported("filter", True),
            sort=supported("sort", False),
            max_results=max_results if isinstance(max_results, int) else None,
        )

    @property
    def supports_changes(self) -> bool:
        """Whether incremental changes are available: the provider filters."""
        return self.features().filter

    def _resource(self) -> _ResourceType:
        if self._resource_type is None:
            self._resource_type = self._find_resource_type()
        return self._resource_type

    def _find_resource_type(self) -> _ResourceType:
        wanted = self._settings.resource_type
        try:
            items = self._list("/ResourceTypes")
        except _Refused as exc:
            default = _DEFAULT_ENDPOINTS.get(wanted.casefold())
            if default is None or exc.status not in _ABSENT:
                raise
            return _ResourceType(*default)
        for item in items:
            names = {str(item.get("name", "")).casefold(), str(item.get("id", "")).casefold()}
            if wanted.casefold() not in names:
                continue
            endpoint = item.get("endpoint")
            core = item.get("schema")
            if not isinstance(endpoint, str) or not isinstance(core, str):
                raise TargetRejected(f"the resource type {wanted!r} has no endpoint or schema")
            if not endpoint.startswith("/") or "//" in endpoint or ".." in endpoint:
                raise TargetRejected(
                    f"the resource type {wanted!r} has an endpoint outside the base URL"
                )
            extensions = tuple(
                (str(e["schema"]), bool(e.get("required")))
                for e in item.get("schemaExtensions") or ()
                if isinstance(e, Mapping) and isinstance(e.get("schema"), str)
            )
            return _ResourceType(str(item.get("name") or wanted), endpoint, core, extensions)
        known = ", ".join(sorted(str(i.get("name")) for i in items)) or "none"
        raise TargetRejected(f"the provider has no resource type {wanted!r} (it has: {known})")

    def _resolved(self) -> _Model:
        if self._model is None:
            resource_type = self._resource()
            schemas = {str(s.get("id", "")): s for s in self._list("/Schemas")}
            attrs: list[_Attr] = []
            for urn, required in ((resource_type.core, True), *resource_type.extensions):
                schema = schemas.get(urn)
                if schema is None:
                    schema = self._get_document(f"/Schemas/{quote(urn, safe=':')}")
                attrs.extend(
                    _attrs_of(schema, None if urn == resource_type.core else urn, required)
                )
            named = {a.name.casefold() for a in attrs}
            attrs.extend(a for a in _common_attrs() if a.name.casefold() not in named)
            self._model = _Model.of(resource_type, attrs)
        return self._model

    def _check_class(self, object_class: str) -> str:
        """The endpoint of ``object_class``, which must be the configured resource type."""
        if object_class.casefold() != self._settings.resource_type.casefold():
            raise TargetRejected(
                f"unknown object class {object_class!r}: this connector manages "
                f"{self._settings.resource_type}"
            )
        return self._resource().endpoint

    def _resource_path(self, object_class: str, uid: str) -> str:
        endpoint = self._check_class(object_class)
        if not uid or uid in (".", ".."):
            raise AccountNotFound(f"no {object_class} with id {uid!r}")
        return f"{endpoint}/{quote(uid, safe='')}"

    # ------------------------------------------------------------------ the SPI

    def test(self) -> str:
        """Read ``/ServiceProviderConfig``, then one resource (which needs credentials).

        Raises:
            TargetUnavailable: the provider cannot be reached or is failing.
            TargetRejected: the credentials are refused, or the provider misbehaves.
        """
        self._features = self._parse_features(self._get_document("/ServiceProviderConfig"))
        endpoint = self._resource().endpoint
        body = self._get_document(endpoint, {"startIndex": 1, "count": 1, "attributes": "id"})
        total = body.get("totalResults")
        features = self._features
        return (
            f"ok: {total if isinstance(total, int) else 'some'} {self._resource().name} "
            f"resources; PATCH {'supported' if features.patch else 'unsupported (PUT)'}, "
            f"filtering {'supported' if features.filter else 'unsupported'}"
        )

    def schema(self) -> Schema:
        """The configured resource type's attributes from ``/ResourceTypes`` and ``/Schemas``."""
        model = self._resolved()
        object_class = ObjectClass(
            name=model.resource_type.name,
            uid_attribute="id",
            name_attribute=model.name_attribute,
            attributes=tuple(a.attribute for a in model.attrs),
        )
        return Schema(object_classes=(object_class,), discovered_at=datetime.now(UTC))

    def search(self, object_class: str, page_size: int) -> Iterator[ConnectorObject]:
        """Every resource, page by page; requests are sent as the stream is consumed.

        The HTTP page size is the config's ``page_size``; ``page_size`` here only has to
        be at least 1.
        """
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        endpoint = self._check_class(object_class)
        return self._stream(endpoint)

    def _stream(self, endpoint: str) -> Iterator[ConnectorObject]:
        for _total, resources in self._pages(endpoint):
            for resource in resources:
                yield _to_object(resource)

    def _read(self, path: str, object_class: str, uid: str) -> dict[str, Any]:
        response = self._request("GET", path, not_found=f"no {object_class} with id {uid!r}")
        return self._document(response, f"GET {path}")

    def get(self, object_class: str, uid: str) -> ConnectorObject:
        """Raises ``AccountNotFound``."""
        path = self._resource_path(object_class, uid)
        return _to_object(self._read(path, object_class, uid))

    def find_by_name(self, object_class: str, name: str) -> ConnectorObject | None:
        """The resource whose name attribute (``userName``) equals ``name``, if any.

        The value is a quoted, escaped filter literal: it cannot change the filter.
        Returns None when the provider does not filter.
        """
        endpoint = self._check_class(object_class)
        if not self.features().filter:
            return None
        attribute = self._resolved().name_attribute
        query = {"filter": f"{attribute} eq {quote_filter_value(name)}", "count": 2}
        body = self._get_document(endpoint, query)
        resources = body.get("Resources") or []
        for resource in resources if isinstance(resources, list) else ():
            if isinstance(resource, Mapping):
                return _to_object(resource)
        return None

    def create(self, object_class: str, attributes: Mapping[str, Any]) -> ConnectorObject:
        """POST a new resource built from flattened ``attributes``.

        Raises:
            AccountExists: the provider answered 409 (with the existing id when found).
            TargetRejected: an unknown or read-only attribute, or a value the provider
                refuses.
        """
        endpoint = self._check_class(object_class)
        model = self._resolved()
        doc = build_document(model, attributes)
        try:
            response = self._request("POST", endpoint, body=doc)
        except _Refused as exc:
            if exc.status != 409:
                raise
            name = doc.get(model.name_attribute)
            existing = self.find_by_name(object_class, name) if isinstance(name, str) else None
            raise AccountExists(
                f"a {model.resource_type.name} with {model.name_attribute} {name!r} exists",
                uid=existing.uid if existing else None,
            ) from None
        return _to_object(self._document(response, f"POST {endpoint}"))

    def update(
        self, object_class: str, uid: str, deltas: Sequence[AttributeDelta]
    ) -> ConnectorObject:
        """PATCH (or, without PATCH, PUT) the deltas onto one resource.

        Raises:
            AccountNotFound: no resource has this id.
            TargetRejected: an unknown, read-only or immutable attribute, or a value the
                provider refuses.
        """
        path = self._resource_path(object_class, uid)
        if not deltas:
            return self.get(object_class, uid)
        model = self._resolved()
        use_patch = self.features().patch
        needs = not use_patch or any(_needs_current(model.lookup(d.attribute), d) for d in deltas)
        current = self._read(path, object_class, uid) if needs else None
        working = copy.deepcopy(current) if current is not None else None
        ops = plan_update(model, deltas, working)
        missing = f"no {object_class} with id {uid!r}"
        if use_patch:
            if not ops:
                return _to_object(current) if current is not None else self.get(object_class, uid)
            body = {"schemas": [PATCH_OP], "Operations": [op.render() for op in ops]}
            response = self._request("PATCH", path, body=body, not_found=missing)
        else:
            assert current is not None and working is not None
            if not ops:
                return _to_object(current)
            working.pop("meta", None)
            present = [urn for urn, _ in model.resource_type.extensions if urn in working]
            working["schemas"] = [model.resource_type.core, *present]
            response = self._request("PUT", path, body=working, not_found=missing)
        if response.status_code == 204 or not response.content:
            return self.get(object_class, uid)
        body_doc = self._document(response, f"{'PATCH' if use_patch else 'PUT'} {path}")
        return _to_object(body_doc) if "id" in body_doc else self.get(object_class, uid)

    def set_enabled(self, object_class: str, uid: str, enabled: bool) -> ConnectorObject:
        """Enable or disable one resource through ``active``.

        Raises:
            AccountNotFound: no resource has this id.
        """
        return self.update(
            object_class, uid, [AttributeDelta("active", DeltaOp.REPLACE, (enabled,))]
        )

    def delete(self, object_class: str, uid: str) -> None:
        """Raises ``AccountNotFound``."""
        path = self._resource_path(object_class, uid)
        self._request("DELETE", path, not_found=f"no {object_class} with id {uid!r}")

    # ------------------------------------------------------------------ changes

    def latest_token(self, object_class: str) -> str | None:
        """The position after the most recently modified resource (the epoch if none)."""
        endpoint = self._check_class(object_class)
        newest: _Position | None = None
        if self.features().sort:
            body = self._get_document(
                endpoint,
                {
                    "sortBy": "meta.lastModified",
                    "sortOrder": "descending",
                    "startIndex": 1,
                    "count": 1,
                    "attributes": "meta.lastModified",
                },
            )
            resources = body.get("Resources") or []
            for resource in resources if isinstance(resources, list) else ():
                newest = self._position(resource)
        else:
            for _total, resources in self._pages(endpoint, {"attributes": "meta.lastModified"}):
                for resource in resources:
                    position = self._position(resource)
                    if position is not None and (newest is None or position > newest):
                        newest = position
        return (newest or _Position(_EPOCH, "")).token()

    @staticmethod
    def _position(resource: Any) -> _Position | None:
        if not isinstance(resource, Mapping) or not isinstance(resource.get("id"), str):
            return None
        meta = resource.get("meta")
        at = _parse_time(meta.get("lastModified")) if isinstance(meta, Mapping) else None
        return _Position(at, resource["id"]) if at is not None else None

    def changes(self, object_class: str, token: str | None) -> Iterator[Change]:
        """Resources modified after ``token``, oldest first, each with its position.

        With no token, every resource. Deletes are not reported (SCIM does not show them).

        Raises:
            TargetRejected: the provider does not filter, or the token is not ours.
        """
        endpoint = self._check_class(object_class)
        after = _Position.parse(token) if token else None
        if after is not None and not self.features().filter:
            raise TargetRejected("the SCIM provider does not filter: no incremental changes")
        params: dict[str, Any] = {}
        if after is not None:
            since = quote_filter_value(_format_time(after.at - CHANGE_OVERLAP))
            params["filter"] = f"meta.lastModified gt {since}"
        return self._changes(endpoint, params, after)

    def _changes(
        self, endpoint: str, params: Mapping[str, Any], after: _Position | None
    ) -> Iterator[Change]:
        found: dict[str, tuple[_Position | None, dict[str, Any]]] = {}
        for _attempt in range(_SCAN_ATTEMPTS):
            found = {}
            totals: set[int] = set()
            for total, resources in self._pages(endpoint, params):
                if total is not None:
                    totals.add(total)
                for resource in resources:
                    uid = resource.get("id")
                    if not isinstance(uid, str):
                        continue
                    position = self._position(resource)
                    if after is not None and (position is None or position <= after):
                        continue
                    found[uid] = (position, resource)
            if len(totals) <= 1:
                break

        def order(item: tuple[str, tuple[_Position | None, dict[str, Any]]]) -> Any:
            uid, (position, _resource) = item
            return (position is not None, position or _Position(_EPOCH, uid))

        for uid, (position, resource) in sorted(found.items(), key=order):
            token = position.token() if position is not None else None
            yield Change(ChangeKind.UPSERT, uid, _to_object(resource), token)


if TYPE_CHECKING:  # the type and its connection satisfy the SPI Protocols

    def _conforms(
        ctype: ScimType, connection: ScimConnection
    ) -> tuple[ConnectorType, IncrementalConnection]:
        return ctype, connection
