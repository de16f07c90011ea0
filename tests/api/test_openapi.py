"""``GET /openapi.json``: generated from the route table and the core's types, and true to it.

The fuzzing suite (``test_schemathesis.py``) holds every response to the document; these
tests hold the document to the code: every served route and method is an operation and
back, every parameter an endpoint reads is documented and back, every rendered document
of the core (over Hypothesis-generated domain objects) validates against its schema.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from tests.api.conftest import Caller
from tests.support.api_world import World, make_deps, populate
from xavyo_connectors_core import (
    accounts,
    connectors,
    documents,
    identities,
    provisioning,
    reconciliation,
    runs,
    testing,
)
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.model import Connector
from xavyo_connectors_core.registry import describe
from xavyo_connectors_starlette import create_app
from xavyo_connectors_starlette.app import api_routes
from xavyo_connectors_starlette.openapi import documented_operations, openapi_document


@pytest.fixture(scope="module")
def world_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Starlette, World]]:
    deps = make_deps(tmp_path_factory.mktemp("openapi-world"))
    world = populate(deps, "acme")
    yield create_app(deps), world
    deps.store.close()


@pytest.fixture(scope="module")
def document(world_app: tuple[Starlette, World]) -> dict[str, Any]:
    with TestClient(world_app[0]) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def validator(document: dict[str, Any], name: str) -> jsonschema_rs.Validator:
    """A validator of the component ``name`` (its references resolve in ``document``)."""
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": document["components"],
    }
    return jsonschema_rs.validator_for(root, validate_formats=True)


def assert_valid(document: dict[str, Any], name: str, instance: Any) -> None:
    errors = [str(e) for e in validator(document, name).iter_errors(instance)]
    assert not errors, f"{name}: {errors}\n{instance}"


class TestTheDocument:
    def test_is_a_valid_openapi_31_document(self, document: dict[str, Any]) -> None:
        """OpenAPI 3.1, valid against its meta-schema; every component a valid 2020-12 schema."""
        assert document["openapi"].startswith("3.1.")
        schemathesis.openapi.from_dict(document).validate()
        for name, schema in document["components"]["schemas"].items():
            assert jsonschema_rs.meta.is_valid(schema), name

    def test_every_served_route_and_method_is_an_operation_and_back(
        self, world_app: tuple[Starlette, World], document: dict[str, Any]
    ) -> None:
        """The app's routing table and the document name the same (path, method) pairs."""
        served = {
            (route.path, method)
            for route in world_app[0].routes
            if isinstance(route, Route)
            for method in (route.methods or set()) - {"HEAD"}
        }
        documented = {
            (path, method.upper()) for path, item in document["paths"].items() for method in item
        }
        assert served == documented
        assert len(documented) >= 32

    def test_operations_are_unique_and_tagged(self, document: dict[str, Any]) -> None:
        operations = [op for item in document["paths"].values() for op in item.values()]
        ids = [op["operationId"] for op in operations]
        assert len(ids) == len(set(ids))
        tags = {tag["name"] for tag in document["tags"]}
        assert all(op["tags"][0] in tags and op["summary"] for op in operations)

    def test_only_health_and_the_document_are_public(self, document: dict[str, Any]) -> None:
        """Bearer security everywhere except /healthz and /openapi.json."""
        assert document["security"] == [{"bearer": []}]
        assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        public = {
            path
            for path, item in document["paths"].items()
            for op in item.values()
            if op.get("security") == []
        }
        assert public == {"/healthz", "/openapi.json"}

    def test_protected_operations_document_their_errors(self, document: dict[str, Any]) -> None:
        """401 everywhere; 403 on writes; 404 with path ids; 400/413/415 with bodies."""
        for path, item in document["paths"].items():
            for method, op in item.items():
                codes = set(op["responses"])
                if op.get("security") != []:
                    assert {"401", "503"} <= codes, (method, path)
                    assert ("403" in codes) is (method != "get"), (method, path)
                if "{" in path:
                    assert "404" in codes, (method, path)
                if "requestBody" in op:
                    assert {"400", "413", "415"} <= codes, (method, path)
                for code, answer in op["responses"].items():
                    if int(code) >= 400 and not (path == "/healthz" and code == "503"):
                        assert answer["$ref"].startswith("#/components/responses/"), code

    def test_request_examples_are_valid(self, document: dict[str, Any]) -> None:
        """Every example body validates against its schema."""
        seen = 0
        for item in document["paths"].values():
            for op in item.values():
                for media in op.get("requestBody", {}).get("content", {}).values():
                    if "example" in media and "$ref" in media["schema"]:
                        name = media["schema"]["$ref"].rsplit("/", 1)[1]
                        assert_valid(document, name, media["example"])
                        seen += 1
        assert seen >= 8

    def test_the_connector_input_is_derived_from_the_attrs_class(
        self, document: dict[str, Any]
    ) -> None:
        """ConnectorInput: every attrs field, required exactly when it has no default."""
        import attrs

        schema = document["components"]["schemas"]["ConnectorInput"]
        fields = attrs.fields(connectors.ConnectorInput)
        assert list(schema["properties"]) == [f.name for f in fields]
        assert schema["required"] == [f.name for f in fields if f.default is attrs.NOTHING]
        assert schema["additionalProperties"] is False
        patch = document["components"]["schemas"]["ConnectorPatch"]
        assert "type" not in patch["properties"]
        assert set(patch["properties"]) == set(schema["properties"]) - {"type"}

    def test_links_feed_ids_to_the_operations_under_them(self, document: dict[str, Any]) -> None:
        created = document["paths"]["/connectors"]["post"]["responses"]["201"]["links"]
        assert created["get_connector"]["parameters"] == {"connector_id": "$response.body#/id"}
        assert "start_sync" in created and "list_accounts" in created
        synced = document["paths"]["/connectors/{connector_id}/sync"]["post"]["responses"]
        link = synced["202"]["links"]["get_sync_run"]
        assert link["parameters"] == {
            "connector_id": "$response.body#/connector_id",
            "run_id": "$response.body#/id",
        }

    def test_mounted_under_a_prefix_it_names_the_server(self, deps: Deps) -> None:
        host = Starlette(routes=[Mount("/idm", app=create_app(deps))])
        with TestClient(host) as client:
            body = client.get("/idm/openapi.json").json()
        assert body["servers"] == [{"url": "/idm"}]

    def test_a_host_documents_the_routers_it_mounts(self) -> None:
        """openapi_document over mounted routers: the paths carry the mount prefix."""
        from xavyo_connectors_starlette import connectors_router

        doc = openapi_document([Route("/", lambda r: None), Mount("/idm", app=connectors_router())])
        assert "/idm/connectors/{connector_id}" in doc["paths"]
        assert "/" not in doc["paths"]

    def test_an_undocumented_endpoint_is_refused(self) -> None:
        from xavyo_connectors_starlette.routes._http import route

        async def secret_endpoint(request: Any) -> Any:
            return None

        with pytest.raises(ValueError, match="not documented"):
            openapi_document([*api_routes(), route("/backdoor", GET=secret_endpoint)])


class TestParametersMatchTheCode:
    def test_every_query_parameter_read_is_documented_and_back(
        self,
        world_app: tuple[Starlette, World],
        document: dict[str, Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Call each operation; the query and header names it reads == the documented ones."""
        app, world = world_app
        read: set[tuple[str, str]] = set()
        query_get = QueryParams.get
        header_get, header_getlist = Headers.get, Headers.getlist

        def spy_query(self: QueryParams, key: Any, default: Any = None) -> Any:
            read.add(("query", key))
            return query_get(self, key, default)

        def spy_header(self: Headers, key: str, default: Any = None) -> Any:
            read.add(("header", key.lower()))
            return header_get(self, key, default)

        def spy_headers(self: Headers, key: str) -> list[str]:
            read.add(("header", key.lower()))
            return header_getlist(self, key)

        ignored_headers = {"authorization", "content-type", "content-length"}
        checked = 0
        with TestClient(app) as client:
            caller = Caller(client, world.admin)
            for op in documented_operations(app.routes):
                if op.method != "GET" and op.operation.body is None:
                    continue  # nothing to read but the path; avoid side effects
                spec = document["paths"][op.path][op.method.lower()]
                path = op.path.format(**world.ids_for(op.path))
                read.clear()
                monkeypatch.setattr(QueryParams, "get", spy_query)
                monkeypatch.setattr(Headers, "get", spy_header)
                monkeypatch.setattr(Headers, "getlist", spy_headers)
                try:
                    # an invalid body stops the endpoint after its parameters are read
                    caller.request(
                        op.method, path, content=b"{", headers={"content-type": "application/json"}
                    )
                finally:
                    monkeypatch.undo()
                documented = {
                    (p["in"], p["name"].lower() if p["in"] == "header" else p["name"])
                    for p in spec.get("parameters", [])
                    if p["in"] != "path"
                }
                reads = {(where, name) for where, name in read if name not in ignored_headers}
                reads = {r for r in reads if r[0] == "query" or r[1] in {"if-match"}}
                assert reads == documented, (op.method, op.path)
                checked += 1
        assert checked >= 20

    def test_every_documented_query_parameter_is_validated(
        self, world_app: tuple[Starlette, World], document: dict[str, Any]
    ) -> None:
        """A bad value of each documented query parameter is a 422 naming it."""
        app, world = world_app
        bad = {"limit": "0", "cursor": "x" * 3000}
        with TestClient(app) as client:
            caller = Caller(client, world.admin)
            for path, item in document["paths"].items():
                spec = item.get("get")
                if spec is None:
                    continue
                url = path.format(**world.ids_for(path))
                for param in spec.get("parameters", []):
                    if param["in"] != "query":
                        continue
                    value = bad.get(param["name"], "")
                    response = caller.get(url, params={param["name"]: value})
                    assert response.status_code == 422, (path, param["name"], response.text)
                    assert [e["path"] for e in response.json()["errors"]] == [param["name"]]


# ------------------------------------------------------------------------ documents

_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def plain_document() -> dict[str, Any]:
    return openapi_document(api_routes())


def _connectors_with_attention() -> st.SearchStrategy[Connector]:
    import attrs

    return st.builds(
        lambda c, errors: attrs.evolve(c, needs_attention=errors),
        testing.connectors(),
        st.none() | st.lists(testing.field_errors(), min_size=1).map(tuple),
    )


RENDERERS: list[tuple[str, st.SearchStrategy[Any], Callable[[Any], Any]]] = [
    ("Connector", _connectors_with_attention(), connectors.connector_document),
    ("Identity", testing.identities(), identities.identity_document),
    ("Run", testing.runs(), runs.run_document),
    ("Discrepancy", testing.discrepancies(), reconciliation.discrepancy_document),
    ("Operation", testing.operations(), provisioning.operation_document),
    ("Shadow", testing.shadows(), accounts.shadow_document),
    ("Schema", testing.schema_versions(), documents.schema_document),
    ("SchemaVersion", testing.schema_versions(), documents.schema_version_document),
    ("TestResult", testing.test_results(), documents.connection_test_document),
]


class TestRenderedDocumentsMatchTheirSchemas:
    @pytest.mark.parametrize(
        ("name", "strategy", "render"), RENDERERS, ids=[r[0] for r in RENDERERS]
    )
    def test_every_rendered_document_validates(
        self,
        plain_document: dict[str, Any],
        name: str,
        strategy: st.SearchStrategy[Any],
        render: Callable[[Any], Any],
    ) -> None:
        """The core's renderer, over generated domain objects, always fits the schema."""
        check = validator(plain_document, name)

        @_settings
        @given(strategy)
        def rendered_fits(obj: Any) -> None:
            rendered = render(obj)
            errors = [str(e) for e in check.iter_errors(rendered)]
            assert not errors, (errors, rendered)

        rendered_fits()

    def test_a_dead_operation_with_its_waiting_count_validates(
        self, plain_document: dict[str, Any]
    ) -> None:
        check = validator(plain_document, "Operation")

        @_settings
        @given(testing.operations(), st.integers(min_value=0, max_value=10**6))
        def fits(op: Any, waiting: int) -> None:
            assert check.is_valid(provisioning.operation_document(op, waiting=waiting))

        fits()

    def test_every_registered_type_validates(
        self, plain_document: dict[str, Any], deps: Deps
    ) -> None:
        for ctype in deps.registry.types():
            assert_valid(plain_document, "ConnectorType", describe(ctype))

    def test_problem_documents_validate(self, plain_document: dict[str, Any]) -> None:
        problem = {
            "type": "urn:xavyo-connectors:problem:validation-failed",
            "title": "validation failed",
            "status": 422,
            "detail": "name: is required",
            "errors": [{"path": "name", "message": "is required"}],
        }
        assert_valid(plain_document, "Problem", problem)
        bad = copy.deepcopy(problem)
        bad["traceback"] = "..."
        assert not validator(plain_document, "Problem").is_valid(bad)
