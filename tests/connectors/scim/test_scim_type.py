"""The ``scim`` connector type against a real SCIM 2.0 provider (scim2-server) on loopback."""

from __future__ import annotations

import email.utils
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from tests.connectors.scim.conftest import TOKEN, Connect
from tests.support.scim_server import PATCH_OP, ScimServer, running_scim_server
from xavyo_connectors_core.config import validate_config
from xavyo_connectors_core.errors import (
    AccountExists,
    AccountNotFound,
    TargetRejected,
    TargetUnavailable,
)
from xavyo_connectors_core.model import AttributeDelta, AttributeType, Capability, DeltaOp
from xavyo_connectors_core.registry import describe
from xavyo_connectors_core.spi import ChangeKind, OpenContext
from xavyo_connectors_core.types.scim import (
    TYPE,
    ScimConnection,
    parse_retry_after,
    quote_filter_value,
)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
EMPLOYEE_NUMBER = f"{ENTERPRISE}:employeeNumber"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _list_queries(server: ScimServer) -> list[dict[str, list[str]]]:
    return [
        parse_qs(query)
        for method, path, query in server.faults.requests
        if method == "GET" and path == "/v2/Users"
    ]


class TestTheType:
    def test_key_capabilities_and_config_spec(self) -> None:
        """The type is ``scim``, can do everything, and has exactly the SPEC §5 keys."""
        assert TYPE.key == "scim"
        assert TYPE.capabilities == frozenset(Capability)
        described = describe(TYPE)
        fields = {f["name"]: f for f in described["config"]}
        assert list(fields) == [
            "base_url",
            "resource_type",
            "auth",
            "username",
            "token",
            "password",
            "page_size",
            "timeout_seconds",
        ]
        assert fields["base_url"]["required"]
        assert fields["token"]["secret"] and fields["password"]["secret"]
        assert fields["page_size"]["default"] == 100
        assert fields["resource_type"]["default"] == "User"
        assert fields["timeout_seconds"]["default"] == 10

    def test_object_class_and_disable(self) -> None:
        """The object class is the resource type; accounts are disabled through active."""
        assert TYPE.account_object_class({"base_url": "http://x"}) == "User"
        assert TYPE.account_object_class({"base_url": "http://x", "resource_type": "Group"}) == (
            "Group"
        )
        assert TYPE.can_disable({}) is True
        assert TYPE.enabled_attribute({}) == "active"

    def test_importing_the_type_does_not_import_httpx(self) -> None:
        """httpx is imported only when a request is made."""
        code = (
            "import sys, xavyo_connectors_core.types.scim; "
            "assert 'httpx' not in sys.modules, 'httpx imported'"
        )
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_valid_config_is_normalized_with_defaults(self) -> None:
        """A minimal config gets every default."""
        normalized, errors = validate_config(TYPE, {"base_url": "https://x.example/scim/v2"}, {})
        assert errors == []
        assert normalized == {
            "base_url": "https://x.example/scim/v2",
            "resource_type": "User",
            "auth": "bearer",
            "page_size": 100,
            "timeout_seconds": 10,
        }

    @pytest.mark.parametrize(
        ("config", "path"),
        [
            ({"base_url": "ftp://x.example/scim"}, "config.base_url"),
            ({"base_url": "not a url"}, "config.base_url"),
            ({"base_url": "https://user:pw@x.example/scim"}, "config.base_url"),
            ({"base_url": "https://x.example/scim?x=1"}, "config.base_url"),
            ({"base_url": "https://x.example", "auth": "basic"}, "config.username"),
            ({"base_url": "https://x.example", "username": "a:b"}, "config.username"),
            ({"base_url": "https://x.example", "auth": "digest"}, "config.auth"),
            ({"base_url": "https://x.example", "page_size": 0}, "config.page_size"),
            ({"base_url": "https://x.example", "filter": "x"}, "config.filter"),
            ({"base_url": "https://x.example", "token": "x"}, "config.token"),
        ],
    )
    def test_invalid_config_is_reported_by_path(self, config: dict[str, object], path: str) -> None:
        """Each invalid config names the faulty field."""
        _normalized, errors = validate_config(TYPE, config, {})
        assert path in [e.path for e in errors]

    def test_basic_auth_without_password_cannot_open(self, tmp_path: Path) -> None:
        """Basic auth needs its password secret."""
        config = {"base_url": "http://127.0.0.1:1/v2", "auth": "basic", "username": "u"}
        with pytest.raises(TargetRejected, match="password"):
            TYPE.open(config, {}, OpenContext(files_root=tmp_path))

    @pytest.mark.parametrize("token", ["two words", "line\nbreak", "caf\u00e9"])
    def test_a_token_that_cannot_be_a_header_cannot_open(self, tmp_path: Path, token: str) -> None:
        """A bearer token must be printable ASCII; the error does not show it."""
        config = {"base_url": "http://127.0.0.1:1/v2"}
        with pytest.raises(TargetRejected, match="printable ASCII") as caught:
            TYPE.open(config, {"token": token}, OpenContext(files_root=tmp_path))
        assert token not in str(caught.value)


class TestHelpers:
    @pytest.mark.parametrize(
        ("value", "literal"),
        [
            ("alice", '"alice"'),
            ('q"x', '"q\\"x"'),
            ("back\\slash", '"back\\\\slash"'),
            ('" or userName pr or "', '"\\" or userName pr or \\""'),
            ("line\nbreak", '"line\\nbreak"'),
            (True, "true"),
            (42, "42"),
        ],
    )
    def test_filter_values_are_quoted_and_escaped(self, value: object, literal: str) -> None:
        """Backslash and double quote are escaped (RFC 7644 filter strings are JSON)."""
        assert quote_filter_value(value) == literal

    def test_retry_after_in_seconds_or_as_a_date(self) -> None:
        """Retry-After is delay-seconds or an HTTP date; junk is ignored."""
        now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
        assert parse_retry_after("7", now=now) == 7.0
        assert parse_retry_after(" 0 ", now=now) == 0.0
        later = email.utils.format_datetime(now + timedelta(seconds=30), usegmt=True)
        assert parse_retry_after(later, now=now) == 30.0
        earlier = email.utils.format_datetime(now - timedelta(seconds=30), usegmt=True)
        assert parse_retry_after(earlier, now=now) == 0.0
        assert parse_retry_after("soon", now=now) is None
        assert parse_retry_after("-3", now=now) is None
        assert parse_retry_after(None) is None


class TestConnectionTest:
    def test_ok_against_the_provider(self, conn: ScimConnection) -> None:
        """test() reads /ServiceProviderConfig and one User with the credentials."""
        message = conn.test()
        assert message.startswith("ok:")
        assert "PATCH supported" in message

    def test_wrong_bearer_token_fails_without_echoing_it(self, connect: Connect) -> None:
        """A refused token is an authentication failure that names no secret."""
        conn = connect(secrets={"token": "wrong-token-123"})
        with pytest.raises(TargetRejected, match="authentication failed") as caught:
            conn.test()
        assert "wrong-token-123" not in str(caught.value)
        assert TOKEN not in str(caught.value)

    def test_missing_token_fails(self, connect: Connect) -> None:
        """Without a token nothing but /ServiceProviderConfig is served."""
        with pytest.raises(TargetRejected, match="authentication failed"):
            connect(secrets={}).test()

    def test_basic_auth(self, connect: Connect) -> None:
        """Basic auth sends username and password; a wrong password fails."""
        with running_scim_server(basic=("svc", "pw-secret")) as server:
            ok = connect(
                server=server, auth="basic", username="svc", secrets={"password": "pw-secret"}
            )
            assert ok.test().startswith("ok:")
            bad = connect(server=server, auth="basic", username="svc", secrets={"password": "nope"})
            with pytest.raises(TargetRejected, match="authentication failed"):
                bad.test()

    def test_closed_port_is_unavailable(self, connect: Connect, tmp_path: Path) -> None:
        """Connection refused is transient."""
        port = _closed_port()
        conn = TYPE.open(
            {"base_url": f"http://127.0.0.1:{port}/v2"}, {}, OpenContext(files_root=tmp_path)
        )
        with conn, pytest.raises(TargetUnavailable, match="cannot reach"):
            conn.test()

    def test_timeout_is_unavailable(self, connect: Connect, scim_server: ScimServer) -> None:
        """A provider slower than timeout_seconds is transient."""
        conn = connect(timeout_seconds=0.2)
        scim_server.faults.delay_next(1, 0.6)
        with pytest.raises(TargetUnavailable, match="did not answer"):
            conn.test()


class TestSchema:
    def test_schema_from_resource_types_and_schemas(self, conn: ScimConnection) -> None:
        """User attributes are flattened with SCIM's flags mapped onto ours."""
        schema = conn.schema()
        (user,) = schema.object_classes
        assert (user.name, user.uid_attribute, user.name_attribute) == ("User", "id", "userName")
        attr = user.attribute

        user_name = attr("userName")
        assert user_name is not None and user_name.required and user_name.updateable

        uid = attr("id")
        assert uid is not None and not uid.creatable and not uid.updateable and uid.readable

        active = attr("active")
        assert active is not None and active.type is AttributeType.BOOLEAN

        emails = attr("emails")
        assert emails is not None and emails.multivalued and emails.type is AttributeType.STRING

        given = attr("name.givenName")
        assert given is not None and not given.multivalued and not given.required

        employee = attr(EMPLOYEE_NUMBER)
        assert employee is not None and employee.type is AttributeType.STRING
        assert not employee.required  # the enterprise extension is optional

        password = attr("password")
        assert password is not None and not password.readable and password.creatable

        modified = attr("meta.lastModified")
        assert modified is not None and modified.type is AttributeType.DATETIME
        assert not modified.creatable and not modified.updateable

        groups = attr("groups")
        assert groups is not None and groups.multivalued and not groups.creatable

        manager_name = attr(f"{ENTERPRISE}:manager.displayName")
        assert manager_name is not None and not manager_name.updateable

        locality = attr("addresses.locality")
        assert locality is not None and not locality.multivalued


class TestWrites:
    def test_create_get_update_disable_delete(self, conn: ScimConnection) -> None:
        """A full round trip through flattened attributes."""
        created = conn.create(
            "User",
            {
                "userName": "alice",
                "name.givenName": "Alice",
                "name.familyName": "Liddell",
                "emails": ["alice@example.org", "al@example.net"],
                "active": True,
                EMPLOYEE_NUMBER: "E-1",
                "addresses.locality": "Oxford",
                "password": "Pa55-word!",
            },
        )
        assert created.name == "alice"
        assert created.attributes["emails"] == ["alice@example.org", "al@example.net"]
        assert created.attributes[EMPLOYEE_NUMBER] == "E-1"
        assert "password" not in created.attributes
        uid = created.uid
        assert conn.get("User", uid) == created

        updated = conn.update(
            "User",
            uid,
            [
                AttributeDelta("name.givenName", DeltaOp.REPLACE, ("Alicia",)),
                AttributeDelta("emails", DeltaOp.ADD, ("new@example.org", "ALICE@example.org")),
                AttributeDelta("emails", DeltaOp.REMOVE, ("al@example.net",)),
                AttributeDelta(EMPLOYEE_NUMBER, DeltaOp.REPLACE, ("E-2",)),
                AttributeDelta("name.familyName", DeltaOp.REMOVE, ()),
                AttributeDelta("addresses.locality", DeltaOp.REPLACE, ("London",)),
            ],
        )
        attributes = updated.attributes
        assert attributes["name.givenName"] == "Alicia"
        assert "name.familyName" not in attributes
        assert attributes["emails"] == ["alice@example.org", "new@example.org"]
        assert attributes[EMPLOYEE_NUMBER] == "E-2"
        assert attributes["addresses.locality"] == "London"
        assert conn.get("User", uid) == updated

        replaced = conn.update(
            "User", uid, [AttributeDelta("emails", DeltaOp.REPLACE, ("only@example.org",))]
        )
        assert replaced.attributes["emails"] == ["only@example.org"]

        disabled = conn.set_enabled("User", uid, False)
        assert disabled.attributes["active"] is False
        assert conn.set_enabled("User", uid, True).attributes["active"] is True

        conn.delete("User", uid)
        with pytest.raises(AccountNotFound):
            conn.get("User", uid)
        with pytest.raises(AccountNotFound):
            conn.delete("User", uid)

    def test_update_by_put_when_the_provider_has_no_patch(self, connect: Connect) -> None:
        """Without PATCH the resource is read, changed and PUT whole."""
        with running_scim_server(patch=False) as server:
            conn = connect(server=server, secrets={})
            uid = conn.create(
                "User", {"userName": "bob", "emails": ["b@example.org"], "title": "Eng"}
            ).uid
            updated = conn.update(
                "User",
                uid,
                [
                    AttributeDelta("emails", DeltaOp.ADD, ("bob@example.org",)),
                    AttributeDelta("emails", DeltaOp.REMOVE, ("b@example.org",)),
                    AttributeDelta("title", DeltaOp.REPLACE, ("Lead",)),
                    AttributeDelta(EMPLOYEE_NUMBER, DeltaOp.ADD, ("E-9",)),
                ],
            )
            assert updated.attributes["emails"] == ["bob@example.org"]
            assert updated.attributes["title"] == "Lead"
            assert updated.attributes[EMPLOYEE_NUMBER] == "E-9"
            assert conn.set_enabled("User", uid, False).attributes["active"] is False
            methods = [m for m, path, _q in server.faults.requests if path.endswith(uid)]
            assert "PUT" in methods and "PATCH" not in methods

    def test_duplicate_user_name_is_account_exists_with_the_existing_id(
        self, conn: ScimConnection
    ) -> None:
        """A 409 on create carries the id of the account that holds the name."""
        first = conn.create("User", {"userName": "carol"})
        conn.create("User", {"userName": "carolyn"})
        with pytest.raises(AccountExists) as caught:
            conn.create("User", {"userName": "carol"})
        assert caught.value.uid == first.uid

    def test_unknown_ids_are_account_not_found(self, conn: ScimConnection) -> None:
        """get, update and delete of an id the provider does not have."""
        for uid in ("no-such-id", "..", "../Groups", ""):
            with pytest.raises(AccountNotFound):
                conn.get("User", uid)
        with pytest.raises(AccountNotFound):
            conn.update("User", "no-such-id", [AttributeDelta("title", DeltaOp.REPLACE, ("x",))])
        with pytest.raises(AccountNotFound):
            conn.delete("User", "no-such-id")

    def test_bad_request_is_rejected_with_the_scim_detail(self, conn: ScimConnection) -> None:
        """A 400 is permanent and says what the provider objected to."""
        with pytest.raises(TargetRejected, match=r"400: invalidValue: .*userName"):
            conn.create("User", {"displayName": "No Name"})

    def test_unknown_and_read_only_attributes_are_rejected(self, conn: ScimConnection) -> None:
        """Writes name schema attributes that may be written."""
        with pytest.raises(TargetRejected, match="unknown attribute"):
            conn.create("User", {"userName": "dave", "shoeSize": "44"})
        with pytest.raises(TargetRejected, match="read-only"):
            conn.create("User", {"userName": "dave", "id": "chosen"})
        uid = conn.create("User", {"userName": "dave"}).uid
        with pytest.raises(TargetRejected, match="cannot be updated"):
            conn.update("User", uid, [AttributeDelta("meta.created", DeltaOp.REPLACE, ("x",))])
        with pytest.raises(TargetRejected, match="single-valued"):
            conn.update("User", uid, [AttributeDelta("title", DeltaOp.REPLACE, ("a", "b"))])

    def test_wrong_object_class_is_rejected(self, conn: ScimConnection) -> None:
        """The connection manages only its configured resource type."""
        with pytest.raises(TargetRejected, match="unknown object class"):
            conn.get("Group", "x")

    def test_filter_injection_in_a_user_name_is_inert(self, conn: ScimConnection) -> None:
        """A userName made of filter syntax matches nobody else and stays one value."""
        others = {conn.create("User", {"userName": n}).uid for n in ("erin", "frank")}
        evil = '" or userName pr or "'
        assert conn.find_by_name("User", evil) is None
        mine = conn.create("User", {"userName": evil})
        assert mine.uid not in others
        found = conn.find_by_name("User", evil)
        assert found is not None and found.uid == mine.uid
        with pytest.raises(AccountExists) as caught:
            conn.create("User", {"userName": evil})
        assert caught.value.uid == mine.uid
        assert conn.find_by_name("User", 'erin" or "1" eq "1') is None


class TestSearch:
    def test_pages_over_250_users_each_once(
        self, connect: Connect, scim_server: ScimServer
    ) -> None:
        """page_size 100 reads 250 users in three pages, each exactly once."""
        ids = scim_server.seed_users(f"user{i:03d}" for i in range(250))
        scim_server.faults.clear()
        conn = connect(page_size=100)
        found = [o.uid for o in conn.search("User", 500)]
        assert sorted(found) == sorted(ids)
        starts = [q["startIndex"] for q in _list_queries(scim_server)]
        assert starts == [["1"], ["101"], ["201"]]

    def test_pages_past_the_servers_silent_cap(self, connect: Connect) -> None:
        """Asking more per page than the provider's cap (maxResults) still reads everything.

        scim2-server caps ``count`` silently at ``filter.maxResults`` (1000 by default);
        the cap is lowered to 40 here so the test stays cheap.
        """
        with running_scim_server(max_results=40) as server:
            ids = server.seed_users(f"u{i:03d}" for i in range(90))
            server.faults.clear()
            conn = connect(server=server, secrets={}, page_size=100)
            found = [o.uid for o in conn.search("User", 100)]
            assert len(found) == 90 and set(found) == set(ids)
            queries = _list_queries(server)
            assert [q["count"] for q in queries] == [["100"]] * 3
            assert [q["startIndex"] for q in queries] == [["1"], ["41"], ["81"]]

    def test_pages_past_the_default_cap_of_1000(
        self, connect: Connect, scim_server: ScimServer
    ) -> None:
        """With the provider's default cap: 1050 users asked 1500 at a time."""
        ids = scim_server.seed_users(f"u{i:04d}" for i in range(1050))
        scim_server.faults.clear()
        conn = connect(page_size=1500)
        found = [o.uid for o in conn.search("User", 1500)]
        assert len(found) == 1050 and set(found) == set(ids)
        starts = [q["startIndex"] for q in _list_queries(scim_server)]
        assert starts == [["1"], ["1001"]]

    def test_empty_provider(self, conn: ScimConnection) -> None:
        """No users, no objects."""
        assert list(conn.search("User", 10)) == []


class TestChanges:
    def test_supports_changes_follows_the_provider(
        self, conn: ScimConnection, connect: Connect
    ) -> None:
        """Incremental changes need a provider that filters."""
        assert conn.supports_changes is True
        with running_scim_server(filtering=False) as server:
            plain = connect(server=server, secrets={})
            assert plain.supports_changes is False
            token = plain.latest_token("User")
            with pytest.raises(TargetRejected, match="does not filter"):
                list(plain.changes("User", token))

    def test_a_user_changed_on_the_provider_is_found(
        self, conn: ScimConnection, scim_server: ScimServer
    ) -> None:
        """After a token, exactly what changed directly on the provider is reported."""
        ids = scim_server.seed_users(["gina", "hank", "ivan"])
        token = conn.latest_token("User")
        assert token is not None
        assert list(conn.changes("User", token)) == []

        with scim_server.client() as provider:
            body = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "displayName", "value": "Hank H."}],
            }
            provider.patch(f"Users/{ids[1]}", json=body).raise_for_status()

        changes = list(conn.changes("User", token))
        assert [(c.kind, c.uid) for c in changes] == [(ChangeKind.UPSERT, ids[1])]
        (change,) = changes
        assert change.object is not None
        assert change.object.attributes["displayName"] == "Hank H."
        assert change.token is not None and change.token > token
        assert list(conn.changes("User", change.token)) == []

        new = conn.create("User", {"userName": "jane"})
        conn.update("User", ids[0], [AttributeDelta("title", DeltaOp.REPLACE, ("Boss",))])
        later = list(conn.changes("User", change.token))
        assert [c.uid for c in later] == [new.uid, ids[0]]
        assert later[-1].token == conn.latest_token("User")

    def test_latest_token_without_provider_sorting(self, connect: Connect) -> None:
        """Without sort support the newest position is found by paging."""
        with running_scim_server(sort=False) as server:
            ids = server.seed_users(f"s{i}" for i in range(5))
            conn = connect(server=server, secrets={}, page_size=2)
            token = conn.latest_token("User")
            assert token is not None and token.rsplit("|", 1)[1] in ids
            assert list(conn.changes("User", token)) == []

    def test_no_token_lists_everything_and_empty_provider_has_a_token(
        self, conn: ScimConnection
    ) -> None:
        """changes(None) is every resource oldest first; an empty provider starts at 0."""
        start = conn.latest_token("User")
        assert start is not None and start.startswith("1970-01-01")
        first = conn.create("User", {"userName": "kim"})
        second = conn.create("User", {"userName": "lee"})
        assert [c.uid for c in conn.changes("User", None)] == [first.uid, second.uid]
        assert [c.uid for c in conn.changes("User", start)] == [first.uid, second.uid]

    def test_a_foreign_token_is_rejected(self, conn: ScimConnection) -> None:
        """A token this type did not write is refused."""
        with pytest.raises(TargetRejected, match="token"):
            list(conn.changes("User", "yesterday"))


class TestProviderFailures:
    def test_429_carries_retry_after(self, conn: ScimConnection, scim_server: ScimServer) -> None:
        """429 is transient and tells when to retry; the next attempt succeeds."""
        uid = conn.create("User", {"userName": "mia"}).uid
        scim_server.faults.fail_next(1, 429, retry_after="1")
        with pytest.raises(TargetUnavailable) as caught:
            conn.get("User", uid)
        assert caught.value.retry_after == 1.0
        assert "429" in str(caught.value)
        assert conn.get("User", uid).name == "mia"

    def test_429_with_an_http_date(self, conn: ScimConnection, scim_server: ScimServer) -> None:
        """Retry-After may be an HTTP date."""
        when = email.utils.formatdate(time.time() + 30, usegmt=True)
        scim_server.faults.fail_next(1, 429, retry_after=when)
        with pytest.raises(TargetUnavailable) as caught:
            conn.test()
        assert caught.value.retry_after is not None
        assert 25 <= caught.value.retry_after <= 31

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_5xx_is_transient(
        self, conn: ScimConnection, scim_server: ScimServer, status: int
    ) -> None:
        """Server errors are retried later."""
        scim_server.faults.fail_next(1, status)
        with pytest.raises(TargetUnavailable, match=str(status)) as caught:
            list(conn.search("User", 10))
        assert caught.value.retry_after is None

    def test_failure_on_a_later_page_surfaces_while_streaming(
        self, connect: Connect, scim_server: ScimServer
    ) -> None:
        """A page that fails mid-scan raises from the stream, not silently ends it."""
        scim_server.seed_users(f"p{i}" for i in range(5))
        conn = connect(page_size=2)
        stream = conn.search("User", 2)
        assert next(stream) is not None
        assert next(stream) is not None
        scim_server.faults.fail_next(1, 503, retry_after="2")
        with pytest.raises(TargetUnavailable) as caught:
            next(stream)
        assert caught.value.retry_after == 2.0

    def test_a_secret_echoed_by_the_provider_is_masked(
        self, conn: ScimConnection, scim_server: ScimServer
    ) -> None:
        """Error details never carry a configured secret, even when the provider echoes it."""
        scim_server.faults.fail_next(1, 400, detail=f"bad header Bearer {TOKEN}")
        with pytest.raises(TargetRejected, match="400: bad header Bearer \\*\\*\\*") as caught:
            conn.test()
        assert TOKEN not in str(caught.value)
