"""(f) Path traversal in every file-valued config field is a 422 (SPEC §3.8).

The file-valued fields are read off the registry (every ``ConfigField(path=True)``), plus
the ``sql`` type's ``url`` in its ``sqlite:///relative.db`` form. Each gets every escape:
``..`` in all spellings, absolute POSIX and Windows paths, UNC, percent-encoded dots (the
sqlite URL is unquoted), NUL, the root itself, and symlinks leading out (a file and a
directory). On create and on update: a 422 naming the field, and no file appears outside
the root. A symlink swapped in after the connector was created is refused when opened:
the outside file's content never shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security import counts
from tests.security.conftest import Api
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.worker import Worker

PART = "path traversal"

ESCAPES = [
    "..",
    "../outside.csv",
    "../../../../etc/passwd",
    "a/../../outside.csv",
    "a/b/../../../outside.csv",
    "./../outside.csv",
    "x/..",
    "/etc/passwd",
    "/tmp/outside.csv",
    "//etc/passwd",
    "..\\outside.csv",
    "a\\..\\..\\outside.csv",
    "\\outside.csv",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "c:outside.csv",
    "\\\\server\\share\\outside.csv",
    "a\x00.csv",
    "",
    " ",
    ".",
    "./",
    "link-out.csv",
    "dir-out/outside.csv",
    "dir-out/../../outside.csv",
]
SQLITE_ONLY = [
    "%2e%2e/outside.db",
    "%2E%2E%2Foutside.db",
    "%2Fetc%2Fpasswd",
    "a/%2e%2e/%2e%2e/x.db",
]


def _fields() -> list[tuple[str, str, str]]:
    """(type, field, wrapper) of every file-valued config field; wrapper formats a path."""
    found = [
        (ctype.key, f.name, "{}")
        for ctype in default_registry().types()
        for f in ctype.config_spec
        if f.path
    ]
    return [*found, ("sql", "url", "sqlite:///{}")]


FIELDS = _fields()
BASE_CONFIG: dict[str, dict[str, Any]] = {
    "csv": {"uid_column": "id"},
    "sql": {"table": "users", "uid_column": "id"},
}
EXISTING = {"csv": "hr", "sql": "app"}  # the world's connector of each type


def _payloads(wrapper: str) -> list[str]:
    extra = SQLITE_ONLY if wrapper.startswith("sqlite") else []
    return [wrapper.format(p) for p in [*ESCAPES, *extra]] + (
        ["sqlite:////etc/passwd", "sqlite://host/x.db"] if extra else []
    )


@pytest.fixture
def outside(api: Api) -> Path:
    """A directory next to the files root, with a file; symlinks in the root lead to it."""
    root = api.deps.files_root
    assert root is not None
    out = root.parent / "outside"
    out.mkdir()
    (out / "outside.csv").write_text("id,name\nLEAKED-ROW,leaked\n", encoding="utf-8")
    os.symlink(out / "outside.csv", root / "link-out.csv")
    os.symlink(out, root / "dir-out")
    return out


def test_every_file_valued_field_is_covered() -> None:
    assert ("csv", "path", "{}") in FIELDS and ("sql", "url", "sqlite:///{}") in FIELDS
    assert {t for t, _, _ in FIELDS} <= set(BASE_CONFIG)
    assert sum(len(_payloads(w)) for _, _, w in FIELDS) >= 50


@pytest.mark.parametrize(("ctype", "field", "wrapper"), FIELDS, ids=lambda v: str(v))
def test_every_escape_is_refused_on_create_and_update(
    api: Api, outside: Path, ctype: str, field: str, wrapper: str
) -> None:
    before = sorted(p.name for p in outside.parent.iterdir())
    existing = getattr(api.acme, EXISTING[ctype])
    current = api.admin.get(f"/connectors/{existing}").json()
    for n, value in enumerate(_payloads(wrapper)):
        config = {**BASE_CONFIG[ctype], field: value}
        created = api.admin.post(
            "/connectors", json={"name": f"escape-{ctype}-{n}", "type": ctype, "config": config}
        )
        assert created.status_code == 422, (value, created.text)
        assert f"config.{field}" in [e["path"] for e in created.json()["errors"]], created.text
        updated = api.admin.patch(f"/connectors/{existing}", json={"config": {field: value}})
        assert updated.status_code == 422, (value, updated.text)
        assert f"config.{field}" in [e["path"] for e in updated.json()["errors"]], updated.text
        counts.tried(PART, 2)
    assert n >= 24
    assert api.admin.get(f"/connectors/{existing}").json()["version"] == current["version"]
    assert sorted(p.name for p in outside.parent.iterdir()) == before, "a file appeared outside"
    assert sorted(p.name for p in outside.iterdir()) == ["outside.csv"]


def test_a_symlink_swapped_in_later_is_refused_when_opened(api: Api, outside: Path) -> None:
    """Created for a file inside, then the file becomes a link out: test, sync never read it."""
    root = api.deps.files_root
    assert root is not None
    (root / "later.csv").write_text("id,name\nA1,inside\n", encoding="utf-8")
    created = api.admin.post(
        "/connectors",
        json={
            "name": "swapped",
            "type": "csv",
            "role": "source",
            "config": {"path": "later.csv", "uid_column": "id", "name_column": "name"},
        },
    )
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    (root / "later.csv").unlink()
    os.symlink(outside / "outside.csv", root / "later.csv")
    tested = api.admin.post(f"{url}/test")
    assert tested.status_code == 200 and tested.json()["ok"] is False, tested.text
    schema = api.admin.get(f"{url}/schema")
    assert schema.status_code in (422, 502), schema.text
    assert api.admin.post(f"{url}/sync", json={"mode": "full"}).status_code == 202
    Worker(api.deps, owner="traversal").drain()
    status = api.admin.get(f"{url}/sync/status").json()
    assert status["last_run"]["status"] == "failed", status
    for answer in (tested, schema, api.admin.get(f"{url}/accounts")):
        assert "LEAKED" not in answer.text
    counts.tried(PART, 4)
