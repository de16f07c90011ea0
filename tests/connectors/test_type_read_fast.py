"""The fast read paths of the ``sql`` and ``csv`` types return exactly what the plain ones did.

``search`` of the ``sql`` type converts a page column by column (``_RowReader``), and the
``csv`` type turns a full text row into its object without the per-cell loop. These tests
compare both with a reference: the per-cell code they replace, kept here verbatim
(``to_json_value`` per cell for ``sql``; the former ``_Layout.to_object`` for ``csv``),
by value *and type* (``True`` is not ``1``) and key order, and for errors by the objects
read before the error and the error itself.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xavyo_connectors_core.config import validate_config
from xavyo_connectors_core.errors import TargetRejected
from xavyo_connectors_core.model import Attribute, AttributeType
from xavyo_connectors_core.spi import ConnectorObject, OpenContext
from xavyo_connectors_core.types.csv import TYPE as CSV
from xavyo_connectors_core.types.csv import CsvConnection, _Layout
from xavyo_connectors_core.types.sql import TYPE as SQL
from xavyo_connectors_core.types.sql import Column, SqlConnection, _RowReader, to_json_value

# --------------------------------------------------------------------------- comparing


def typed(value: Any) -> Any:
    """``value`` with the type of every part spelled out (and dict keys in order)."""
    if isinstance(value, ConnectorObject):
        return ("object", typed(value.uid), typed(value.name), typed(value.attributes))
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, repr(value))


def outcome(objects: Callable[[], Iterable[ConnectorObject]]) -> tuple[list[Any], str | None]:
    """The objects read (typed) and the error that stopped the reading, if any."""
    read: list[Any] = []
    try:
        for obj in objects():
            read.append(typed(obj))
    except Exception as exc:
        return read, f"{type(exc).__name__}: {exc}"
    return read, None


# --------------------------------------------------------------------------- sql


def reference_object(
    columns: Sequence[Column], uid_name: str, name_name: str, row: Sequence[Any]
) -> ConnectorObject:
    """What ``SqlConnection._object`` did before the fast path: ``to_json_value`` per cell."""
    attributes = {c.name: to_json_value(v, c) for c, v in zip(columns, row, strict=True)}
    uid = str(attributes[uid_name])
    name = attributes[name_name]
    return ConnectorObject(uid=uid, name=uid if name is None else str(name), attributes=attributes)


def column(
    name: str,
    kind: AttributeType = AttributeType.STRING,
    *,
    json: bool = False,
    multivalued: bool = False,
) -> Column:
    return Column(Attribute(name=name, type=kind, multivalued=multivalued), json=json)


KINDS = list(AttributeType)
SCALARS = st.one_of(
    st.none(),
    st.text(max_size=4),
    st.sampled_from(
        [
            "",
            " true ",
            "no",
            "1",
            "2024-05-01",
            "2024-05-01T10:00:00+02:00",
            "0001-01-01T00:00:00+01:00",  # out of range once in UTC: kept with its offset
            "not a date",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.sampled_from([Decimal("3"), Decimal("NaN"), Decimal("Infinity"), Decimal("-0")]),
    st.binary(max_size=4),
    st.builds(bytearray, st.binary(max_size=3)),
    st.builds(memoryview, st.binary(max_size=3)),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]),
    ),
    st.dates(),
    st.uuids(),
    st.sampled_from([{"a": [1, None]}, [1, "x"], {"k": True}, ["a", 2.5]]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[Column], str, str, list[tuple[Any, ...]]]:
    width = draw(st.integers(min_value=1, max_value=5))
    columns = [
        column(
            f"c{i}",
            draw(st.sampled_from(KINDS)),
            json=draw(st.booleans()),
            multivalued=draw(st.booleans()),
        )
        for i in range(width)
    ]
    uid_name = draw(st.sampled_from([c.name for c in columns]))
    name_name = draw(st.sampled_from([c.name for c in columns]))
    # one column of a row mostly holds one type, as a database column does
    per_column = [draw(st.sampled_from([SCALARS, VALUES, st.text(max_size=3)])) for _ in columns]
    rows = draw(
        st.lists(st.tuples(*(draw_from for draw_from in per_column)), min_size=0, max_size=8)
    )
    return columns, uid_name, name_name, rows


class TestRowReader:
    """``_RowReader.one`` and ``.page`` against ``to_json_value`` per cell."""

    @settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
    @given(tables())
    def test_one_and_page_are_the_reference(
        self, table: tuple[list[Column], str, str, list[tuple[Any, ...]]]
    ) -> None:
        """Values, their types, key order; and errors after the same rows."""
        columns, uid_name, name_name, rows = table
        reader = _RowReader(columns, uid_name, name_name)
        expected = outcome(
            lambda: (reference_object(columns, uid_name, name_name, r) for r in rows)
        )
        assert outcome(lambda: (reader.one(r) for r in rows)) == expected
        assert outcome(lambda: reader.page(rows)) == expected

    def test_text_and_integers_pass_through_as_they_are(self) -> None:
        """The common columns cost nothing; a stray type in them is still converted."""
        columns = [
            column("id", AttributeType.INTEGER),
            column("login"),
            column("flag", AttributeType.BOOLEAN),
        ]
        reader = _RowReader(columns, "id", "login")
        rows = [(1, "alice", True), (2, None, False), (True, b"\x00", 1), ("7", 8, None)]
        got = [typed(o) for o in reader.page(rows)]
        assert got == [typed(reference_object(columns, "id", "login", r)) for r in rows]
        objects = list(reader.page(rows))
        assert objects[1].name == "2"  # NULL name: the uid
        assert objects[2].attributes == {"id": True, "login": "AA==", "flag": True}
        assert type(objects[2].attributes["id"]) is bool  # a bool in an integer column stays
        assert objects[3].uid == "7" and objects[3].name == "8"

    def test_the_uid_column_as_the_name_and_a_null_uid(self) -> None:
        """``str(None)`` is the uid of a NULL uid (only ``get`` could see one)."""
        columns = [column("u"), column("v", AttributeType.DATETIME)]
        reader = _RowReader(columns, "u", "u")
        rows = [(None, None), ("x", date(2024, 5, 1)), (5, datetime(2024, 5, 1, 1, 2, 3))]
        for obj, row in zip(reader.page(rows), rows, strict=True):
            assert typed(obj) == typed(reference_object(columns, "u", "u", row))
        assert next(iter(reader.page(rows))).uid == "None"

    def test_a_time_utc_cannot_hold_keeps_its_offset(self) -> None:
        """0001-01-01T00:00+01:00 is a valid time that UTC cannot hold: read, not fatal."""
        columns = [column("u"), column("when", AttributeType.DATETIME)]
        reader = _RowReader(columns, "u", "u")
        rows = [("a", "2024-05-01T00:00:00Z"), ("b", "0001-01-01T00:00:00+01:00"), ("c", None)]
        assert [o.attributes["when"] for o in reader.page(rows)] == [
            "2024-05-01T00:00:00Z",
            "0001-01-01T00:00:00+01:00",
            None,
        ]

    def test_rows_of_the_wrong_width_fail_as_before(self) -> None:
        columns = [column("u"), column("v")]
        reader = _RowReader(columns, "u", "u")
        page = reader.page([("a", "b"), ("c",)])
        with pytest.raises(ValueError, match="shorter"):
            list(page)


def sqlite_connection(root: Path, ddl: str, rows: Sequence[Sequence[Any]], **config: Any) -> Any:
    path = root / "app.db"
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(ddl)
            marks = ", ".join("?" * len(rows[0])) if rows else ""
            if rows:
                conn.executemany(f"INSERT INTO t VALUES ({marks})", rows)
    finally:
        conn.close()
    config = {"url": "sqlite:///app.db", "table": "t", **config}
    return SQL.open(config, {}, OpenContext(root))


def reference_search(conn: SqlConnection, raw: Sequence[Sequence[Any]]) -> list[Any]:
    info = conn._table_info()
    uid = conn._column(conn._settings.uid_column).name
    name = conn._column(conn._settings.name_column).name
    return [typed(reference_object(info.columns, uid, name, r)) for r in raw]


class TestSqliteSearch:
    """``search`` over SQLite: every affinity holding every storage class, NULLs, pages."""

    DDL = (
        "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, b BOOLEAN, d DATETIME, "
        "bl BLOB, num NUMERIC, r REAL, j JSON, x, deleted BOOLEAN)"
    )
    CELLS: tuple[Any, ...] = (
        None,
        "text",
        "",
        "2024-05-01",
        "2024-05-01 10:00:00",
        "yes",
        "off",
        7,
        0,
        -3,
        2.5,
        1e300,
        b"\x00\xff",
        '{"a": 1}',
    )

    @pytest.mark.parametrize("page_size", [1, 2, 3, 7, 1000])
    def test_search_is_the_reference(self, tmp_path: Path, page_size: int) -> None:
        cells = self.CELLS
        rows = [
            (f"u{i:03d}", *(cells[(i * (k + 3)) % len(cells)] for k in range(8)), i % 5 == 0)
            for i in range(40)
        ]
        with sqlite_connection(
            tmp_path, self.DDL, rows, uid_column="id", name_column="x", tombstone_column="deleted"
        ) as conn:
            got = [typed(o) for o in conn.search("t", page_size)]
            raw = conn._db.fetch(
                "SELECT * FROM t WHERE id IS NOT NULL AND deleted IS NOT TRUE ORDER BY id"
            )
            assert got == reference_search(conn, raw)
            assert len(got) == 32
            # get (one row) agrees with search
            assert typed(conn.get("t", "u001")) == got[0]

    def test_text_table_of_the_benchmark(self, tmp_path: Path) -> None:
        """The reconciliation's table: text columns with NULLs, a name column."""
        ddl = (
            "CREATE TABLE t (uid TEXT PRIMARY KEY, email TEXT NOT NULL, given_name TEXT, "
            "family_name TEXT, department TEXT)"
        )
        rows = [
            (f"E{i:04d}", f"u{i}@x.org", None if i % 3 else f"G{i}", f"F{i}", "eng")
            for i in range(25)
        ]
        rows.append(("E9999", "blob", b"\x01", 12, 1.5))  # text affinity keeps a blob only
        with sqlite_connection(tmp_path, ddl, rows, uid_column="uid", name_column="email") as c:
            for page_size in (1, 4, 25, 26, 100):
                got = [typed(o) for o in c.search("t", page_size)]
                raw = c._db.fetch("SELECT * FROM t ORDER BY uid")
                assert got == reference_search(c, raw)
            last = list(c.search("t", 10))[-1]
            assert last.attributes == {
                "uid": "E9999",
                "email": "blob",
                "given_name": "AQ==",
                "family_name": "12",
                "department": "1.5",
            }

    def test_an_odd_datetime_cell_does_not_stop_the_read(self, tmp_path: Path) -> None:
        """A time UTC cannot hold is read with its offset; the rows after it are read too."""
        ddl = "CREATE TABLE t (id TEXT PRIMARY KEY, at DATETIME)"
        rows = [("a", "2024-05-01"), ("b", "0001-01-01T00:00:00+01:00"), ("c", None)]
        with sqlite_connection(tmp_path, ddl, rows, uid_column="id") as conn:
            read = {obj.uid: obj.attributes["at"] for obj in conn.search("t", 10)}
        assert read == {"a": "2024-05-01", "b": "0001-01-01T00:00:00+01:00", "c": None}

    def test_a_schema_read_during_a_search_is_harmless(self, tmp_path: Path) -> None:
        ddl = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"
        rows = [(i, f"v{i}") for i in range(1, 8)]
        with sqlite_connection(tmp_path, ddl, rows, uid_column="id", name_column="v") as conn:
            read = []
            for obj in conn.search("t", 3):
                read.append(obj.uid)
                conn.schema()  # describes the table again
            assert read == [str(i) for i in range(1, 8)]


@pytest.mark.postgres
def test_postgres_search_is_the_reference(postgres_url: str, tmp_path: Path) -> None:
    """Every PostgreSQL type the catalog maps, NULLs included, over several pages."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
        conn.execute(
            """CREATE TABLE t (
                id TEXT PRIMARY KEY, v VARCHAR(10), n INTEGER, big BIGINT, small SMALLINT,
                whole NUMERIC(12, 0), money NUMERIC(10, 2), free NUMERIC, f FLOAT8,
                b BOOLEAN, ts TIMESTAMPTZ, naive TIMESTAMP, d DATE, bin BYTEA, u UUID,
                jb JSONB, js JSON, ints INTEGER[], texts TEXT[], m mood, iv INTERVAL,
                deleted BOOLEAN NOT NULL DEFAULT FALSE)"""
        )
        rows = []
        for i in range(23):
            full = i % 4 != 0
            rows.append(
                (
                    f"k{i:03d}",
                    f"v{i}" if full else None,
                    i if full else None,
                    2**40 + i if full else None,
                    -i if full else None,
                    Decimal(10**11 + i) if full else None,
                    Decimal(f"{i}.25") if full else None,
                    Decimal("NaN") if i == 5 else (Decimal(f"{i}.5") if full else None),
                    i / 3 if full else None,
                    (i % 2 == 0) if full else None,
                    datetime(2024, 5, 1, 10, i, tzinfo=UTC) if full else None,
                    datetime(2024, 5, 1, 10, i) if full else None,
                    date(2024, 5, 1 + i % 28) if full else None,
                    bytes([i, 255]) if full else None,
                    UUID(int=i) if full else None,
                    psycopg.types.json.Jsonb({"i": i, "s": "x"} if full else "str"),
                    psycopg.types.json.Json([i, None] if full else None),
                    [i, None, 3] if full else None,
                    ["a", None] if full else [],
                    "ok" if full else None,
                    timedelta(hours=i) if full else None,
                    i == 7,
                )
            )
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO t VALUES ({', '.join(['%s'] * 22)})", rows)
    config = {
        "url": postgres_url,
        "table": "t",
        "uid_column": "id",
        "name_column": "v",
        "tombstone_column": "deleted",
    }
    with SQL.open(config, {}, OpenContext(tmp_path)) as sql:
        raw = sql._db.fetch("SELECT * FROM t WHERE deleted IS NOT TRUE ORDER BY id")
        expected = reference_search(sql, raw)
        assert len(expected) == 22
        for page_size in (1, 5, 22, 500):
            assert [typed(o) for o in sql.search("t", page_size)] == expected


# --------------------------------------------------------------------------- csv


def reference_to_object(layout: _Layout, row: Sequence[str], line: int) -> ConnectorObject:
    """``_Layout.to_object`` as it was before the fast path (per cell, in parser order)."""
    if len(row) > layout.width:
        raise TargetRejected(f"line {line} has more cells than the header")
    attributes: dict[str, Any] = {}
    name = ""
    try:
        for index, name, parse in layout.parsers:
            if index < len(row):
                cell = row[index]
                if cell:
                    value = parse(cell)
                    if value is not None:
                        attributes[name] = value
    except ValueError as exc:
        raise TargetRejected(f"line {line}, column {name!r} {exc}") from None
    uid = layout.uid_of(row)
    if not uid:
        raise TargetRejected(f"line {line} has no value in the uid column")
    name_index = layout.name.index
    account_name = row[name_index] if name_index < len(row) else ""
    return ConnectorObject(uid=uid, name=account_name or uid, attributes=attributes)


def reference_csv_search(conn: CsvConnection, path: Path, delimiter: str) -> Iterator[Any]:
    """The former ``_stream``: ``_rows``' filtering, then ``reference_to_object``."""
    with conn._csv_reader() as (layout, _reader, _format):
        pass
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        next(reader)
        uid_index = layout.uid.index
        for row in reader:
            if not row:
                continue
            if (uid_index >= len(row) or not row[uid_index]) and not any(row):
                continue
            yield reference_to_object(layout, row, reader.line_num)


def open_csv(root: Path, **config: Any) -> CsvConnection:
    config.setdefault("path", "people.csv")
    normalized, errors = validate_config(CSV, config, {}, files_root=root)
    assert errors == []
    return CSV.open(normalized, {}, OpenContext(files_root=root))


CELL = st.sampled_from(
    ["", "a", "x y", "1", "0", " 2 ", "yes", "No", "true", "a;b", ";", ";;", "-"]
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[list[str], dict[str, Any], list[list[str]]]:
    names = draw(st.lists(st.sampled_from(["id", "login", "age", "ok", "tags"]), unique=True))
    names = ["id", *[n for n in names if n != "id"]]
    header = list(names)
    for _ in range(draw(st.integers(min_value=0, max_value=2))):  # unnamed columns
        header.insert(draw(st.integers(min_value=0, max_value=len(header))), "")
    types = {
        n: draw(st.sampled_from(["string", "integer", "boolean", "string[]", "integer[]"]))
        for n in names[1:]
        if draw(st.booleans())
    }
    name_column = draw(st.sampled_from(names))
    if types.get(name_column, "").endswith("[]"):
        del types[name_column]  # the name column cannot be multivalued
    config: dict[str, Any] = {
        "uid_column": "id",
        "name_column": name_column,
        "columns": types,
        "multivalue_delimiter": ";",
    }
    width = len(header)
    rows = draw(
        st.lists(
            st.one_of(
                st.lists(CELL, min_size=width, max_size=width),  # the common case
                st.lists(CELL, min_size=0, max_size=width + 1),  # short, blank, too long
            ),
            max_size=8,
        )
    )
    return header, config, rows


class TestCsvSearch:
    """``search`` of the csv type against the former per-cell ``to_object``."""

    @settings(
        max_examples=300,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(csv_files())
    def test_search_is_the_reference(
        self, tmp_path: Path, file: tuple[list[str], dict[str, Any], list[list[str]]]
    ) -> None:
        header, config, rows = file
        root = tmp_path / "files"
        root.mkdir(exist_ok=True)
        path = root / "people.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        conn = open_csv(root, **config)
        expected = outcome(lambda: reference_csv_search(conn, path, ","))
        assert outcome(lambda: conn.search("account", 10)) == expected
        # get, create and update use to_object too: each row alone agrees as well
        with conn._csv_reader() as (layout, _reader, _format):
            for line, row in enumerate(rows, start=2):
                want = outcome(lambda row=row, line=line: [reference_to_object(layout, row, line)])
                assert outcome(lambda row=row, line=line: [layout.to_object(row, line)]) == want

    def test_a_full_text_row_is_its_cells(self, tmp_path: Path) -> None:
        root = tmp_path / "files"
        root.mkdir()
        (root / "people.csv").write_text(
            "id,login,mail\n1,alice,a@x\n2,,b@x\n3,carol\n\n,,\n4,dave,d@x\n"
        )
        objects = list(open_csv(root, uid_column="id", name_column="login").search("account", 1))
        assert [(o.uid, o.name, o.attributes) for o in objects] == [
            ("1", "alice", {"id": "1", "login": "alice", "mail": "a@x"}),
            ("2", "2", {"id": "2", "mail": "b@x"}),
            ("3", "carol", {"id": "3", "login": "carol"}),
            ("4", "dave", {"id": "4", "login": "dave", "mail": "d@x"}),
        ]

    def test_errors_name_their_line_after_the_rows_before_them(self, tmp_path: Path) -> None:
        root = tmp_path / "files"
        root.mkdir()
        (root / "people.csv").write_text('id,n\n1,2\n"2\nx",3\n3,4,5\n')
        conn = open_csv(root, uid_column="id", columns={"n": "integer"})
        read, error = outcome(lambda: conn.search("account", 10))
        assert [r[1] for r in read] == [("str", "'1'"), ("str", "'2\\nx'")]
        assert error == "TargetRejected: line 5 has more cells than the header"
        (root / "people.csv").write_text("id,n\n1,2\n2,x\n")
        read, error = outcome(lambda: conn.search("account", 10))
        assert len(read) == 1
        assert error == "TargetRejected: line 3, column 'n' is not an integer"
