"""Validating a connector's ``config`` and ``secrets`` against its type's spec (SPEC §3.1).

``validate_config`` checks the whole of both documents and reports every problem at once,
each as a ``FieldError`` with its path (``config.path``, ``secrets.password``): unknown
keys, missing required keys, wrong types, values outside ``choices``, a secret given under
``config`` or a plain setting under ``secrets``. ``timeout_seconds`` is accepted for every
type. Messages never contain the offending value.

Files named in a config (fields with ``ConfigField.path``) must stay inside the files root
(SPEC §3.8): ``resolve_in_root`` rejects ``..``, absolute paths and symlinks that lead out.

A type may check more than its fields can say (a delimiter of one character, column types)
by having a ``check_config(config)`` method (``ConfigChecker``); it is called with the
normalized config once every field is well-typed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Protocol, runtime_checkable

from xavyo_connectors_core.errors import FieldError, InvalidInput
from xavyo_connectors_core.spi import TIMEOUT_FIELD, ConfigField, ConfigType, ConnectorType

__all__ = [
    "ConfigChecker",
    "FileNamer",
    "apply_defaults",
    "config_fields",
    "require_valid_config",
    "resolve_in_root",
    "validate_config",
]


@runtime_checkable
class ConfigChecker(Protocol):
    """A connector type that checks its normalized config beyond the field spec.

    ``check_config`` returns field errors with full paths (``config.columns.age``).
    """

    def check_config(self, config: Mapping[str, Any]) -> Iterable[FieldError]: ...


@runtime_checkable
class FileNamer(Protocol):
    """A connector type whose config names files where no field can be marked ``path``
    (the ``sqlite:///relative.db`` form of a URL).

    ``config_files`` returns (field path, relative file path) pairs; each must resolve
    inside the files root, exactly like a ``path`` field.
    """

    def config_files(self, config: Mapping[str, Any]) -> Iterable[tuple[str, str]]: ...


def config_fields(ctype: ConnectorType) -> tuple[ConfigField, ...]:
    """The type's config spec, with ``timeout_seconds`` added when the type omits it."""
    fields = tuple(ctype.config_spec)
    if all(f.name != TIMEOUT_FIELD.name for f in fields):
        fields = (*fields, TIMEOUT_FIELD)
    return fields


_TYPE_MESSAGES = {
    ConfigType.STRING: "must be a string",
    ConfigType.INTEGER: "must be an integer",
    ConfigType.NUMBER: "must be a number",
    ConfigType.BOOLEAN: "must be a boolean",
    ConfigType.OBJECT: "must be an object",
}


def _type_ok(kind: ConfigType, value: Any) -> bool:
    if kind is ConfigType.STRING:
        return isinstance(value, str)
    if kind is ConfigType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is ConfigType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return math.isfinite(value)
    if kind is ConfigType.BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)


def _check_value(spec: ConfigField, value: Any, path: str) -> FieldError | None:
    if not _type_ok(spec.type, value):
        return FieldError(path, _TYPE_MESSAGES[spec.type])
    if spec.choices is not None and value not in spec.choices:
        return FieldError(path, "must be one of: " + ", ".join(spec.choices))
    if spec.type is ConfigType.STRING and spec.required and not value.strip():
        return FieldError(path, "must not be empty")
    if spec.name == TIMEOUT_FIELD.name and value <= 0:
        return FieldError(path, "must be greater than 0")
    return None


def apply_defaults(ctype: ConnectorType, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with every absent (or null) non-secret key that has a default filled in."""
    result = {k: v for k, v in config.items() if v is not None}
    for spec in config_fields(ctype):
        if not spec.secret and spec.name not in result and spec.default is not None:
            result[spec.name] = copy.deepcopy(spec.default)
    return result


def validate_config(
    ctype: ConnectorType,
    config: Mapping[str, Any],
    secrets: Mapping[str, Any],
    *,
    files_root: Path | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check ``config`` and the *names* (and text type) of ``secrets`` against ``ctype``.

    Args:
        ctype: the connector type.
        config: the connector's config document.
        secrets: name -> plaintext value of every secret the connector will have (values
            are only checked to be strings; an empty string stands for a kept secret).
        files_root: when given, every ``path`` field must resolve inside it.

    Returns:
        The normalized config (only known non-secret keys, null values dropped, defaults
        filled in) and the list of every error found, empty when both are valid.
    """
    errors: list[FieldError] = []
    if not isinstance(config, Mapping):
        errors.append(FieldError("config", "must be an object"))
        config = {}
    if not isinstance(secrets, Mapping):
        errors.append(FieldError("secrets", "must be an object"))
        secrets = {}
    fields = {f.name: f for f in config_fields(ctype)}

    for key, value in config.items():
        path = f"config.{key}"
        spec = fields.get(key) if isinstance(key, str) else None
        if spec is None:
            errors.append(FieldError(path, "is not a known field"))
        elif spec.secret:
            errors.append(FieldError(path, "is a secret: set it under secrets"))
        elif value is not None:
            error = _check_value(spec, value, path)
            if error is not None:
                errors.append(error)
            elif spec.path and files_root is not None:
                try:
                    resolve_in_root(files_root, value, field_path=path)
                except InvalidInput as exc:
                    errors.extend(exc.errors)

    for key, value in secrets.items():
        path = f"secrets.{key}"
        spec = fields.get(key) if isinstance(key, str) else None
        if spec is None:
            errors.append(FieldError(path, "is not a known secret"))
        elif not spec.secret:
            errors.append(FieldError(path, "is not a secret: set it under config"))
        elif not isinstance(value, str):
            errors.append(FieldError(path, "must be a string"))

    for spec in fields.values():
        if not spec.required:
            continue
        if spec.secret and spec.name not in secrets:
            errors.append(FieldError(f"secrets.{spec.name}", "is required"))
        elif not spec.secret and config.get(spec.name) is None:
            errors.append(FieldError(f"config.{spec.name}", "is required"))

    known = {k: v for k, v in config.items() if k in fields and not fields[k].secret}
    normalized = apply_defaults(ctype, known)
    if not errors and isinstance(ctype, ConfigChecker):
        errors.extend(ctype.check_config(normalized))
    if not errors and files_root is not None and isinstance(ctype, FileNamer):
        for field_path, relative in ctype.config_files(normalized):
            try:
                resolve_in_root(files_root, relative, field_path=field_path)
            except InvalidInput as exc:
                errors.extend(exc.errors)
    return normalized, errors


def require_valid_config(
    ctype: ConnectorType,
    config: Mapping[str, Any],
    secrets: Mapping[str, Any],
    *,
    files_root: Path | None = None,
) -> dict[str, Any]:
    """Like ``validate_config``, but raise instead of returning the errors.

    Raises:
        InvalidInput: with every error found.
    """
    normalized, errors = validate_config(ctype, config, secrets, files_root=files_root)
    if errors:
        raise InvalidInput(errors)
    return normalized


def resolve_in_root(files_root: Path, value: str, *, field_path: str = "config.path") -> Path:
    """Resolve ``value`` (a relative path) inside ``files_root``.

    Symlinks are followed; the file itself need not exist.

    Raises:
        InvalidInput: one error at ``field_path`` when the value is empty, absolute,
            contains a ``..`` part, or resolves (through a symlink) outside the root.
    """

    def fail(message: str) -> InvalidInput:
        return InvalidInput([FieldError(field_path, message)])

    if not isinstance(value, str) or not value.strip():
        raise fail("must be a non-empty relative path")
    if "\x00" in value:
        raise fail("must not contain a NUL character")
    posix, windows = PurePosixPath(value), PureWindowsPath(value)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or value.startswith("\\"):
        raise fail("must be a path relative to the files root, not an absolute path")
    if ".." in posix.parts or ".." in windows.parts:
        raise fail("must not contain '..'")
    root = Path(files_root).resolve()
    try:
        candidate = (root / value).resolve()
    except (OSError, RuntimeError):  # symlink loops
        raise fail("cannot be resolved inside the files root") from None
    if candidate == root:
        raise fail("must name a file inside the files root, not the root itself")
    if not candidate.is_relative_to(root):
        raise fail("must stay inside the files root (a symlink leads out of it)")
    return candidate
