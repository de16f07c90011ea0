"""``stores._common.Codec``'s compiled fast paths give what the converter-based codec gave.

``OldCodec`` below is the codec before the fast paths (cattrs ``structure`` of a dict of
decoded column values; ``dump_json`` of the converter's unstructuring of each nested
column), kept verbatim as the reference. For every stored class (``_sql.Codecs``) and both
SQL dialects, on rows shaped as each driver returns them, ``load`` and ``params`` must give
equal results with values of the same types all the way down, and a corrupt row must fail
exactly when it failed before (with any exception) and otherwise give the same object.
"""

from __future__ import annotations

import enum
import json
import math
import threading
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from tests.contract import builders
from xavyo_connectors_core import model, testing
from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.errors import InvalidInput
from xavyo_connectors_core.stores._common import (
    EPOCH,
    Codec,
    Dialect,
    Kind,
    _kind_of,
    _plain_json,
    dump_json,
    from_micros,
)
from xavyo_connectors_core.stores._sql import Codecs
from xavyo_connectors_core.stores.postgres import _PgDialect
from xavyo_connectors_core.stores.sqlite import _SqliteDialect

# --------------------------------------------------------------------------- reference


class OldCodec:
    """``Codec`` before the compiled fast paths (its logic verbatim)."""

    def __init__(self, cls: type, dialect: Dialect) -> None:
        self.cls = cls
        self.dialect = dialect
        hints = typing.get_type_hints(cls)
        fields = attrs.fields(cls)
        self.kinds: dict[str, Kind] = {f.name: _kind_of(hints[f.name]) for f in fields}
        self._nested: dict[str, Callable[[Any], Any]] = {
            name: converter.get_unstructure_hook(hints[name])
            for name, kind in self.kinds.items()
            if kind is Kind.JSON
        }

    def params(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        dialect = self.dialect
        for name, kind in self.kinds.items():
            value = getattr(obj, name)
            if value is None:
                out[name] = None
            elif kind is Kind.JSON:
                out[name] = old_dump_json(self._nested[name](value), name)
            elif kind is Kind.TIME:
                out[name] = dialect.dump_time(value)
            elif kind is Kind.UUID:
                out[name] = dialect.dump_uuid(value)
            elif kind is Kind.BOOL:
                out[name] = bool(value)
            else:
                out[name] = value.value if isinstance(value, enum.Enum) else value
        return out

    def load(self, row: Mapping[str, Any]) -> Any:
        data: dict[str, Any] = {}
        dialect = self.dialect
        for name, kind in self.kinds.items():
            value = row[name]
            if value is not None:
                if kind is Kind.JSON:
                    value = dialect.load_json(value)
                elif kind is Kind.TIME:
                    value = dialect.load_time(value)
                elif kind is Kind.BOOL:
                    value = dialect.load_bool(value)
            data[name] = value
        return converter.structure(data, self.cls)


def old_dump_json(value: Any, path: str) -> str:
    """``dump_json`` before the shared encoder."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInput([]) from exc


class OldSqliteDialect(_SqliteDialect):
    """The SQLite dialect with its ``load_time`` and ``load_json`` before the fast paths."""

    def load_time(self, value: Any) -> datetime:
        return from_micros(int(value))

    def load_json(self, value: Any) -> Any:
        return json.loads(value)


# --------------------------------------------------------------------------- drivers

STRATEGIES: dict[type, SearchStrategy[Any]] = {
    model.Tenant: testing.tenants(),
    model.ApiToken: testing.api_tokens(),
    model.Connector: testing.connectors(),
    model.SchemaVersion: testing.schema_versions(),
    model.Shadow: testing.shadows(),
    model.Identity: testing.identities(),
    model.Run: testing.runs(),
    model.Discrepancy: testing.discrepancies(),
    model.Operation: testing.operations(),
    model.ConnectorHealth: testing.connector_healths(),
    model.SyncToken: testing.sync_tokens(),
}
STORED = [codec.cls for codec in vars(Codecs(_SqliteDialect())).values()]
HOT = [model.Shadow, model.Identity, model.Run, model.Discrepancy, model.Operation]

SQLITE, PG = "sqlite", "postgres"
NEW_DIALECTS: dict[str, Dialect] = {SQLITE: _SqliteDialect(), PG: _PgDialect()}
OLD_DIALECTS: dict[str, Dialect] = {SQLITE: OldSqliteDialect(), PG: _PgDialect()}

# One codec per (class, dialect) for the whole module, as a store has: what a codec
# remembers from one row (the last UUID or time) must never leak into the next.
NEW = {(cls, d): Codec(cls, NEW_DIALECTS[d]) for cls in STORED for d in NEW_DIALECTS}
OLD = {(cls, d): OldCodec(cls, OLD_DIALECTS[d]) for cls in STORED for d in OLD_DIALECTS}

OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=9, minutes=30))]
)


def to_row(cls: type, dialect: str, obj: Any, tz: Any = UTC) -> dict[str, Any]:
    """The row a driver returns for ``obj`` as the old codec stored it.

    SQLite: the parameters, booleans as 0/1. PostgreSQL (psycopg): UUIDs and aware
    datetimes (in ``tz``), JSON columns parsed, booleans as they are.
    """
    old = OLD[cls, dialect]
    row = old.params(obj)
    for name, kind in old.kinds.items():
        value = row[name]
        if value is None:
            continue
        if dialect == SQLITE and kind is Kind.BOOL:
            row[name] = int(value)
        elif dialect == PG and kind is Kind.JSON:
            row[name] = json.loads(value)
        elif dialect == PG and kind is Kind.TIME:
            row[name] = value.astimezone(tz)
    return row


def same(a: Any, b: Any, path: str = "$") -> None:
    """``a == b`` with the same classes all the way down (dict order included)."""
    assert type(a) is type(b), f"{path}: {type(a)} is not {type(b)}"
    if attrs.has(type(a)):
        for f in attrs.fields(type(a)):
            same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for key in a:
            same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, path
        if isinstance(a, datetime):
            assert a.tzinfo is b.tzinfo, path


def outcome(fn: Callable[[], Any]) -> tuple[bool, Any]:
    """(True, result) or (False, exception class)."""
    try:
        return True, fn()
    except Exception as exc:  # any exception: the codecs need not agree on its class
        return False, type(exc)


examples = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
many_examples = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def objects_of(cls: type) -> SearchStrategy[list[Any]]:
    """A few objects of ``cls``, sharing ids and times sometimes (as rows of a run do)."""
    strategy = STRATEGIES[cls]
    return st.lists(strategy, min_size=1, max_size=4).flatmap(
        lambda objs: st.lists(st.sampled_from(objs), min_size=1, max_size=6)
    )


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("dialect", [SQLITE, PG])
@pytest.mark.parametrize("cls", STORED, ids=lambda c: c.__name__)
class TestEquivalence:
    @examples
    @given(data=st.data())
    def test_load_and_params_match_the_converter(
        self, cls: type, dialect: str, data: st.DataObject
    ) -> None:
        """new load(row) == old load(row) == obj, same types; new params == old params."""
        new, old = NEW[cls, dialect], OLD[cls, dialect]
        for obj in data.draw(objects_of(cls)):
            assert new.params(obj) == old.params(obj)
            row = to_row(cls, dialect, obj, data.draw(OFFSETS))
            loaded = new.load(dict(row))
            same(loaded, old.load(dict(row)))
            assert loaded == obj

    def test_the_class_is_covered(self, cls: type, dialect: str) -> None:
        assert set(STRATEGIES) == set(STORED)
        assert NEW[cls, dialect].kinds == OLD[cls, dialect].kinds


@pytest.mark.parametrize("dialect", [SQLITE, PG])
@pytest.mark.parametrize("cls", HOT, ids=lambda c: c.__name__)
class TestHotClasses:
    @many_examples
    @given(data=st.data())
    def test_load_and_params_match_on_many_rows(
        self, cls: type, dialect: str, data: st.DataObject
    ) -> None:
        new, old = NEW[cls, dialect], OLD[cls, dialect]
        objs = data.draw(objects_of(cls))
        rows = [to_row(cls, dialect, obj, data.draw(OFFSETS)) for obj in objs]
        assert [new.params(o) for o in objs] == [old.params(o) for o in objs]
        for row, obj in zip(rows, objs, strict=True):
            loaded = new.load(dict(row))
            same(loaded, old.load(dict(row)))
            assert loaded == obj

    @many_examples
    @given(data=st.data())
    def test_corrupt_rows_fail_as_before(
        self, cls: type, dialect: str, data: st.DataObject
    ) -> None:
        """One column replaced by anything a driver could return: the new codec fails
        exactly when the old one did (with any exception), else gives the same object."""
        new, old = NEW[cls, dialect], OLD[cls, dialect]
        obj = data.draw(STRATEGIES[cls])
        row = to_row(cls, dialect, obj)
        name = data.draw(st.sampled_from(sorted(row)))
        row[name] = data.draw(corrupt_values(old.kinds[name], dialect))
        ok_new, new_result = outcome(lambda: new.load(dict(row)))
        ok_old, old_result = outcome(lambda: old.load(dict(row)))
        assert ok_new == ok_old, (name, row[name], new_result, old_result)
        if ok_new:
            same(new_result, old_result)


def corrupt_values(kind: Kind, dialect: str) -> SearchStrategy[Any]:
    """Column values, right and wrong, of every type a driver returns."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats()
        | st.text(max_size=12)
        | st.sampled_from(
            [
                "linked",
                "queued",
                "update",
                "pending",
                "admin",
                "target",
                "00000000-0000-0000-0000-000000000001",
                "{00000000-0000-0000-0000-000000000001}",
                "urn:uuid:00000000-0000-0000-0000-000000000001",
                "0",
                "1",
                "",
            ]
        )
    )
    if dialect == PG:
        json_data = testing.json_values() | st.lists(testing.json_scalars())
        scalars = (
            scalars
            | st.uuids()
            | st.datetimes(timezones=st.none() | OFFSETS)
            | (json_data if kind is Kind.JSON else st.nothing())
        )
    elif kind is Kind.JSON:
        scalars = scalars | testing.json_values().map(json.dumps)
    return scalars


# --------------------------------------------------------------------------- parts


MIN_MICROS = -62135596800000000
"""``to_micros`` of 0001-01-01T00:00:00Z (``datetime.min``)."""
MAX_MICROS = 253402300799999999
"""``to_micros`` of 9999-12-31T23:59:59.999999Z (``datetime.max``)."""


def test_the_micros_range_is_the_datetime_range() -> None:
    assert from_micros(MIN_MICROS) == datetime.min.replace(tzinfo=UTC)
    assert from_micros(MAX_MICROS) == datetime.max.replace(tzinfo=UTC)


@given(value=st.integers(MIN_MICROS, MAX_MICROS))
@settings(max_examples=2000)
def test_sqlite_load_time_is_from_micros(value: int) -> None:
    """Exact over the whole datetime range (year 1 to 9999)."""
    got = NEW_DIALECTS[SQLITE].load_time(value)
    want = from_micros(int(value))
    assert got == want
    assert got.tzinfo is want.tzinfo is UTC
    assert type(got) is datetime


@pytest.mark.parametrize(
    "value",
    [
        MIN_MICROS,
        MIN_MICROS - 1,
        MAX_MICROS,
        MAX_MICROS + 1,
        -(2**63),
        2**63 - 1,
        0,
        -1,
        True,
        1.9,
        "12",
    ],
)
def test_sqlite_load_time_bounds_and_other_types(value: Any) -> None:
    """Outside the range both overflow; non-ints go through ``int()`` as before."""
    assert outcome(lambda: NEW_DIALECTS[SQLITE].load_time(value)) == outcome(
        lambda: from_micros(int(value))
    )


def json_texts() -> SearchStrategy[Any]:
    """JSON texts as stored and not: spaced, truncated, followed by more, a BOM, bytes."""
    texts = st.one_of(
        testing.json_values().map(lambda v: dump_json(v, "x")),
        testing.json_values().map(json.dumps),
        testing.json_values().map(lambda v: json.dumps(v, indent=1)),
    )
    return st.one_of(
        texts,
        st.tuples(texts, st.sampled_from([" ", "\n", "\ufeff", "x", "[", "1", " 1"])).map(
            lambda t: t[1] + t[0]
        ),
        st.tuples(texts, st.sampled_from([" ", "\t\n", "x", "]", "}", ",", " 1"])).map(
            lambda t: t[0] + t[1]
        ),
        texts.map(lambda t: t[: len(t) // 2]),
        texts.map(str.encode),
        st.text(max_size=8),
        st.sampled_from(["NaN", "-Infinity", "1e999", "-0", "0.0", "1E3", '"\\ud800"']),
    )


@many_examples
@given(text=json_texts())
def test_sqlite_load_json_is_json_loads(text: Any) -> None:
    new = outcome(lambda: NEW_DIALECTS[SQLITE].load_json(text))
    old = outcome(lambda: json.loads(text))
    assert new[0] == old[0]
    if new[0]:
        same(new[1], old[1])
    else:
        assert new[1] is old[1]


def test_epoch() -> None:
    assert NEW_DIALECTS[SQLITE].load_time(0) is not EPOCH  # a new object, equal
    assert NEW_DIALECTS[SQLITE].load_time(0) == EPOCH


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    __slots__ = ()


def odd_values() -> SearchStrategy[Any]:
    """Attribute values the converter unstructures (UUIDs, datetimes, enums, tuples,
    sets, non-str keys, str and int subclasses, NaN) as well as plain JSON."""
    leaves = (
        testing.json_scalars()
        | st.floats()
        | st.uuids()
        | testing.utc_datetimes()
        | st.sampled_from(model.Situation)
        | st.sampled_from([model.Role.SOURCE, Level.HIGH, Text("t"), frozenset({1}), {"a"}, b"x"])
    )
    keys = st.text(max_size=4) | st.integers(0, 3) | st.sampled_from(model.Role) | st.none()
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=8,
    )


@many_examples
@given(
    attributes=st.dictionaries(st.text(max_size=6) | st.integers(0, 2), odd_values(), max_size=4),
    dialect=st.sampled_from([SQLITE, PG]),
    cls=st.sampled_from([model.Shadow, model.Identity]),
    data=st.data(),
)
def test_params_of_any_attributes_match(
    attributes: dict[Any, Any], dialect: str, cls: type, data: st.DataObject
) -> None:
    """Attributes that are not plain JSON take the converter's path: same text, or the
    same failure (InvalidInput)."""
    obj = attrs.evolve(data.draw(STRATEGIES[cls]), attributes=attributes)
    new, old = NEW[cls, dialect], OLD[cls, dialect]
    assert outcome(lambda: new.params(obj)) == outcome(lambda: old.params(obj))


@given(value=odd_values())
def test_plain_json_is_what_it_says(value: Any) -> None:
    """Plain values encode as their unstructured copies do."""
    if _plain_json(value):
        assert outcome(lambda: dump_json(value, "x")) == outcome(
            lambda: old_dump_json(converter.unstructure(value), "x")
        )


def test_plain_json_of_a_deep_value_is_false() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    assert not _plain_json(value)


@given(value=odd_values() | testing.json_values())
def test_dump_json_is_json_dumps(value: Any) -> None:
    new, old = outcome(lambda: dump_json(value, "x")), outcome(lambda: old_dump_json(value, "x"))
    assert new == old


def cyclic() -> Any:
    value: list[Any] = [1]
    value.append({"a": value})
    return value


def deep() -> Any:
    value: Any = {}
    for _ in range(20_000):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value", [cyclic(), deep(), {"a": float("nan")}, [float("-inf")], {1: 2, None: 3, 1.5: [()]}]
)
def test_dump_json_fails_as_json_dumps(value: Any) -> None:
    """A cycle is still InvalidInput (not RecursionError); too deep is RecursionError."""
    new, old = outcome(lambda: dump_json(value, "x")), outcome(lambda: old_dump_json(value, "x"))
    assert new == old


def test_dump_json_in_threads() -> None:
    values = [{"k": [i, str(i) * (i % 7), {"n": None}]} for i in range(200)]
    want = [old_dump_json(v, "x") for v in values]
    got: list[list[str]] = []

    def work() -> None:
        got.append([dump_json(v, "x") for _ in range(20) for v in values][-200:])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 4


@pytest.mark.parametrize("dialect", [SQLITE, PG])
def test_params_after_none_and_back(dialect: str) -> None:
    """The last-value memos keep None as None and notice every change."""
    codec, old = NEW[model.Shadow, dialect], OLD[model.Shadow, dialect]
    base = builders.shadow(uuid4(), uuid4(), "u1")
    ids = [None, UUID(int=1), UUID(int=1), None, UUID(int=2), None, None, UUID(int=1)]
    times = [base.last_seen_at, base.last_seen_at + timedelta(microseconds=1)] * 4
    for ident, when in zip(ids, times, strict=True):
        obj = attrs.evolve(base, identity_id=ident, last_seen_at=when)
        assert codec.params(obj) == old.params(obj)
        row = to_row(model.Shadow, dialect, obj)
        same(codec.load(row), old.load(row))


def test_pg_mapping_is_copied_from_the_row() -> None:
    """psycopg's parsed dict stays the row's; the object holds its own, as before."""
    obj = builders.identity(uuid4(), {"mail": "a@example.org", "groups": ["x", {"y": 1}]})
    row = to_row(model.Identity, PG, obj)
    loaded = NEW[model.Identity, PG].load(row)
    assert loaded.attributes == row["attributes"]
    assert loaded.attributes is not row["attributes"]


def test_pg_mapping_with_other_keys_fails_as_before() -> None:
    obj = builders.identity(uuid4())
    row = to_row(model.Identity, PG, obj)
    row["attributes"] = {1: "x"}
    assert not outcome(lambda: OLD[model.Identity, PG].load(row))[0]
    assert not outcome(lambda: NEW[model.Identity, PG].load(row))[0]


class Mood(enum.Enum):
    """An enum whose ``value`` is not ``Enum.value``."""

    GOOD = "good"

    @property
    def value(self) -> str:  # type: ignore[override]
        return "overridden"


@attrs.frozen
class Odd:
    """Fields ``cls(*values)`` cannot take: private (aliased) and keyword-only."""

    _secret: UUID
    when: datetime
    mood: Mood
    tags: Mapping[str, int]
    maybe: float | None = None
    named: str = attrs.field(default="n", kw_only=True)


@pytest.mark.parametrize("dialect", [SQLITE, PG])
@examples
@given(
    secret=st.uuids(),
    when=testing.utc_datetimes(),
    tags=st.dictionaries(st.text(max_size=3), st.integers()),
    maybe=st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(0, 3),
    named=st.text(max_size=5),
)
def test_keyword_fields_and_overridden_enum_values(
    dialect: str, secret: UUID, when: datetime, tags: dict[str, int], maybe: Any, named: str
) -> None:
    obj = Odd(secret, when, Mood.GOOD, tags, maybe, named=named)
    new, old = Codec(Odd, NEW_DIALECTS[dialect]), OldCodec(Odd, OLD_DIALECTS[dialect])
    assert new.params(obj) == old.params(obj)
    assert new.params(obj)["mood"] == "overridden"
    row = old.params(obj)
    row["mood"] = "good"  # what the overridden value stands for, say
    if dialect == PG:
        row["tags"] = json.loads(row["tags"])
    loaded = new.load(dict(row))
    same(loaded, old.load(dict(row)))
    assert loaded == obj


def test_concurrent_loads_do_not_mix_rows() -> None:
    """Codecs are shared by a store's threads: the memos never hand out another row's
    value."""
    codec = Codec(model.Shadow, _SqliteDialect())
    shadows = [
        builders.shadow(
            UUID(int=1 + i % 2),
            UUID(int=3 + i % 3),
            f"u{i}",
            last_seen_at=EPOCH + timedelta(days=i % 2),
            identity_id=None if i % 4 else uuid4(),
        )
        for i in range(20)
    ]
    rows = [to_row(model.Shadow, SQLITE, s) for s in shadows]
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(2000):
                k = (i * 7 + offset) % len(rows)
                assert codec.load(rows[k]) == shadows[k]
                assert codec.params(shadows[k]) == OLD[model.Shadow, SQLITE].params(shadows[k])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
