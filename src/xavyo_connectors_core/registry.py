"""The connector type registry: built-in types and third-party plug-ins (SPEC §2, §4.4).

``default_registry()`` holds the built-in types (``BUILTIN_TYPES``) and every type
published in the entry-point group ``xavyo_connectors.types``. A plug-in's entry point
resolves to a ``ConnectorType`` instance, or to a zero-argument factory (a class or a
function) returning one::

    [project.entry-points."xavyo_connectors.types"]
    acme = "acme_connectors:AcmeType"

Importing a built-in type's module never imports its driver (psycopg, ldap3, httpx):
drivers are imported when a connection is opened. Nothing here has module-level state;
build a registry where the application is wired (``create_app``, the CLI).
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import logging
import re
from collections.abc import Iterable
from typing import Any

from xavyo_connectors_core.config import config_fields
from xavyo_connectors_core.errors import NotFound
from xavyo_connectors_core.model import Capability
from xavyo_connectors_core.spi import ConnectorType

__all__ = [
    "BUILTIN_TYPES",
    "ENTRY_POINT_GROUP",
    "ConnectorRegistry",
    "builtin_registry",
    "default_registry",
    "describe",
    "load_entry_point_types",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "xavyo_connectors.types"
"""The entry-point group third-party connector types are published in."""

BUILTIN_TYPES: tuple[str, ...] = (
    "xavyo_connectors_core.types.csv:TYPE",
    "xavyo_connectors_core.types.sql:TYPE",
    "xavyo_connectors_core.types.scim:TYPE",
    "xavyo_connectors_core.types.ldap:TYPE",
)
"""``module:attribute`` of every built-in type (an instance or a zero-argument factory)."""

_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_CAPABILITY_ORDER = {c: i for i, c in enumerate(Capability)}


def describe(ctype: ConnectorType) -> dict[str, Any]:
    """The SPEC §4.4 "Connector type" document of ``ctype``.

    ``{"type", "description", "capabilities", "config": [{"name", "type", "required",
    "secret", "default", "description"}]}``; secrets are listed in ``config`` with
    ``secret: true``, and ``timeout_seconds`` is listed for every type.
    """
    return {
        "type": ctype.key,
        "description": ctype.description,
        "capabilities": [
            c.value for c in sorted(ctype.capabilities, key=lambda c: _CAPABILITY_ORDER[c])
        ],
        "config": [
            {
                "name": f.name,
                "type": f.type.value,
                "required": f.required,
                "secret": f.secret,
                "default": None if f.secret else copy.deepcopy(f.default),
                "description": f.description,
            }
            for f in config_fields(ctype)
        ],
    }


def _is_type(obj: object) -> bool:
    return (
        not isinstance(obj, type)
        and isinstance(getattr(obj, "key", None), str)
        and isinstance(getattr(obj, "config_spec", None), tuple)
        and isinstance(getattr(obj, "capabilities", None), frozenset)
        and callable(getattr(obj, "open", None))
        and callable(getattr(obj, "account_object_class", None))
    )


def _as_type(obj: object, origin: str) -> ConnectorType:
    """``obj`` itself when it is a connector type, else what calling it returns."""
    if not _is_type(obj):
        if not callable(obj):
            raise TypeError(f"{origin} is neither a connector type nor a factory of one")
        obj = obj()
    if not _is_type(obj):
        raise TypeError(f"{origin} did not produce a connector type")
    key = obj.key  # type: ignore[attr-defined]
    if not _KEY_RE.fullmatch(key):
        raise ValueError(f"{origin}: type key {key!r} must match {_KEY_RE.pattern}")
    if not all(isinstance(c, Capability) for c in obj.capabilities):  # type: ignore[attr-defined]
        raise TypeError(f"{origin}: capabilities must be Capability members")
    result: ConnectorType = obj  # type: ignore[assignment]
    return result


class ConnectorRegistry:
    """The registered connector types, by key."""

    def __init__(self, types: Iterable[ConnectorType] = ()) -> None:
        self._types: dict[str, ConnectorType] = {}
        for ctype in types:
            self.register(ctype)

    def register(self, ctype: ConnectorType, *, replace: bool = False) -> None:
        """Add a type.

        Raises:
            ValueError: another type has the same key (unless ``replace``), or the key
                is malformed.
        """
        checked = _as_type(ctype, f"connector type {getattr(ctype, 'key', ctype)!r}")
        if checked.key in self._types and not replace and self._types[checked.key] is not checked:
            raise ValueError(f"a connector type {checked.key!r} is already registered")
        self._types[checked.key] = checked

    def get(self, key: str) -> ConnectorType:
        """The type registered under ``key``.

        Raises:
            NotFound: no such type.
        """
        try:
            return self._types[key]
        except (KeyError, TypeError):
            raise NotFound(f"connector type {key!r} is not registered") from None

    def __contains__(self, key: object) -> bool:
        return key in self._types

    def __len__(self) -> int:
        return len(self._types)

    def __repr__(self) -> str:
        return f"ConnectorRegistry({sorted(self._types)!r})"

    def keys(self) -> list[str]:
        """Every registered key, sorted."""
        return sorted(self._types)

    def types(self) -> list[ConnectorType]:
        """Every registered type, sorted by key."""
        return [self._types[k] for k in sorted(self._types)]

    def describe(self, ctype: ConnectorType | str) -> dict[str, Any]:
        """The SPEC §4.4 document of a type (given itself or by key).

        Raises:
            NotFound: a key that is not registered.
        """
        return describe(self.get(ctype) if isinstance(ctype, str) else ctype)

    def describe_all(self) -> list[dict[str, Any]]:
        """The documents of every type, sorted by key (``GET /connector-types``)."""
        return [describe(t) for t in self.types()]


def _load_reference(reference: str) -> object:
    module_name, _, attribute = reference.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def builtin_registry() -> ConnectorRegistry:
    """A registry of the built-in types only."""
    return ConnectorRegistry(_as_type(_load_reference(ref), ref) for ref in BUILTIN_TYPES)


def load_entry_point_types(*, strict: bool = False) -> list[ConnectorType]:
    """The types published in the ``xavyo_connectors.types`` entry-point group.

    A plug-in that fails to load is logged and skipped, or raised with ``strict``.
    """
    found: list[ConnectorType] = []
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry_point.name!r} ({entry_point.value})"
        try:
            found.append(_as_type(entry_point.load(), origin))
        except Exception as exc:
            if strict:
                raise
            log.warning(
                "skipping connector type plug-in %s: %s: %s", origin, type(exc).__name__, exc
            )
    return found


def default_registry(*, strict: bool = False) -> ConnectorRegistry:
    """The built-in types plus every plug-in of the entry-point group.

    A plug-in whose key is already taken (by a built-in or an earlier plug-in) is
    skipped with a warning, or raised with ``strict``: a plug-in cannot silently replace
    a built-in type.
    """
    registry = builtin_registry()
    for ctype in load_entry_point_types(strict=strict):
        if ctype.key in registry:
            if registry.get(ctype.key) is ctype:
                continue
            if strict:
                raise ValueError(f"a connector type {ctype.key!r} is already registered")
            log.warning("skipping connector type plug-in %r: the key is taken", ctype.key)
            continue
        registry.register(ctype)
    return registry
