"""The operator's console in a real browser (headless Chromium) against a running server.

Each test signs in with a fresh browser profile. The seeded dead-letter queue holds three
operations so the tests never race for one: the walkthrough retries the first, the
forgery tests try to discard the second, the discard test discards the third.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import time
from typing import TYPE_CHECKING
from uuid import UUID

import pytest

from tests.console.conftest import WIDTHS, Server, screenshot, sign_in
from tests.console.seed import SECRET
from xavyo_connectors_core import connectors, provisioning, reconciliation, runs
from xavyo_connectors_core.model import OperationStatus, RunKind, RunMode, RunStatus

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.timeout(120)

RUN_TIMEOUT_MS = 20_000


def _expect():  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    return expect


def _op_status(server: Server, operation_id: UUID) -> OperationStatus:
    op = provisioning.get_operation(server.deps, server.seeded.tenant_id, operation_id)
    return op.status


def _given_name(server: Server, uid: str) -> str | None:
    with sqlite3.connect(server.seeded.app_db) as conn:
        found = conn.execute("SELECT given_name FROM users WHERE id = ?", (uid,)).fetchone()
    conn.close()
    return None if found is None else str(found[0])


def _finished_report_run(server: Server) -> UUID:
    """A succeeded report run of ``app`` (started through the core if there is none)."""
    deps, tenant = server.deps, server.seeded.tenant_id
    for run in runs.list_runs(deps, tenant, kind=RunKind.RECONCILIATION).items:
        if run.mode is RunMode.REPORT and run.status is RunStatus.SUCCEEDED:
            return run.id
    started = reconciliation.start_reconciliation(
        deps, tenant, {"connector_id": str(server.seeded.app_id), "mode": "report"}
    )
    deadline = time.monotonic() + 20
    while runs.get_run(deps, tenant, started.id).status.active:
        assert time.monotonic() < deadline, "the report run did not finish"
        time.sleep(0.1)
    return started.id


def _csrf(page: Page) -> str:
    """The CSRF token of the page's session (every page's sign-out form carries it)."""
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value
    return value


class TestOperatorWalkthrough:
    def test_sign_in_test_reconcile_apply_retry_sign_out(self, page: Page, server: Server) -> None:
        """An admin does the day's work end to end, every step through the browser."""
        expect = _expect()
        seeded = server.seeded

        # not signed in: any page leads to the sign-in form
        page.goto(f"{server.console}/queue")
        expect(page).to_have_title(re.compile("^Sign in"))
        sign_in(page, server, seeded.admin_token)
        expect(page.get_by_role("status")).to_contain_text("Signed in (admin)")

        # the seeded connectors, the broken one highlighted
        expect(page.get_by_role("heading", level=1)).to_have_text("Connectors")
        hr_row = page.locator("tr[data-connector='hr-feed']")
        expect(hr_row).to_contain_text("csv")
        expect(hr_row).to_contain_text("source")
        legacy = page.locator("tr[data-connector='legacy-export']")
        expect(legacy).to_have_class("attention")
        expect(legacy).to_contain_text("needs attention")

        # test the connection
        page.get_by_role("button", name="Test hr-feed").click()
        expect(page.get_by_role("status")).to_contain_text("Connection test:")
        expect(hr_row.locator(".ok")).to_have_text("ok")
        # and queue a sync
        page.get_by_role("button", name="Sync now hr-feed").click()
        expect(page.get_by_role("status")).to_contain_text("Sync queued")

        # start a report reconciliation of the target and watch it finish
        page.get_by_role("link", name="Reconciliation").click()
        page.get_by_label("Connector", exact=True).first.select_option(label="app")
        page.get_by_label("report").check()
        page.get_by_role("button", name="Start reconciliation").click()
        expect(page.get_by_role("status")).to_contain_text("Reconciliation queued")
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
        plan_url = page.url
        chart = page.locator("svg#situations-chart")
        expect(chart).to_be_visible()
        for count in ("linked 3", "mismatched 1", "unmatched 1", "missing 3"):
            expect(chart.locator("title")).to_contain_text(count)

        # its discrepancies, filtered, with their differences and explanations
        page.get_by_label("Situation", exact=True).select_option("mismatched")
        page.get_by_role("button", name="Filter").click()
        rows = page.locator("tr[data-discrepancy]")
        expect(rows).to_have_count(1)
        row = rows.first
        expect(row).to_have_attribute("data-situation", "mismatched")
        expect(row).to_contain_text("E2")
        expect(row).to_contain_text("given_name: expected Grace, found Changed")
        expect(row.locator(".explanation")).to_contain_text("mappings[2]")

        # apply it: the account is corrected through the queue
        row.get_by_role("checkbox").check()
        page.get_by_role("button", name="Apply selected").click()
        expect(page.get_by_role("status")).to_contain_text("Applying 1 discrepancy")
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
        page.goto(plan_url + "?situation=mismatched")
        expect(row.locator("[data-field=outcome]")).to_have_text("queued")
        deadline = time.monotonic() + 15
        while _given_name(server, "E2") != "Grace":
            assert time.monotonic() < deadline, "the applied discrepancy was not carried out"
            time.sleep(0.1)

        # retry a dead-lettered operation and watch it succeed
        dead = seeded.dead_ids[0]
        page.get_by_role("link", name="Queue").click()
        expect(page.locator("[data-stat=dead]")).not_to_have_text("0")
        page.get_by_role("button", name=f"Retry operation {str(dead)[:8]}").click()
        expect(page.get_by_role("status")).to_contain_text("Operation queued again")
        expect(page.locator("#operation-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
        assert _op_status(server, dead) is OperationStatus.SUCCEEDED

        # sign out: the session is gone
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_title(re.compile("^Sign in"))
        expect(page.get_by_role("status")).to_contain_text("You have signed out")
        page.goto(f"{server.console}/connectors")
        expect(page).to_have_title(re.compile("^Sign in"))

    def test_discard_keeps_the_operation_for_audit(self, page: Page, server: Server) -> None:
        """Discarding takes an operation out of the DLQ; it stays, as ``discarded``."""
        expect = _expect()
        dead = server.seeded.dead_ids[2]
        sign_in(page, server, server.seeded.admin_token)
        page.goto(f"{server.console}/queue")
        page.get_by_role("button", name=f"Discard operation {str(dead)[:8]}").click()
        expect(page.get_by_role("status")).to_contain_text("discarded")
        expect(page.locator(f"tr[data-operation='{dead}']")).to_have_count(0)
        assert _op_status(server, dead) is OperationStatus.DISCARDED

    def test_keyboard_alone_reaches_and_presses_an_action(self, page: Page, server: Server) -> None:
        """Tab from the top: the skip link first, then on to the "Test" button; Enter runs it."""
        expect = _expect()
        sign_in(page, server, server.seeded.admin_token)
        page.goto(f"{server.console}/connectors")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('aria-label')") == (
                "Test hr-feed"
            ):
                break
        else:
            pytest.fail("the Test button is not reachable with the keyboard")
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Connection test:")


class TestReaderAndForgery:
    def test_a_reader_sees_no_action_and_cannot_post(self, page: Page, server: Server) -> None:
        """A reader browses every page without a single action; posting them is a 403."""
        expect = _expect()
        seeded = server.seeded
        run_id = _finished_report_run(server)
        sign_in(page, server, seeded.reader_token)
        expect(page.locator(".role")).to_have_text("reader")
        for path in (
            "/connectors",
            f"/connectors/{seeded.hr_id}",
            f"/connectors/{seeded.scim_id}",
            "/runs",
            f"/runs/{run_id}",
            "/queue",
            f"/operations/{seeded.dead_ids[1]}",
        ):
            page.goto(server.console + path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            assert SECRET not in page.content(), path
            assert page.locator("main form[method=post]").count() == 0, path
            assert set(page.locator("main button").all_inner_texts()) <= {"Filter"}, path
            assert page.locator("main input[type=checkbox]").count() == 0, path

        token = _csrf(page)  # a valid token of the reader's own session
        before = connectors.get_connector(server.deps, seeded.tenant_id, seeded.hr_id)
        answer = page.request.post(
            f"{server.console}/connectors/{seeded.hr_id}/test", form={"csrf_token": token}
        )
        assert answer.status == 403
        answer = page.request.post(
            f"{server.console}/queue/dlq/{seeded.dead_ids[1]}/retry", form={"csrf_token": token}
        )
        assert answer.status == 403
        after = connectors.get_connector(server.deps, seeded.tenant_id, seeded.hr_id)
        assert after.version == before.version
        assert _op_status(server, seeded.dead_ids[1]) is OperationStatus.DEAD

    def test_forged_posts_are_refused_and_change_nothing(
        self, context: BrowserContext, page: Page, server: Server
    ) -> None:
        """No token, a wrong token, or a cross-site form: 403, and the store is unchanged."""
        seeded = server.seeded
        dead = seeded.dead_ids[1]
        sign_in(page, server, seeded.admin_token)
        cookie = next(c for c in context.cookies() if c["name"] == "xavyo_console")
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert seeded.admin_token not in cookie["value"]
        run_count = len(runs.list_runs(server.deps, seeded.tenant_id, limit=500).items)

        discard = f"{server.console}/queue/dlq/{dead}/discard"
        assert page.request.post(discard, form={}).status == 403
        assert page.request.post(discard, form={"csrf_token": "forged"}).status == 403
        start = f"{server.console}/runs"
        form = {"connector_id": str(seeded.app_id), "mode": "remediate"}
        assert page.request.post(start, form=form).status == 403

        # a page on another site auto-submits a form into the console
        evil = (
            "<!doctype html><title>win a prize</title>"
            f'<form id="f" method="post" action="{discard}">'
            '<input name="csrf_token" value="guess"></form>'
            "<script>document.getElementById('f').submit()</script>"
        )
        page.route(
            "http://evil.example/**",
            lambda route: route.fulfill(status=200, content_type="text/html", body=evil),
        )
        with page.expect_response(discard) as posted:
            page.goto("http://evil.example/prize")
        assert posted.value.status == 403

        assert _op_status(server, dead) is OperationStatus.DEAD
        assert len(runs.list_runs(server.deps, seeded.tenant_id, limit=500).items) == run_count

    def test_a_link_from_another_site_opens_the_console_signed_in(
        self, page: Page, server: Server
    ) -> None:
        """The Strict cookie is not sent on a cross-site click; the console reloads itself."""
        expect = _expect()
        sign_in(page, server, server.seeded.admin_token)
        target = f"{server.console}/queue"
        page.route(
            "http://chat.example/**",
            lambda route: route.fulfill(
                status=200,
                content_type="text/html",
                body=f'<!doctype html><title>chat</title><a href="{target}">queue</a>',
            ),
        )
        seen: list[str] = []
        page.on("response", lambda r: seen.append(r.url) if r.url == target else None)
        page.goto("http://chat.example/room")
        page.get_by_role("link", name="queue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Provisioning queue")
        assert page.url == target
        assert len(seen) == 2  # the cookie-less cross-site load, then the same-site one

    def test_another_tenants_connector_is_not_found(self, page: Page, server: Server) -> None:
        """The console shows exactly what the token's tenant may see: others are a 404."""
        expect = _expect()
        sign_in(page, server, server.seeded.admin_token)
        expect(page.locator("tr[data-connector='other-secret-feed']")).to_have_count(0)
        answer = page.goto(f"{server.console}/connectors/{server.seeded.other_connector_id}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("heading", level=1)).to_contain_text("404")


class TestLayoutAndScreenshots:
    @pytest.mark.parametrize("width", list(WIDTHS))
    def test_every_page_fits_has_a_title_and_headings(
        self, page: Page, server: Server, width: str
    ) -> None:
        """At 1280 and 390 px: a title, one h1, no sideways scrolling; screenshot each."""
        seeded = server.seeded
        run_id = _finished_report_run(server)
        w, h = WIDTHS[width]
        page.set_viewport_size({"width": w, "height": h})
        page.goto(f"{server.console}/sign-in")
        _check_page(page, w)
        screenshot(page, f"sign-in-{width}")
        sign_in(page, server, seeded.admin_token)
        pages = {
            "connectors": "/connectors",
            "connector": f"/connectors/{seeded.hr_id}",
            "connector-needs-attention": f"/connectors/{seeded.legacy_id}",
            "runs": "/runs",
            "run": f"/runs/{run_id}",
            "queue": "/queue",
            "operation": f"/operations/{seeded.dead_ids[1]}",
        }
        for name, path in pages.items():
            page.goto(server.console + path)
            _check_page(page, w)
            screenshot(page, f"{name}-{width}")


def _check_page(page: Page, width: int) -> None:
    title = page.title()
    assert title and "xavyo console" in title, title
    assert page.locator("h1").count() == 1, page.url
    levels = page.locator("h1, h2, h3").evaluate_all("hs => hs.map(h => Number(h.tagName[1]))")
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), (page.url, levels)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, (page.url, width, overflow)
