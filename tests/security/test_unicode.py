"""(e) Unicode names: stored and answered exactly, compared case-insensitively, bounded.

Connector names are any Unicode text without NUL, CR or LF (Hypothesis-generated: any
script, emoji, combining marks, right-to-left text, zero-width characters): created,
read, listed and renamed, they come back unchanged (no normalization), at most 128 code
points. Names that differ only by case (Unicode case folding) collide. Identity
attributes and the accounts of a csv file named and filled in Unicode come back exactly.
"""

from __future__ import annotations

import json
import unicodedata
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security import counts
from tests.security.conftest import Api
from xavyo_connectors_core.connectors import MAX_NAME_LENGTH
from xavyo_connectors_core.worker import Worker

PART = "unicode"

NAME_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00\r\n")
NAMES = st.text(NAME_CHARS, min_size=1, max_size=MAX_NAME_LENGTH).filter(lambda n: n.strip())

_settings = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _vault(name: str) -> dict[str, object]:
    return {"name": name, "type": "vault", "config": {"url": "https://vault.example"}}


class TestUnicodeNames:
    @_settings
    @given(name=NAMES, rename=NAMES)
    def test_a_unicode_name_comes_back_exactly(
        self, shared_api: Api, name: str, rename: str
    ) -> None:
        """Create, read, list, rename: byte for byte the same; a case variant collides."""
        api = shared_api
        tag = uuid.uuid4().hex[:6]
        name, rename = (
            f"{name[: MAX_NAME_LENGTH - 6]}{tag}",
            f"{tag}{rename[: MAX_NAME_LENGTH - 6]}",
        )
        created = api.admin.post("/connectors", json=_vault(name))
        assert created.status_code == 201, created.text
        assert created.json()["name"] == name
        url = created.headers["location"]
        assert api.admin.get(url).json()["name"] == name
        names = [
            c["name"] for c in api.admin.get("/connectors", params={"limit": 500}).json()["items"]
        ]
        assert name in names
        # the same name in any case is taken (case folding), the answer never echoes it raw
        variant = api.admin.post("/connectors", json=_vault(name.swapcase()))
        if len(name.swapcase()) > MAX_NAME_LENGTH:  # "ß".swapcase() == "SS"
            assert variant.status_code == 422, variant.text
        elif name.swapcase().casefold() == name.casefold():
            assert variant.status_code == 409, variant.text
        else:
            assert variant.status_code == 201, variant.text
            api.admin.delete(variant.headers["location"])
        counts.tried(PART)
        renamed = api.admin.patch(url, json={"name": rename})
        assert renamed.status_code == 200, renamed.text
        assert api.admin.get(url).json()["name"] == rename
        assert api.admin.delete(url).status_code == 204
        counts.tried(PART, 5)

    @pytest.mark.parametrize(
        ("name", "why"),
        [
            ("a\x00b", "NUL"),
            ("a\nb", "LF"),
            ("a\rb", "CR"),
            (" \t\u3000 ", "only white space"),
            ("", "empty"),
            ("\U0001f600" * (MAX_NAME_LENGTH + 1), "129 code points"),
        ],
    )
    def test_invalid_names_are_refused_by_path(self, shared_api: Api, name: str, why: str) -> None:
        response = shared_api.admin.post("/connectors", json=_vault(name))
        assert response.status_code == 422, (why, response.text)
        assert [e["path"] for e in response.json()["errors"]] == ["name"]
        counts.tried(PART)

    def test_the_longest_name_is_counted_in_code_points(self, shared_api: Api) -> None:
        """128 four-byte emoji (512 bytes in UTF-8) is a valid name."""
        name = "\U0001f600" * (MAX_NAME_LENGTH - 6) + uuid.uuid4().hex[:6]
        response = shared_api.admin.post("/connectors", json=_vault(name))
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name
        counts.tried(PART)

    def test_a_lone_surrogate_is_refused_not_a_server_error(self, shared_api: Api) -> None:
        """``"\\ud800"`` is valid JSON but no Unicode text: refused, never a 500."""
        body = json.dumps(_vault("x")).replace('"x"', '"bad\\ud800name"').encode()
        response = shared_api.admin.post(
            "/connectors", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        counts.tried(PART)

    def test_normalization_forms_are_kept_apart_and_exact(self, shared_api: Api) -> None:
        """NFC and NFD spellings are stored as sent (no silent normalization)."""
        tag = uuid.uuid4().hex[:6]
        nfc = unicodedata.normalize("NFC", f"café-{tag}")
        nfd = unicodedata.normalize("NFD", f"café-{tag}")
        for name in (nfc, nfd):
            response = shared_api.admin.post("/connectors", json=_vault(name))
            assert response.status_code == 201, response.text
            assert response.json()["name"] == name
            counts.tried(PART)


class TestUnicodeData:
    @_settings
    @given(value=st.text(NAME_CHARS, max_size=64))
    def test_identity_attribute_values_come_back_exactly(self, shared_api: Api, value: str) -> None:
        created = shared_api.admin.post(
            "/identities", json={"attributes": {"display_name": value, "tags": [value, "x"]}}
        )
        assert created.status_code == 201, created.text
        read = shared_api.admin.get(created.headers["location"]).json()
        assert read["attributes"] == {"display_name": value, "tags": [value, "x"]}
        counts.tried(PART)

    def test_a_unicode_csv_file_syncs_to_exact_accounts(self, api: Api) -> None:
        """A csv at a Unicode path with Unicode uids and names: accounts show them exactly."""
        people = [("Ünïcødé-1", "Zoë Ångström"), ("日本-2", "山田 太郎"), ("😀-3", "עִבְרִית")]
        folder = api.deps.files_root / "données"  # type: ignore[operator]
        folder.mkdir()
        lines = ["employee_id,display"] + [f"{uid},{name}" for uid, name in people]
        (folder / "naïve ü.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        created = api.admin.post(
            "/connectors",
            json={
                "name": "Personal — ñ",
                "type": "csv",
                "role": "source",
                "config": {
                    "path": "données/naïve ü.csv",
                    "uid_column": "employee_id",
                    "name_column": "display",
                },
            },
        )
        assert created.status_code == 201, created.text
        url = created.headers["location"]
        assert api.admin.post(f"{url}/test").json()["ok"] is True
        assert api.admin.post(f"{url}/sync", json={"mode": "full"}).status_code == 202
        Worker(api.deps, owner="unicode").drain()
        items = api.admin.get(f"{url}/accounts").json()["items"]
        assert sorted((a["uid"], a["name"]) for a in items) == sorted(people)
        counts.tried(PART, len(people))
