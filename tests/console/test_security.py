"""Sessions, CSRF and roles of the console, over HTTP (no browser needed).

The same app as the browser tests (API + console at ``/console``) over the same seeded
SQLite store, driven by Starlette's ``TestClient``; no workers run, so actions only queue.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from tests.console.conftest import console_app
from tests.console.seed import SECRET, Seeded, seed
from xavyo_connectors_core import connectors, provisioning, runs
from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import OperationStatus
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_starlette.console import console_router
from xavyo_connectors_starlette.console.session import COOKIE_NAME, Session, SessionCodec

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deps, Seeded]]:
    from xavyo_connectors_core.stores.sqlite import SqliteStore

    root: Path = tmp_path_factory.mktemp("console-http")
    (root / "files").mkdir()
    store = SqliteStore(root / "xavyo.db")
    store.migrate()
    deps = Deps(
        store=store,
        registry=default_registry(),
        keyring=KeyRing([generate_key()]),
        clock=SystemClock(),
        files_root=root / "files",
    )
    yield deps, seed(deps)
    store.close()


@pytest.fixture
def deps(world: tuple[Deps, Seeded]) -> Deps:
    return world[0]


@pytest.fixture
def seeded(world: tuple[Deps, Seeded]) -> Seeded:
    return world[1]


@pytest.fixture
def client(deps: Deps) -> Iterator[TestClient]:
    with TestClient(console_app(deps), follow_redirects=False) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, token: str, next_path: str | None = None) -> str:
    """Sign in; return the CSRF token of the new session."""
    form = client.get("/console/sign-in")
    data = {"csrf_token": csrf_of(form.text), "token": token}
    if next_path is not None:
        data["next"] = next_path
    answer = client.post("/console/sign-in", data=data)
    assert answer.status_code == 303, answer.text
    page = client.get("/console/connectors")
    assert page.status_code == 200
    return csrf_of(page.text)


def run_count(deps: Deps, seeded: Seeded) -> int:
    return len(runs.list_runs(deps, seeded.tenant_id, limit=500).items)


class TestSessionCookie:
    def test_round_trip_and_tampering(self) -> None:
        """A sealed session opens with its key only; any flipped byte is no session."""
        codec = SessionCodec(b"k" * 32)
        session = Session.new("xvy_token-value-1234567890").with_flash("ok", "hi")
        sealed = codec.seal(session)
        assert codec.open(sealed) == session
        assert "xvy_token" not in sealed
        assert b"xvy_token" not in base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        assert codec.open(flipped) is None
        assert SessionCodec(b"x" * 32).open(sealed) is None
        assert codec.open("not base64 !") is None
        assert codec.open("") is None
        assert codec.open("A" * 5000) is None

    def test_expiry(self) -> None:
        """A session older than max_age (or from the future) counts as none."""
        codec = SessionCodec(b"k" * 32, max_age=60)
        session = Session.new("xvy_token-value-1234567890")
        sealed = codec.seal(session)
        assert codec.open(sealed, now=session.issued_at + 59) is not None
        assert codec.open(sealed, now=session.issued_at + 61) is None
        assert codec.open(sealed, now=session.issued_at - 3600) is None

    def test_keys_must_be_32_bytes(self) -> None:
        """A short key is refused when the console is built; the key never shows in repr."""
        with pytest.raises(ValueError, match="32 bytes"):
            console_router(session_key=b"short")
        with pytest.raises(ValueError, match="positive"):
            console_router(session_max_age=0)
        assert "k" * 32 not in repr(SessionCodec(b"k" * 32))


class TestSignIn:
    def test_pages_need_a_session(self, client: TestClient) -> None:
        """Without a session every page redirects to the sign-in form, remembering where."""
        answer = client.get("/console/runs?status=failed")
        assert answer.status_code == 303
        location = urlsplit(answer.headers["location"])
        assert location.path == "/console/sign-in"
        assert parse_qs(location.query)["next"] == ["/console/runs?status=failed"]
        status = client.get("/console/runs/00000000-0000-0000-0000-000000000000/status")
        assert status.status_code == 401
        assert status.headers["content-type"].startswith("application/problem+json")

    def test_a_wrong_token_is_refused_without_a_session(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        """A token that names no one: 401 on the form, still signed out."""
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form.text), "token": "xvy_not-a-real-token-at-all"},
        )
        assert answer.status_code == 401
        assert "That token is not valid." in answer.text
        assert "xvy_not-a-real-token-at-all" not in answer.text
        assert client.get("/console/connectors").status_code == 303

    def test_sign_in_form_is_csrf_protected(self, client: TestClient, seeded: Seeded) -> None:
        """A sign-in post from elsewhere (no token of the form's session) is a 403."""
        answer = client.post("/console/sign-in", data={"token": seeded.admin_token})
        assert answer.status_code == 403
        assert COOKIE_NAME not in answer.cookies

    def test_cookie_flags_and_redirect_target(self, client: TestClient, seeded: Seeded) -> None:
        """HttpOnly, SameSite=Strict, Path=/console; ``next`` must stay on the console."""
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={
                "csrf_token": csrf_of(form.text),
                "token": seeded.admin_token,
                "next": "/console/queue",
            },
        )
        assert answer.headers["location"] == "/console/queue"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/console" in cookie
        assert seeded.admin_token not in cookie

    @pytest.mark.parametrize(
        "target",
        ["//evil.example/x", "https://evil.example/", "/elsewhere", "/console/../api", "/\\evil"],
    )
    def test_no_open_redirect(self, client: TestClient, seeded: Seeded, target: str) -> None:
        """A ``next`` that leaves the console lands on the connectors page instead."""
        form = client.get("/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form.text), "token": seeded.admin_token, "next": target},
        )
        assert answer.headers["location"] == "/console/connectors"

    def test_tampered_cookie_is_signed_out(self, client: TestClient, seeded: Seeded) -> None:
        """A cookie that does not open is no session."""
        sign_in(client, seeded.admin_token)
        sealed = client.cookies[COOKIE_NAME]
        tampered = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
        client.cookies.clear()
        client.cookies.set(COOKIE_NAME, tampered)
        assert client.get("/console/connectors").status_code == 303
        client.cookies.clear()
        client.cookies.set(COOKIE_NAME, sealed)
        assert client.get("/console/connectors").status_code == 200

    def test_sign_out_clears_the_session(self, client: TestClient, seeded: Seeded) -> None:
        """After sign-out the old token is gone from the session: pages redirect again."""
        token = sign_in(client, seeded.admin_token)
        answer = client.post("/console/sign-out", data={"csrf_token": token})
        assert answer.status_code == 303
        assert client.get("/console/connectors").status_code == 303


class TestActions:
    def test_forged_post_is_refused_and_changes_nothing(
        self, client: TestClient, deps: Deps, seeded: Seeded
    ) -> None:
        """Signed in, but no CSRF token / another session's / cross-site: 403, no run queued."""
        token = sign_in(client, seeded.admin_token)
        before = run_count(deps, seeded)
        url = f"/console/connectors/{seeded.hr_id}/sync"
        assert client.post(url, data={}).status_code == 403
        assert client.post(url, data={"csrf_token": "x" * 43}).status_code == 403
        with TestClient(console_app(deps), follow_redirects=False) as other:
            other_token = sign_in(other, seeded.admin_token)
        assert other_token != token
        assert client.post(url, data={"csrf_token": other_token}).status_code == 403
        cross = client.post(
            url, data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
        assert run_count(deps, seeded) == before

    def test_reader_may_look_but_not_act(
        self, client: TestClient, deps: Deps, seeded: Seeded
    ) -> None:
        """A reader's pages carry no action forms; their posts are 403 like the API's."""
        token = sign_in(client, seeded.reader_token)
        page = client.get("/console/queue")
        assert "/retry" not in page.text and "/discard" not in page.text
        before = run_count(deps, seeded)
        answer = client.post(f"/console/connectors/{seeded.hr_id}/sync", data={"csrf_token": token})
        assert answer.status_code == 403
        assert "may only read" in answer.text
        dead = seeded.dead_ids[1]
        answer = client.post(f"/console/queue/dlq/{dead}/retry", data={"csrf_token": token})
        assert answer.status_code == 403
        op = provisioning.get_operation(deps, seeded.tenant_id, dead)
        assert op.status is OperationStatus.DEAD
        assert run_count(deps, seeded) == before

    def test_action_redirects_with_a_flash_shown_once(
        self, client: TestClient, seeded: Seeded
    ) -> None:
        """Post/redirect/get: the flash appears on the next page, then never again."""
        token = sign_in(client, seeded.admin_token)
        answer = client.post(
            f"/console/connectors/{seeded.hr_id}/test",
            data={"csrf_token": token, "return_to": "/console/connectors"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/connectors"
        assert "Connection test:" in client.get("/console/connectors").text
        assert "Connection test:" not in client.get("/console/connectors").text

    def test_core_errors_come_back_as_flashes(
        self, client: TestClient, deps: Deps, seeded: Seeded
    ) -> None:
        """A refused action (needs attention: 409) is an error flash, nothing queued."""
        token = sign_in(client, seeded.admin_token)
        before = run_count(deps, seeded)
        answer = client.post(
            f"/console/connectors/{seeded.legacy_id}/sync",
            data={"csrf_token": token, "return_to": f"/console/connectors/{seeded.legacy_id}"},
        )
        assert answer.status_code == 303
        page = client.get(answer.headers["location"])
        assert 'class="flash flash-error"' in page.text
        assert "fix them first" in page.text
        assert run_count(deps, seeded) == before

    def test_apply_needs_a_selection(self, client: TestClient, deps: Deps, seeded: Seeded) -> None:
        """ "Apply selected" with nothing selected applies nothing (never the whole plan)."""
        token = sign_in(client, seeded.admin_token)
        before = run_count(deps, seeded)
        run_id = "00000000-0000-0000-0000-000000000000"
        answer = client.post(f"/console/runs/{run_id}/apply", data={"csrf_token": token})
        assert answer.status_code == 303
        assert "Select at least one" in client.get("/console/connectors").text
        assert run_count(deps, seeded) == before

    def test_only_small_form_posts(self, client: TestClient, seeded: Seeded) -> None:
        """Anything but a form carries no CSRF token (403); oversized forms are 413."""
        token = sign_in(client, seeded.admin_token)
        url = f"/console/connectors/{seeded.hr_id}/test"
        assert client.post(url, json={"csrf_token": token}).status_code == 403
        multipart = client.post(url, data={"csrf_token": token}, files={"f": b"x"})
        assert multipart.status_code == 403
        big = {"csrf_token": token, "pad": "x" * 70_000}
        assert client.post(url, data=big).status_code == 413


class TestPages:
    def test_another_tenant_is_invisible(self, client: TestClient, seeded: Seeded) -> None:
        """Another tenant's connector is a 404 page, exactly like an unknown id."""
        sign_in(client, seeded.admin_token)
        assert "other-secret-feed" not in client.get("/console/connectors").text
        other = client.get(f"/console/connectors/{seeded.other_connector_id}")
        unknown = client.get("/console/connectors/00000000-0000-0000-0000-000000000000")
        assert other.status_code == unknown.status_code == 404
        assert other.text.replace(str(seeded.other_connector_id), "") == unknown.text.replace(
            "00000000-0000-0000-0000-000000000000", ""
        )

    def test_secrets_by_name_only(self, client: TestClient, seeded: Seeded) -> None:
        """The connector page names the secret and never shows its value."""
        sign_in(client, seeded.admin_token)
        page = client.get(f"/console/connectors/{seeded.scim_id}")
        assert page.status_code == 200
        assert "<code>token</code>" in page.text
        assert SECRET not in page.text

    def test_bad_filters_are_a_422_page(self, client: TestClient, seeded: Seeded) -> None:
        """A filter value the API would refuse is refused the same way."""
        sign_in(client, seeded.admin_token)
        answer = client.get(f"/console/connectors/{seeded.hr_id}?situation=happy")
        assert answer.status_code == 422
        assert "must be one of" in answer.text

    def test_output_is_escaped(self, client: TestClient, deps: Deps, seeded: Seeded) -> None:
        """Text from the store is HTML-escaped (autoescape)."""
        connector = connectors.update_connector(
            deps, seeded.tenant_id, seeded.crm_id, {"description": "<script>alert(1)</script>"}
        )
        sign_in(client, seeded.admin_token)
        page = client.get(f"/console/connectors/{connector.id}")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text

    def test_security_headers_and_local_assets(self, client: TestClient, seeded: Seeded) -> None:
        """Pages forbid framing and foreign scripts; CSS and JS are served by the console."""
        sign_in(client, seeded.admin_token)
        page = client.get("/console/queue")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/console/") or a.startswith("#") for a in assets)
        css = client.get("/console/static/console.css")
        js = client.get("/console/static/console.js")
        assert css.status_code == js.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
