"""Console fixtures: a real uvicorn server and a real headless Chromium.

One server per session: the API and the console (mounted at ``/console`` next to the API
routes, as ``create_app`` will), over a SQLite store seeded by ``seed.py``, with the run
and provisioning workers running in the background as ``serve`` runs them. The browser is
Debian's ``chromium`` driven by Playwright (TESTING.md): on CI a missing browser is a
failure, locally a loud skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from attrs import frozen
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.conftest import missing
from tests.console.seed import Seeded, seed
from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.worker import start_background
from xavyo_connectors_starlette import ConnectorsState, bearer_authenticator, create_app
from xavyo_connectors_starlette.console import console_router
from xavyo_connectors_starlette.errors import exception_handlers

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def console_app(deps: Deps) -> Starlette:
    """The API's routes with the console mounted at ``/console``, wired like a host."""
    api = create_app(deps)
    app = Starlette(
        routes=[*api.routes, Mount("/console", app=console_router())],
        exception_handlers=exception_handlers(),
    )
    ConnectorsState(deps=deps, authenticate=bearer_authenticator(deps)).install(app)
    return app


@frozen
class Server:
    """A running console server and what it was seeded with."""

    url: str
    deps: Deps
    seeded: Seeded

    @property
    def console(self) -> str:
        return f"{self.url}/console"


def _serve(app: Starlette) -> tuple[Any, threading.Thread, int]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", ws="none", http="h11", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console server did not start")
        time.sleep(0.02)
    return server, thread, port


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The seeded store, its workers, and uvicorn serving API + console on a free port."""
    from xavyo_connectors_core.stores.sqlite import SqliteStore

    root = tmp_path_factory.mktemp("console")
    files = root / "files"
    files.mkdir()
    store = SqliteStore(root / "xavyo.db")
    store.migrate()
    deps = Deps(
        store=store,
        registry=default_registry(),
        keyring=KeyRing([generate_key()]),
        clock=SystemClock(),
        files_root=files,
    )
    seeded = seed(deps)
    stop = threading.Event()
    workers = start_background(deps, stop)
    uv, thread, port = _serve(console_app(deps))
    try:
        yield Server(url=f"http://127.0.0.1:{port}", deps=deps, seeded=seeded)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
        store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian chromium, with HOME and the XDG dirs in a temp dir."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright (pip install playwright)")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing("chromium (apt-get install chromium)")
    home = tempfile.mkdtemp(prefix="console-browser-")
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": os.path.join(home, "config"),
        "XDG_CACHE_HOME": os.path.join(home, "cache"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in dirs.items():
            patch.setenv(key, value)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                headless=True,
                args=CHROMIUM_ARGS,
                env={**os.environ, **dirs},
            )
            try:
                yield chromium
            finally:
                chromium.close()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at desktop width."""
    width, height = WIDTHS["desktop"]
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, server: Server, token: str) -> None:
    """Paste ``token`` into the sign-in form and land on the connectors page."""
    page.goto(f"{server.console}/sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.console}/connectors")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of ``page`` as ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
