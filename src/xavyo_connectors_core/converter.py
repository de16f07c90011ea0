"""The one cattrs converter: rows, HTTP bodies and JSON config all go through it.

Built by ``make_converter()`` (the shape of cattrs' ``preconf/json.py``): UUIDs as strings,
datetimes as RFC 3339 UTC with ``Z``, bytes as base64, enums by value, transforms as one
name or a list, and extra keys forbidden. ``structure_input`` turns structuring failures
into ``InvalidInput`` with field paths, never echoing the offending values.
"""

from __future__ import annotations

import base64
import binascii
import enum
import typing
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    is_sequence,
    list_structure_factory,
)
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from xavyo_connectors_core.errors import FieldError, InvalidInput

T = TypeVar("T")

Transform = tuple[str, ...] | None


def format_datetime(value: datetime) -> str:
    """RFC 3339, UTC, with ``Z`` and microseconds when present."""
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    else:
        raise TypeError("must be an RFC 3339 timestamp string")
    if parsed.tzinfo is None:
        raise ValueError("must carry a time zone")
    return parsed.astimezone(UTC)


def _structure_uuid(value: Any, _type: type) -> UUID:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise TypeError("must be a UUID string")
    return UUID(value)


def _structure_bytes(value: Any, _type: type) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if not isinstance(value, str):
        raise TypeError("must be base64 text")
    return base64.b64decode(value.encode(), validate=True)


def _structure_transform(value: Any, _type: Any) -> Transform:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value) or None
    raise TypeError("must be a transform name or a list of names")


def _unstructure_transform(value: Transform) -> Any:
    if not value:
        return None
    return value[0] if len(value) == 1 else list(value)


def _strict_scalar(cls: type) -> Any:
    def structure(value: Any, _type: type) -> Any:
        if cls is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if type(value) is not cls:
            raise TypeError(f"must be {'a' if cls is not int else 'an'} {_NAMES[cls]}")
        return value

    return structure


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise ValueError(f"must be one of: {allowed}") from None


def _strict_sequence(tp: Any, conv: cattrs.Converter) -> Any:
    """Structure a sequence only from a JSON array (cattrs would iterate any iterable:
    the keys of an object, the characters of a string)."""
    if typing.get_origin(tp) is tuple:
        base = homogenous_tuple_structure_factory(tp, conv)
    else:
        base = list_structure_factory(tp, conv)

    def structure(value: Any, type_: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise TypeError("must be a list")
        return base(value, type_)

    return structure


def make_converter() -> cattrs.Converter:
    """Build the converter. Called once per process; import has no side effects."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    for cls in (str, int, float, bool):
        conv.register_structure_hook(cls, _strict_scalar(cls))
    # StrEnum is a str: register on the enum bases so they win the MRO dispatch.
    for base in (enum.StrEnum, enum.IntEnum, enum.Enum):
        conv.register_structure_hook(base, _structure_enum)
        conv.register_unstructure_hook(base, lambda e: e.value)
    conv.register_structure_hook(UUID, _structure_uuid)
    conv.register_unstructure_hook(UUID, str)
    conv.register_structure_hook(datetime, lambda v, _t: parse_datetime(v))
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_structure_hook(bytes, _structure_bytes)
    conv.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode())
    conv.register_structure_hook_func(lambda t: t == Transform, _structure_transform)
    conv.register_structure_hook_factory(is_sequence, _strict_sequence)
    conv.register_unstructure_hook_func(lambda t: t == Transform, _unstructure_transform)
    return conv


converter = make_converter()


def error_list(exc: BaseException) -> list[FieldError]:
    """Turn a cattrs structuring failure into field errors, without echoing values."""
    errors: list[FieldError] = []

    def walk(err: BaseException, path: str) -> None:
        if isinstance(err, ForbiddenExtraKeysError):
            for key in sorted(err.extra_fields):
                errors.append(FieldError(_join(path, key), "is not a known field"))
        elif isinstance(err, ClassValidationError | IterableValidationError):
            with_notes, without = err.group_exceptions()
            for sub, note in with_notes:
                walk(sub, _join_note(path, note))
            for sub in without:
                walk(sub, path)
        elif isinstance(err, KeyError):
            errors.append(FieldError(path or "$", "is required"))
        elif isinstance(err, TypeError | ValueError | binascii.Error):
            errors.append(FieldError(path or "$", _message(err)))
        else:
            errors.append(FieldError(path or "$", "is invalid"))

    walk(exc, "")
    return errors


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _join_note(path: str, note: Any) -> str:
    name = getattr(note, "name", None)
    index = getattr(note, "index", None)
    if name is not None:
        return _join(path, str(name))
    if index is not None:
        return f"{path}[{index}]"
    return path


def _message(err: BaseException) -> str:
    text = str(err)
    if isinstance(err, TypeError) and text.startswith("must"):
        return text
    if isinstance(err, ValueError) and text.startswith("must"):
        return text
    if "is not a valid" in text:
        # enum errors: "'x' is not a valid Role" -> avoid echoing input
        return "is not one of the allowed values"
    return "has the wrong type or format"


def structure_input(data: Any, cls: type[T]) -> T:
    """Structure an untrusted document, raising ``InvalidInput`` with every field error."""
    if not isinstance(data, dict):
        raise InvalidInput([FieldError("$", "must be a JSON object")])
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise InvalidInput(error_list(exc)) from None
