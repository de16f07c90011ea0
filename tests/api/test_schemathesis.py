"""Fuzzing: schemathesis holds the running API to its own ``/openapi.json`` (issue 8).

In process (``schemathesis.openapi.from_asgi``), against a populated app (two tenants,
each with a synced csv source, a sql target with succeeded and dead operations, a
reconciliation run with discrepancies, a connector with a secret, a disabled one; see
``tests.support.api_world``), authenticated as the admin of one tenant. Every operation
is fuzzed with schema-valid and schema-violating requests; every response must be
documented (status, content type, headers, body schema), no answer may be a 5xx other
than a documented 502, and schema-violating requests must be refused. Then a stateful
run follows the document's links (create a connector, read it, sync it, read the run...).

The checks are schemathesis' defaults, tuned in two places, both spelled out below:
``positive_data_acceptance`` also accepts 412 and 422, because the schema cannot say
everything the core validates (an opaque cursor, a config against its type's spec,
mappings against the discovered schema, a stale ``If-Match``); ``not_a_server_error``
accepts the 502 that ``GET …/schema`` documents when the external system is down.

Random ids only ever reach an operation's 404: the fuzzing phase draws the world's real
ids two times out of three (a schema hook), and the coverage phase's cases are pointed at
real resources unless they are about the id (or ``If-Match``) itself (``_shape``).

Counts of calls per operation go to ``artifacts/schemathesis-counts.json``. Dig deeper
locally with ``XAVYO_FUZZ_EXAMPLES=150 XAVYO_FUZZ_SCENARIOS=100``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from tests.support.api_world import World, make_deps, populate
from xavyo_connectors_starlette import create_app

MAX_EXAMPLES = int(os.environ.get("XAVYO_FUZZ_EXAMPLES", "12"))
"""Fuzzing examples per operation (kept small for CI; see the module docstring)."""

STATEFUL_SCENARIOS = int(os.environ.get("XAVYO_FUZZ_SCENARIOS", "40"))

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

CALLS: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()
STATEFUL: Counter[str] = Counter()


def _config(token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "auth": {"openapi": {"bearer": {"bearer": token}}},
            "generation": {"max-examples": MAX_EXAMPLES},
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
            "checks": {
                "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "502"]},
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "422"]
                },
                "negative_data_rejection": {
                    "expected-statuses": [
                        "400",
                        "401",
                        "403",
                        "404",
                        "405",
                        "409",
                        "412",
                        "413",
                        "415",
                        "422",
                    ]
                },
            },
        }
    )


def _populated(root: Path) -> tuple[Any, World, Any]:
    deps = make_deps(root)
    world = populate(deps, "acme")
    populate(deps, "other")
    app = create_app(deps)
    return deps, world, app


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _load(app: Any, world: World) -> Any:
    """The app's schema; its path ids are the world's real ones two times out of three.

    Random ids reach only the 404 branch of an operation; real ones (the world's, or a
    sync run under ``.../sync/runs``) reach everything behind it. Likewise ``If-Match``
    is left out half of the time, so writes get past the version check.
    """
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(world.admin))

    @loaded.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if not path_parameters:
            return st.just(path_parameters)
        real = world.ids_for(context.operation.path)
        mine = {
            # a value that is no id at all belongs to a negative case: keep it
            name: real[name] if name in real and _is_uuid(value) else value
            for name, value in path_parameters.items()
        }
        return st.sampled_from([mine, path_parameters, mine])

    @loaded.hook
    def flatmap_headers(context: Any, headers: dict[str, Any] | None) -> Any:
        if not headers or "If-Match" not in headers:
            return st.just(headers)
        without = {k: v for k, v in headers.items() if k != "If-Match"}
        return st.sampled_from([headers, without])

    return loaded


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, World]]:
    deps, world, app = _populated(tmp_path_factory.mktemp("fuzz"))
    yield app, world
    deps.store.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed: tuple[Any, World]) -> Any:
    return _load(*fuzzed)


@pytest.fixture(scope="module")
def fuzz_world(fuzzed: tuple[Any, World]) -> World:
    return fuzzed[1]


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    started = time.monotonic()
    yield
    if not CALLS and not STATEFUL:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    report = {
        "examples_per_operation": MAX_EXAMPLES,
        "calls": sum(CALLS.values()),
        "seconds": round(time.monotonic() - started, 1),
        "per_operation": dict(sorted(CALLS.items())),
        "statuses": dict(sorted(STATUSES.items())),
        "stateful_steps": dict(sorted(STATEFUL.items())),
    }
    (ARTIFACTS / "schemathesis-counts.json").write_text(json.dumps(report, indent=2) + "\n")


schema = schemathesis.pytest.from_fixture("api_schema")


IF_MATCH = re.compile(r'\*|"[0-9]{1,18}"')


def _shape(case: Any, world: World) -> None:
    """Point a coverage case at real resources, unless the case is about that part.

    The coverage phase (schemathesis' deterministic boundary cases) takes no hooks: its
    path ids are random, so every case would stop at a 404; and it fills optional headers
    with values that ignore their pattern (``If-Match: 0``), which is checked before the
    body is read, so every body case of a PATCH would stop at a 412. Cases about the path
    or the header itself are left alone.
    """
    if case.meta is None or case.meta.phase.name.value != "coverage":
        return
    target = getattr(case.meta.phase.data, "parameter", None)
    headers = case.headers or {}
    value = headers.get("If-Match")
    if value is not None and not IF_MATCH.fullmatch(str(value)) and target != "If-Match":
        del headers["If-Match"]
    if case.path_parameters and case.method != "DELETE":
        real = world.ids_for(case.path)
        for name in case.path_parameters:
            if name != target and name in real and _is_uuid(case.path_parameters[name]):
                case.path_parameters[name] = real[name]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: Any, fuzz_world: World) -> None:
    """No 5xx; every response documented and valid; invalid requests refused."""
    _shape(case, fuzz_world)
    response = case.call_and_validate()
    documented = case.method.lower() in case.operation.schema.raw_schema["paths"][case.path]
    CALLS[f"{case.method} {case.path}" if documented else "undocumented method (405)"] += 1
    STATUSES[str(response.status_code)] += 1


def test_every_operation_was_fuzzed(api_schema: Any) -> None:
    """Each of the document's operations was called (this runs after the fuzzing)."""
    documented = {
        f"{method.upper()} {path}"
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
    }
    documented.discard("GET /openapi.json")  # what schemathesis loads; test_openapi.py
    assert documented <= set(CALLS), sorted(documented - set(CALLS))
    assert all(CALLS[name] >= 3 for name in documented), CALLS


def test_stateful_links(tmp_path: Path) -> None:
    """Follow the document's links, each scenario on a fresh copy of the populated world.

    A scenario must not see what the previous one did: Hypothesis replays scenarios (to
    shrink, or from its database) and needs the same answers to the same requests.
    """
    template = tmp_path / "template"
    deps = make_deps(template)
    try:
        world = populate(deps, "acme")
        populate(deps, "other")
        loaded = schemathesis.openapi.from_asgi(
            "/openapi.json", create_app(deps), config=_config(world.admin)
        )
    finally:
        deps.store.close()
    keyring = deps.keyring
    scenarios = iter(range(10**6))

    class FreshWorld(loaded.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            root = tmp_path / f"scenario-{next(scenarios)}"
            shutil.copytree(template, root)
            self.deps = make_deps(root, keyring=keyring)
            self.app = create_app(self.deps)

        def teardown(self) -> None:
            self.deps.store.close()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": self.app}

        def after_call(self, response: Any, case: Any) -> None:
            linked = case.operation.path_parameters and response.status_code < 300
            STATEFUL[f"{case.method} {case.path}"] += 1
            STATEFUL["linked step answered 2xx"] += bool(linked)

    FreshWorld.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert STATEFUL["linked step answered 2xx"] > 0, STATEFUL
