"""A real SCIM 2.0 service provider on loopback for the tests (TESTING.md recipe).

``running_scim_server()`` serves scim2-server's WSGI application over real HTTP from a
thread (``wsgiref`` with a threading mixin, so concurrent requests work) on a free port of
127.0.0.1, base path ``/v2``, with in-memory storage, and stops it when the block ends.

Around the application sit two small WSGI middlewares:

* ``_Auth`` enforces a bearer token and/or HTTP basic credentials on every endpoint but
  ``/ServiceProviderConfig`` (which RFC 7643 §5 leaves open, as scim2-server does), and
  answers 401 with a SCIM error document otherwise;
* ``Faults`` lets a test script the provider's failures: answer the next N requests with
  a status (429 with ``Retry-After``, 503 ...), or delay them. It also records every
  request line, so a test can see how the client paged.

``patch=False`` / ``filtering=False`` / ``sort=False`` describe (and make) a provider
without those features through its ``ServiceProviderConfig``; ``max_results`` sets the
cap the provider silently applies to ``count``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def _error(
    start_response: StartResponse,
    status: int,
    phrase: str,
    detail: str,
    headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    body = json.dumps({"schemas": [ERROR], "status": str(status), "detail": detail}).encode()
    start_response(
        f"{status} {phrase}",
        [
            ("Content-Type", "application/scim+json"),
            ("Content-Length", str(len(body))),
            *headers,
        ],
    )
    return [body]


class _Auth:
    """Bearer and/or basic credentials on every endpoint but /ServiceProviderConfig."""

    def __init__(
        self, app: App, *, bearer_token: str | None, basic: tuple[str, str] | None
    ) -> None:
        self.app = app
        self.bearer_token = bearer_token
        self.basic = basic

    def _allowed(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        if self.bearer_token is not None and scheme.lower() == "bearer":
            return credentials == self.bearer_token
        if self.basic is not None and scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, _, password = decoded.partition(":")
            return (user, password) == self.basic
        return False

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        open_path = path.rstrip("/").endswith("/ServiceProviderConfig")
        if (self.bearer_token is None and self.basic is None) or open_path:
            return self.app(environ, start_response)
        if self._allowed(environ.get("HTTP_AUTHORIZATION", "")):
            return self.app(environ, start_response)
        scheme = "Bearer" if self.bearer_token is not None else 'Basic realm="scim"'
        return _error(
            start_response,
            401,
            "Unauthorized",
            "Authorization failure",
            [("WWW-Authenticate", scheme)],
        )


@dataclass
class _Fault:
    status: int | None
    retry_after: str | None
    delay: float
    detail: str = "injected fault"


@dataclass
class Faults:
    """Scripted failures of the provider, consumed one per request; and a request log."""

    app: App
    _queue: deque[_Fault] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    """``(method, path, query string)`` of every request received, in order."""

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        retry_after: str | None = None,
        detail: str = "injected fault",
    ) -> None:
        """Answer the next ``count`` requests with ``status`` (``Retry-After``, ``detail``)."""
        with self._lock:
            self._queue.extend(_Fault(status, retry_after, 0.0, detail) for _ in range(count))

    def delay_next(self, count: int = 1, seconds: float = 1.0) -> None:
        """Serve the next ``count`` requests only after ``seconds``."""
        with self._lock:
            self._queue.extend(_Fault(None, None, seconds) for _ in range(count))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            self.requests.append(
                (
                    environ.get("REQUEST_METHOD", ""),
                    environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""),
                )
            )
            fault = self._queue.popleft() if self._queue else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            headers = [("Retry-After", fault.retry_after)] if fault.retry_after else []
            phrase = {429: "Too Many Requests", 503: "Service Unavailable"}.get(
                fault.status, "Error"
            )
            return _error(start_response, fault.status, phrase, fault.detail, headers)
        return self.app(environ, start_response)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@dataclass
class ScimServer:
    """A running provider: its base URL (ending in ``/v2``), credentials and faults."""

    base_url: str
    port: int
    faults: Faults
    bearer_token: str | None
    basic: tuple[str, str] | None

    def client(self) -> httpx.Client:
        """An HTTP client acting directly on the provider (not through the connector)."""
        headers = {"Content-Type": "application/scim+json"}
        auth = httpx.BasicAuth(*self.basic) if self.basic else None
        if self.bearer_token:
            headers["Authorization"] = f"Bearer {self.bearer_token}"
        return httpx.Client(base_url=self.base_url + "/", headers=headers, auth=auth, timeout=10)

    def seed_users(self, names: Iterable[str]) -> list[str]:
        """Create users (``userName`` only) through ``/Bulk``; return their ids in order."""
        names = list(names)
        ids: list[str] = []
        with self.client() as client:
            for start in range(0, len(names), 1000):
                chunk = names[start : start + 1000]
                operations = [
                    {
                        "method": "POST",
                        "path": "/Users",
                        "bulkId": f"u{start + i}",
                        "data": {"schemas": [CORE_USER], "userName": name},
                    }
                    for i, name in enumerate(chunk)
                ]
                response = client.post("Bulk", json={"schemas": [BULK], "Operations": operations})
                response.raise_for_status()
                for op in response.json()["Operations"]:
                    assert op["status"] == "201", op
                    ids.append(op["location"].rsplit("/", 1)[1])
        return ids


@functools.cache
def _provider(*, patch: bool, filtering: bool, sort: bool, max_results: int) -> Any:
    """The provider description (≈0.2 s to build, so built once per feature set)."""
    from scim2_models import ScimProvider
    from scim2_server.utils import (
        load_default_resource_types,
        load_default_schemas,
        load_default_service_provider_config,
    )

    config = load_default_service_provider_config()
    assert config.patch is not None and config.filter is not None and config.sort is not None
    config.patch.supported = patch
    config.filter.supported = filtering
    config.filter.max_results = max_results
    config.sort.supported = sort
    return ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )


@contextmanager
def running_scim_server(
    *,
    bearer_token: str | None = None,
    basic: tuple[str, str] | None = None,
    patch: bool = True,
    filtering: bool = True,
    sort: bool = True,
    max_results: int = 1000,
) -> Iterator[ScimServer]:
    """Serve a fresh, empty SCIM provider on 127.0.0.1; stop it when the block ends.

    ``max_results`` is the provider's silent cap on ``count`` (scim2-server's default is
    1000; a test lowers it to show capping cheaply).
    """
    from scim2_server.applications.wsgi import WSGIApplication
    from scim2_server.memory import InMemoryStorage

    app = WSGIApplication(
        InMemoryStorage(),
        _provider(patch=patch, filtering=filtering, sort=sort, max_results=max_results),
    )
    faults = Faults(_Auth(app, bearer_token=bearer_token, basic=basic))
    server = make_server(
        "127.0.0.1", 0, faults, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    port = int(server.server_address[1])
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield ScimServer(f"http://127.0.0.1:{port}/v2", port, faults, bearer_token, basic)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
