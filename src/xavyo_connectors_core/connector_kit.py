"""A contract test kit for connector types, ours and third-party ones (SPEC §5).

``check_connector_type`` drives a type through the SPI against a live system and raises
``AssertionError`` naming the first broken promise. Use it from your own test suite::

    from xavyo_connectors_core.testing import check_connector_type

    def test_my_type_keeps_the_spi(tmp_path):
        check_connector_type(MyType(), config={...}, secrets={...}, files_root=tmp_path,
                             sample={"login": "kit-user", "mail": "kit@example.org"},
                             change={"mail": "kit2@example.org"})
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xavyo_connectors_core.config import validate_config
from xavyo_connectors_core.errors import AccountExists, AccountNotFound
from xavyo_connectors_core.model import AttributeDelta, Capability, DeltaOp
from xavyo_connectors_core.spi import ConnectorType, OpenContext


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(actual, list) and not isinstance(expected, list):
        return actual == [expected]
    return bool(str(expected) == str(actual)) if expected is not None else actual is None


def check_connector_type(
    ctype: ConnectorType,
    *,
    config: Mapping[str, Any],
    secrets: Mapping[str, str],
    files_root: Path,
    sample: Mapping[str, Any],
    change: Mapping[str, Any],
) -> None:
    """Check ``ctype`` against a live system: config, test, schema, CRUD and search.

    Args:
        sample: attributes of an account to create (it is deleted again at the end).
        change: attributes to replace on it afterwards.
    """
    assert isinstance(ctype.key, str) and ctype.key, "a type has a key"
    names = [f.name for f in ctype.config_spec]
    assert len(names) == len(set(names)), "config field names are unique"
    effective, errors = validate_config(ctype, config, secrets, files_root=files_root)
    assert not errors, f"the config is valid: {errors}"
    object_class = ctype.account_object_class(effective)
    with ctype.open(effective, secrets, OpenContext(files_root=files_root)) as conn:
        message = conn.test()
        assert isinstance(message, str), "test() returns a message"
        if Capability.SCHEMA in ctype.capabilities:
            schema = conn.schema()
            oc = schema.object_class(object_class)
            assert oc is not None, f"the schema has the account class {object_class!r}"
            assert oc.attribute(oc.uid_attribute) is not None, "the uid attribute is described"
            for name in sample:
                assert oc.attribute(name) is not None, f"sample attribute {name!r} is in the schema"
        if Capability.CREATE not in ctype.capabilities:
            return
        created = conn.create(object_class, dict(sample))
        try:
            assert created.uid, "create returns the new account's uid"
            got = conn.get(object_class, created.uid)
            assert got.uid == created.uid, "get finds the created account"
            for name, value in sample.items():
                assert _same(value, got.attributes.get(name)), f"{name} reads back as written"
            if Capability.SEARCH in ctype.capabilities:
                seen = [o.uid for o in conn.search(object_class, 2) if o.uid == created.uid]
                assert seen == [created.uid], "search returns the account exactly once"
            try:
                again = conn.create(object_class, dict(sample))
            except AccountExists:
                pass
            else:  # a type whose uid the system generates may accept a second create
                conn.delete(object_class, again.uid)
            if Capability.UPDATE in ctype.capabilities:
                deltas = [
                    AttributeDelta(name, DeltaOp.REPLACE, (value,))
                    for name, value in change.items()
                ]
                conn.update(object_class, created.uid, deltas)
                got = conn.get(object_class, created.uid)
                for name, value in change.items():
                    assert _same(value, got.attributes.get(name)), f"{name} was replaced"
                try:
                    conn.update(object_class, created.uid + "-missing", deltas)
                except AccountNotFound:
                    pass
                else:
                    raise AssertionError("update of a missing account raises AccountNotFound")
        finally:
            if Capability.DELETE in ctype.capabilities:
                conn.delete(object_class, created.uid)
        if Capability.DELETE in ctype.capabilities:
            try:
                conn.get(object_class, created.uid)
            except AccountNotFound:
                pass
            else:
                raise AssertionError("a deleted account is gone")
            try:
                conn.delete(object_class, created.uid)
            except AccountNotFound:
                pass
            else:
                raise AssertionError("deleting a missing account raises AccountNotFound")
