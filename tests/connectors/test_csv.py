"""The csv connector type against real files (SPEC §5)."""

from __future__ import annotations

import csv
import fcntl
import os
import stat
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xavyo_connectors_core.config import validate_config
from xavyo_connectors_core.errors import (
    AccountExists,
    AccountNotFound,
    TargetRejected,
    TargetUnavailable,
)
from xavyo_connectors_core.model import AttributeDelta, AttributeType, DeltaOp
from xavyo_connectors_core.spi import ConnectorObject, OpenContext
from xavyo_connectors_core.types.csv import TYPE, CsvConnection

HEADER = "id,login,age,admin,groups,active,hired\n"
ROWS = "1,alice,30,yes,staff;ops,true,2020-01-02T03:04:05Z\n2,bob,,0,,false,\n3,,41,TRUE,dev,,\n"
TYPED = {
    "uid_column": "id",
    "name_column": "login",
    "columns": {"age": "integer", "admin": "boolean", "groups": "string[]", "hired": "datetime"},
    "multivalue_delimiter": ";",
    "enabled_column": "active",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    return root


def connect(root: Path, **config: Any) -> CsvConnection:
    """Open the csv type as the core does: validate the config, then open."""
    config.setdefault("path", "people.csv")
    config.setdefault("uid_column", "id")
    normalized, errors = validate_config(TYPE, config, {}, files_root=root)
    assert errors == []
    return TYPE.open(normalized, {}, OpenContext(files_root=root))


@pytest.fixture
def people(root: Path) -> CsvConnection:
    (root / "people.csv").write_text(HEADER + ROWS)
    return connect(root, **TYPED)


def rows_of(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def by_uid(conn: CsvConnection) -> dict[str, ConnectorObject]:
    return {o.uid: o for o in conn.search("account", 100)}


class TestTest:
    def test_ok(self, people: CsvConnection) -> None:
        """test() opens the file and reads the header."""
        with people as conn:
            assert conn.test() == "ok: 7 columns"

    def test_missing_file(self, root: Path) -> None:
        """A missing file is TargetUnavailable naming the path relative to the root."""
        conn = connect(root, path="sub/none.csv")
        with pytest.raises(TargetUnavailable) as info:
            conn.test()
        assert "'sub/none.csv'" in info.value.detail
        assert str(root) not in info.value.detail
        assert info.value.__cause__ is None and info.value.__suppress_context__

    def test_empty_file(self, root: Path) -> None:
        """A file without a header row is rejected."""
        (root / "people.csv").write_text("")
        with pytest.raises(TargetRejected, match="no header"):
            connect(root).test()

    def test_header_must_hold_configured_columns(self, root: Path) -> None:
        """Configured columns missing from the header fail the test, naming them."""
        (root / "people.csv").write_text("id,mail\n")
        with pytest.raises(TargetRejected, match="'login'"):
            connect(root, name_column="login").test()
        with pytest.raises(TargetRejected, match="'nope'"):
            connect(root, columns={"nope": "integer"}).test()
        with pytest.raises(TargetRejected, match="uid_column"):
            connect(root, uid_column="uid").test()

    def test_duplicate_header(self, root: Path) -> None:
        """A header that repeats a column is rejected."""
        (root / "people.csv").write_text("id,mail,mail\n")
        with pytest.raises(TargetRejected, match="repeats"):
            connect(root).test()

    def test_directory(self, root: Path) -> None:
        """A path naming a directory is rejected."""
        (root / "dir").mkdir()
        with pytest.raises(TargetRejected, match="directory"):
            connect(root, path="dir").test()


class TestConfig:
    @pytest.mark.parametrize(
        ("config", "path"),
        [
            ({"delimiter": ";;"}, "config.delimiter"),
            ({"delimiter": '"'}, "config.delimiter"),
            ({"encoding": "klingon"}, "config.encoding"),
            ({"columns": {"age": "float"}}, "config.columns.age"),
            ({"columns": {"age": 5}}, "config.columns.age"),
            ({"columns": {"groups": "string[]"}}, "config.columns.groups"),
            (
                {"columns": {"id": "string[]"}, "multivalue_delimiter": ";"},
                "config.columns.id",
            ),
            (
                {"enabled_column": "active", "columns": {"active": "string"}},
                "config.columns.active",
            ),
            ({"enabled_column": "id"}, "config.enabled_column"),
            ({"multivalue_delimiter": ""}, "config.multivalue_delimiter"),
            ({"path": "../out.csv"}, "config.path"),
            ({"path": "/etc/passwd"}, "config.path"),
            ({"sheet": 1}, "config.sheet"),
            ({"uid_column": None}, "config.uid_column"),
        ],
    )
    def test_invalid(self, root: Path, config: dict[str, Any], path: str) -> None:
        """Each invalid setting is reported at its path."""
        full = {"path": "people.csv", "uid_column": "id", **config}
        _, errors = validate_config(TYPE, full, {}, files_root=root)
        assert [e.path for e in errors] == [path]

    def test_secrets_refused(self, root: Path) -> None:
        """The csv type has no secrets."""
        _, errors = validate_config(
            TYPE, {"path": "p.csv", "uid_column": "id"}, {"password": "x"}, files_root=root
        )
        assert [e.path for e in errors] == ["secrets.password"]

    def test_defaults(self, root: Path) -> None:
        """Defaults are filled in: delimiter, encoding, columns, timeout."""
        config, errors = validate_config(
            TYPE, {"path": "p.csv", "uid_column": "id"}, {}, files_root=root
        )
        assert errors == []
        assert config == {
            "path": "p.csv",
            "uid_column": "id",
            "delimiter": ",",
            "encoding": "utf-8",
            "columns": {},
            "timeout_seconds": 10,
        }

    def test_path_escape_rejected_at_open(self, root: Path, tmp_path: Path) -> None:
        """A path leading out of the files root (here a symlink) is refused at open."""
        (tmp_path / "secret.csv").write_text("id\n1\n")
        os.symlink(tmp_path / "secret.csv", root / "people.csv")
        config = {"path": "people.csv", "uid_column": "id"}
        with pytest.raises(TargetRejected, match=r"config\.path"):
            TYPE.open(config, {}, OpenContext(files_root=root))
        for bad in ("../secret.csv", str(tmp_path / "secret.csv")):
            with pytest.raises(TargetRejected, match=r"config\.path"):
                TYPE.open({**config, "path": bad}, {}, OpenContext(files_root=root))

    def test_open_rejects_invalid_config(self, root: Path) -> None:
        """open() validates too: a config that skipped validation is rejected."""
        with pytest.raises(TargetRejected, match="uid_column"):
            TYPE.open({"path": "p.csv"}, {}, OpenContext(files_root=root))

    def test_type_hooks(self) -> None:
        """The account object class is account; disabling needs an enabled column."""
        assert TYPE.account_object_class({}) == "account"
        assert TYPE.can_disable({"enabled_column": "active"})
        assert not TYPE.can_disable({})
        assert TYPE.enabled_attribute({"enabled_column": "active"}) == "active"


class TestSchema:
    def test_typed_schema(self, people: CsvConnection) -> None:
        """The schema comes from the header and the configured column types."""
        schema = people.schema()
        assert schema.discovered_at.tzinfo is not None
        (oc,) = schema.object_classes
        assert (oc.name, oc.uid_attribute, oc.name_attribute) == ("account", "id", "login")
        types = {a.name: (a.type, a.multivalued) for a in oc.attributes}
        assert types == {
            "id": (AttributeType.STRING, False),
            "login": (AttributeType.STRING, False),
            "age": (AttributeType.INTEGER, False),
            "admin": (AttributeType.BOOLEAN, False),
            "groups": (AttributeType.STRING, True),
            "active": (AttributeType.BOOLEAN, False),
            "hired": (AttributeType.DATETIME, False),
        }
        uid = oc.attribute("id")
        assert uid is not None and uid.required and not uid.updateable and uid.creatable
        age = oc.attribute("age")
        assert age is not None and age.updateable and not age.required

    def test_name_defaults_to_uid(self, root: Path) -> None:
        """Without name_column, the uid column is the name attribute."""
        (root / "people.csv").write_text("id,mail\n")
        (oc,) = connect(root).schema().object_classes
        assert oc.name_attribute == "id"


class TestSearch:
    def test_typed_values(self, people: CsvConnection) -> None:
        """Cells are typed; empty cells are absent; the name falls back to the uid."""
        objects = by_uid(people)
        assert list(objects) == ["1", "2", "3"]
        assert objects["1"] == ConnectorObject(
            uid="1",
            name="alice",
            attributes={
                "id": "1",
                "login": "alice",
                "age": 30,
                "admin": True,
                "groups": ["staff", "ops"],
                "active": True,
                "hired": "2020-01-02T03:04:05Z",
            },
        )
        assert objects["2"].attributes == {
            "id": "2",
            "login": "bob",
            "admin": False,
            "active": False,
        }
        assert objects["3"].name == "3"
        assert objects["3"].attributes == {"id": "3", "age": 41, "admin": True, "groups": ["dev"]}

    @pytest.mark.parametrize(
        ("row", "column"),
        [("4,x,forty,,,,", "age"), ("4,x,,maybe,,,", "admin"), ("4,x,,,,perhaps,", "active")],
    )
    def test_bad_cells(self, root: Path, row: str, column: str) -> None:
        """A cell that does not fit its type is rejected with its line and column only."""
        (root / "people.csv").write_text(HEADER + ROWS + row + "\n")
        conn = connect(root, **TYPED)
        with pytest.raises(TargetRejected) as info:
            list(conn.search("account", 10))
        assert "line 5" in info.value.detail
        assert repr(column) in info.value.detail
        for value in ("forty", "maybe", "perhaps"):
            assert value not in info.value.detail

    def test_row_without_uid(self, root: Path) -> None:
        """A row with cells but no uid is an error; blank lines are skipped."""
        (root / "people.csv").write_text("id,mail\n\n1,a\n,,\n,b\n")
        with pytest.raises(TargetRejected, match="line 5 has no value in the uid column"):
            list(connect(root).search("account", 10))

    def test_row_too_long(self, root: Path) -> None:
        """A row with more cells than the header is an error."""
        (root / "people.csv").write_text("id,mail\n1,a,extra\n")
        with pytest.raises(TargetRejected, match="more cells"):
            list(connect(root).search("account", 10))

    def test_short_rows_quoted_cells_bom_and_dialect(self, root: Path) -> None:
        """Short rows, quoted cells with delimiters and newlines, a BOM and ';' all read."""
        content = '\ufeffid;mail;note\r\n1;a@x;"semi;colon\r\nnewline"\r\n2;b@x\r\n'
        (root / "people.csv").write_bytes(content.encode("utf-8"))
        objects = by_uid(connect(root, delimiter=";"))
        assert objects["1"].attributes["note"] == "semi;colon\r\nnewline"
        assert objects["2"].attributes == {"id": "2", "mail": "b@x"}

    def test_encoding(self, root: Path) -> None:
        """The configured encoding is used; a file that is not in it is rejected."""
        (root / "people.csv").write_bytes("id,name\n1,Zoë\n".encode("latin-1"))
        assert by_uid(connect(root, encoding="latin-1"))["1"].attributes["name"] == "Zoë"
        with pytest.raises(TargetRejected, match="not valid utf-8"):
            list(connect(root).search("account", 10))

    def test_unknown_object_class(self, people: CsvConnection) -> None:
        """Only the account object class exists."""
        with pytest.raises(TargetRejected, match="object class"):
            people.search("group", 10)
        with pytest.raises(TargetRejected, match="object class"):
            people.get("group", "1")

    def test_lazy(self, root: Path) -> None:
        """search() opens the file only when the first object is asked for."""
        conn = connect(root, path="later.csv")
        stream = conn.search("account", 10)
        (root / "later.csv").write_text("id\n1\n")
        assert [o.uid for o in stream] == ["1"]

    def test_streams_10k_rows(self, root: Path) -> None:
        """10,000 rows stream in order with flat memory: never the whole file at once."""
        count = 10_000
        with (root / "people.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "mail", "given", "family", "dept", "age", "note"])
            for i in range(count):
                writer.writerow(
                    [
                        f"u{i:05}",
                        f"user{i}@example.com",
                        "Given" * 4,
                        "Family" * 4,
                        "D",
                        i,
                        "n" * 80,
                    ]
                )
        size = (root / "people.csv").stat().st_size
        conn = connect(root, columns={"age": "integer"})

        tracemalloc.start()
        try:
            seen = 0
            for obj in conn.search("account", 500):
                assert obj.uid == f"u{seen:05}"
                assert obj.attributes["age"] == seen
                seen += 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert seen == count
        assert peak < size / 4, f"peak {peak} bytes for a {size}-byte file"

    def test_abandoned_stream_closes_file(self, people: CsvConnection) -> None:
        """Stopping a search early closes the file (no ResourceWarning)."""
        stream = people.search("account", 1)
        assert next(stream).uid == "1"
        stream.close()


class TestGet:
    def test_get(self, people: CsvConnection) -> None:
        """get returns one typed account."""
        assert people.get("account", "1").attributes["groups"] == ["staff", "ops"]

    def test_get_missing(self, people: CsvConnection) -> None:
        """An unknown uid is AccountNotFound."""
        with pytest.raises(AccountNotFound):
            people.get("account", "99")


class TestWrites:
    def test_create(self, people: CsvConnection, root: Path) -> None:
        """create appends a row and returns the account as it reads back."""
        created = people.create(
            "account",
            {"id": "4", "login": "dave", "age": "52", "groups": ["a", "b"], "active": True},
        )
        assert created == ConnectorObject(
            "4",
            "dave",
            {"id": "4", "login": "dave", "age": 52, "groups": ["a", "b"], "active": True},
        )
        assert people.get("account", "4") == created
        assert rows_of(root / "people.csv")[-1] == ["4", "dave", "52", "", "a;b", "true", ""]

    def test_create_existing(self, people: CsvConnection, root: Path) -> None:
        """Creating a uid that exists is AccountExists, and the file is unchanged."""
        before = (root / "people.csv").read_bytes()
        with pytest.raises(AccountExists) as info:
            people.create("account", {"id": "2", "login": "bob2"})
        assert info.value.uid == "2"
        assert (root / "people.csv").read_bytes() == before

    @pytest.mark.parametrize(
        ("attributes", "match"),
        [
            ({"login": "x"}, "uid attribute 'id' is required"),
            ({"id": "", "login": "x"}, "uid attribute 'id' is required"),
            ({"id": "9", "shoe_size": 42}, "unknown attribute 'shoe_size'"),
            ({"id": "9", "age": "old"}, "'age' must be an integer"),
            ({"id": "9", "age": True}, "'age' must be an integer"),
            ({"id": "9", "admin": "perhaps"}, "'admin' must be a boolean"),
            ({"id": "9", "login": ["a", "b"]}, "'login' is single-valued"),
            ({"id": "9", "groups": ["a;b"]}, "multivalue delimiter"),
            ({"id": "9", "login": {"x": 1}}, "'login' must be text"),
        ],
    )
    def test_create_rejected(
        self, people: CsvConnection, root: Path, attributes: dict[str, Any], match: str
    ) -> None:
        """Bad creates are TargetRejected and change nothing."""
        before = (root / "people.csv").read_bytes()
        with pytest.raises(TargetRejected, match=match):
            people.create("account", attributes)
        assert (root / "people.csv").read_bytes() == before

    def test_create_matches_columns_case_insensitively(self, people: CsvConnection) -> None:
        """Attribute names match columns regardless of case, as schema lookups do."""
        created = people.create("account", {"ID": "5", "Login": "eve"})
        assert created.name == "eve"

    def test_update_replace_add_remove(self, people: CsvConnection) -> None:
        """Deltas replace single values and add/remove values of multivalued columns."""
        updated = people.update(
            "account",
            "1",
            [
                AttributeDelta("login", DeltaOp.REPLACE, ("alicia",)),
                AttributeDelta("age", DeltaOp.REPLACE, (31,)),
                AttributeDelta("groups", DeltaOp.ADD, ("dev", "ops")),
                AttributeDelta("groups", DeltaOp.REMOVE, ("staff",)),
                AttributeDelta("hired", DeltaOp.REMOVE, ()),
            ],
        )
        assert updated.name == "alicia"
        assert updated.attributes == {
            "id": "1",
            "login": "alicia",
            "age": 31,
            "admin": True,
            "groups": ["ops", "dev"],
            "active": True,
        }
        assert people.get("account", "1") == updated
        assert by_uid(people)["2"].attributes["login"] == "bob"  # others untouched

    def test_update_multivalue_replace_and_clear(self, people: CsvConnection) -> None:
        """Replace sets the whole list; removing every value clears the cell."""
        people.update("account", "2", [AttributeDelta("groups", DeltaOp.REPLACE, ("x", "y", "x"))])
        assert people.get("account", "2").attributes["groups"] == ["x", "y"]
        people.update("account", "2", [AttributeDelta("groups", DeltaOp.REMOVE, ("x", "y"))])
        assert "groups" not in people.get("account", "2").attributes

    def test_update_single_valued_add_remove(self, people: CsvConnection) -> None:
        """On a single-valued column, add fills an empty cell and remove clears a match."""
        people.update("account", "2", [AttributeDelta("age", DeltaOp.ADD, (7,))])
        assert people.get("account", "2").attributes["age"] == 7
        people.update("account", "2", [AttributeDelta("age", DeltaOp.REMOVE, (8,))])
        assert people.get("account", "2").attributes["age"] == 7
        people.update("account", "2", [AttributeDelta("age", DeltaOp.REMOVE, ("7",))])
        assert "age" not in people.get("account", "2").attributes
        with pytest.raises(TargetRejected, match="single-valued"):
            people.update("account", "1", [AttributeDelta("age", DeltaOp.ADD, (1,))])

    def test_disable_through_enabled_column(self, people: CsvConnection) -> None:
        """Disabling is replacing the enabled column with false."""
        people.update("account", "1", [AttributeDelta("active", DeltaOp.REPLACE, (False,))])
        assert people.get("account", "1").attributes["active"] is False

    def test_update_missing(self, people: CsvConnection, root: Path) -> None:
        """Updating an unknown uid is AccountNotFound and changes nothing."""
        before = (root / "people.csv").read_bytes()
        with pytest.raises(AccountNotFound):
            people.update("account", "99", [AttributeDelta("age", DeltaOp.REPLACE, (1,))])
        assert (root / "people.csv").read_bytes() == before

    @pytest.mark.parametrize(
        ("delta", "match"),
        [
            (AttributeDelta("nope", DeltaOp.REPLACE, ("x",)), "unknown attribute 'nope'"),
            (AttributeDelta("id", DeltaOp.REPLACE, ("7",)), "cannot be updated"),
            (AttributeDelta("age", DeltaOp.REPLACE, (1, 2)), "single-valued"),
            (AttributeDelta("admin", DeltaOp.REPLACE, ("sure",)), "must be a boolean"),
        ],
    )
    def test_update_rejected(
        self, people: CsvConnection, root: Path, delta: AttributeDelta, match: str
    ) -> None:
        """Bad updates are TargetRejected and change nothing."""
        before = (root / "people.csv").read_bytes()
        with pytest.raises(TargetRejected, match=match):
            people.update("account", "1", [delta])
        assert (root / "people.csv").read_bytes() == before

    def test_uid_replace_with_same_value_is_a_no_op(self, people: CsvConnection) -> None:
        """Replacing the uid with itself is allowed."""
        people.update("account", "1", [AttributeDelta("id", DeltaOp.REPLACE, ("1",))])
        assert people.get("account", "1").uid == "1"

    def test_delete(self, people: CsvConnection) -> None:
        """delete removes the row; deleting it again is AccountNotFound."""
        people.delete("account", "2")
        assert list(by_uid(people)) == ["1", "3"]
        with pytest.raises(AccountNotFound):
            people.delete("account", "2")

    def test_round_trip(self, root: Path) -> None:
        """create, get, update, delete on an empty file leave a header-only file."""
        (root / "people.csv").write_text("id,mail,tags\n")
        conn = connect(root, columns={"tags": "string[]"}, multivalue_delimiter="|")
        conn.create("account", {"id": "a", "mail": "a@x", "tags": ["t1"]})
        conn.update("account", "a", [AttributeDelta("tags", DeltaOp.ADD, ("t2",))])
        assert conn.get("account", "a").attributes == {
            "id": "a",
            "mail": "a@x",
            "tags": ["t1", "t2"],
        }
        conn.delete("account", "a")
        assert (root / "people.csv").read_text() == "id,mail,tags\n"


class TestAtomicity:
    def test_no_temp_files_and_mode_kept(self, people: CsvConnection, root: Path) -> None:
        """Rewrites leave only the file and its lock file, with the file's mode kept."""
        os.chmod(root / "people.csv", 0o640)
        people.create("account", {"id": "4"})
        people.update("account", "4", [AttributeDelta("login", DeltaOp.REPLACE, ("d",))])
        people.delete("account", "4")
        with pytest.raises(AccountExists):
            people.create("account", {"id": "1"})
        assert sorted(p.name for p in root.iterdir()) == [".people.csv.lock", "people.csv"]
        assert stat.S_IMODE((root / "people.csv").stat().st_mode) == 0o640

    def test_line_endings_and_bom_kept(self, root: Path) -> None:
        """A CRLF file with a BOM stays CRLF with a BOM after a rewrite."""
        (root / "people.csv").write_bytes(b"\xef\xbb\xbfid,mail\r\n1,a\r\n")
        connect(root).create("account", {"id": "2", "mail": "b"})
        assert (root / "people.csv").read_bytes() == b"\xef\xbb\xbfid,mail\r\n1,a\r\n2,b\r\n"

    def test_reader_sees_a_consistent_file(self, people: CsvConnection) -> None:
        """A search started before a write finishes on the old file."""
        stream = people.search("account", 1)
        assert next(stream).uid == "1"
        people.delete("account", "2")
        people.create("account", {"id": "9"})
        assert [o.uid for o in stream] == ["2", "3"]
        assert list(by_uid(people)) == ["1", "3", "9"]

    def test_symlinked_file_replaced_in_place(self, root: Path) -> None:
        """A path that is a symlink inside the root rewrites its target, keeping the link."""
        (root / "data").mkdir()
        (root / "data" / "real.csv").write_text("id\n1\n")
        os.symlink("data/real.csv", root / "people.csv")
        connect(root).create("account", {"id": "2"})
        assert (root / "people.csv").is_symlink()
        assert (root / "data" / "real.csv").read_text() == "id\n1\n2\n"


class TestConcurrency:
    def test_threads_do_not_lose_writes(self, root: Path) -> None:
        """Writers in many threads, each with its own connection, lose nothing."""
        (root / "people.csv").write_text("id,n\n")
        threads, per_thread = 8, 15
        errors: list[BaseException] = []

        def work(t: int) -> None:
            conn = connect(root)
            try:
                for i in range(per_thread):
                    conn.create("account", {"id": f"{t}-{i}", "n": str(i)})
                    conn.update(
                        "account", f"{t}-{i}", [AttributeDelta("n", DeltaOp.REPLACE, ("x",))]
                    )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert errors == []
        objects = by_uid(connect(root))
        assert len(objects) == threads * per_thread
        assert all(o.attributes["n"] == "x" for o in objects.values())

    def test_processes_do_not_lose_writes(self, root: Path) -> None:
        """Writers in separate processes are serialized by the lock file."""
        (root / "people.csv").write_text("id\n")
        script = (
            "import sys\n"
            "from pathlib import Path\n"
            "from xavyo_connectors_core.spi import OpenContext\n"
            "from xavyo_connectors_core.types.csv import TYPE\n"
            "conn = TYPE.open({'path': 'people.csv', 'uid_column': 'id'}, {},"
            " OpenContext(Path(sys.argv[1])))\n"
            "for i in range(20):\n"
            "    conn.create('account', {'id': f'{sys.argv[2]}-{i}'})\n"
        )
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(root), str(p)]) for p in range(4)
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
        assert len(by_uid(connect(root))) == 80

    def test_busy_file_times_out(self, people: CsvConnection, root: Path) -> None:
        """A writer that cannot get the lock within timeout_seconds is TargetUnavailable."""
        conn = connect(root, timeout_seconds=0.2, **TYPED)
        fd = os.open(root / ".people.csv.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with pytest.raises(TargetUnavailable, match="another writer") as info:
                conn.create("account", {"id": "7"})
            assert info.value.retry_after == 1.0
        finally:
            os.close(fd)
        conn.create("account", {"id": "7"})


@pytest.fixture(autouse=True)
def _no_stray_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() == before
