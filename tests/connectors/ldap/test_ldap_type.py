"""The ``ldap`` connector type against a real slapd started by the tests (SPEC §5, §7)."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.slapd import Slapd, free_port
from xavyo_connectors_core.config import validate_config
from xavyo_connectors_core.errors import (
    AccountExists,
    AccountNotFound,
    TargetRejected,
    TargetUnavailable,
)
from xavyo_connectors_core.model import AttributeDelta, AttributeType, Capability, DeltaOp
from xavyo_connectors_core.spi import ChangeKind, ConnectorObject, OpenContext
from xavyo_connectors_core.types.ldap import TYPE, LdapConnection

pytestmark = pytest.mark.slapd

Config = Callable[..., dict[str, Any]]
PERSON = "inetOrgPerson"


@contextmanager
def opened(
    config: dict[str, Any], secrets: dict[str, str] | None = None
) -> Iterator[LdapConnection]:
    with TYPE.open(config, secrets or {}, OpenContext(files_root=Path("."))) as conn:
        yield conn


def person(uid: str, **extra: Any) -> dict[str, Any]:
    return {"uid": uid, "cn": f"{uid} person", "sn": "Person", **extra}


def add_people(admin: Any, ou: str, count: int, prefix: str = "user") -> None:
    for i in range(count):
        admin.add(
            f"uid={prefix}{i:05d},{ou}",
            ["inetOrgPerson"],
            {"uid": f"{prefix}{i:05d}", "cn": f"User {i}", "sn": "Seeded"},
        )


class TestConfig:
    def test_the_type_declares_its_keys_and_capabilities(self) -> None:
        """The config keys are exactly SPEC §5's, with the password a secret."""
        names = [f.name for f in TYPE.config_spec]
        assert names == [
            "url",
            "start_tls",
            "bind_dn",
            "password",
            "base_dn",
            "filter",
            "scope",
            "object_class",
            "rdn_attribute",
            "uid_attribute",
            "name_attribute",
            "enabled_attribute",
            "page_size",
            "changelog",
            "active_directory",
            "timeout_seconds",
        ]
        assert [f.name for f in TYPE.config_spec if f.secret] == ["password"]
        assert Capability.CHANGES in TYPE.capabilities
        assert TYPE.can_disable({"enabled_attribute": "xavyoEnabled"})
        assert TYPE.can_disable({"active_directory": True})
        assert not TYPE.can_disable({})

    def test_invalid_values_are_reported_with_their_paths(self) -> None:
        """Bad URLs, DNs, filters and choices are field errors."""
        _, errors = validate_config(
            TYPE,
            {
                "url": "ldap://h",
                "scope": "base",
                "changelog": "dirsync",
                "colour": "red",
                "password": "in-the-wrong-place",
            },
            {},
        )
        assert {e.path for e in errors} == {
            "config.base_dn",
            "config.scope",
            "config.changelog",
            "config.colour",
            "config.password",
        }
        assert all("in-the-wrong-place" not in e.message for e in errors)
        _, errors = validate_config(
            TYPE,
            {"url": "http://h", "base_dn": "not a dn", "filter": "(uid=a", "page_size": 0},
            {},
        )
        assert {e.path for e in errors} == {
            "config.url",
            "config.base_dn",
            "config.filter",
            "config.page_size",
        }
        _, errors = validate_config(
            TYPE, {"url": "ldaps://u:p@h", "base_dn": "dc=x", "start_tls": True}, {}
        )
        assert [e.path for e in errors] == ["config.url"]
        assert "p@" not in errors[0].message

    def test_importing_the_type_does_not_import_ldap3(self) -> None:
        """The driver is imported only when a connection opens (STYLE: lazy drivers)."""
        code = (
            "import sys, xavyo_connectors_core.types.ldap as m; "
            "assert m.TYPE.key == 'ldap'; assert 'ldap3' not in sys.modules"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


class TestConnection:
    def test_a_bind_as_the_configured_user_succeeds(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        """``test()`` binds and names the DN it bound as."""
        with opened(ldap_config(), root_secrets) as conn:
            message = conn.test()
        assert message.startswith("bound as cn=admin,dc=example,dc=org")
        assert "plain LDAP" in message

    def test_an_anonymous_bind_succeeds(self, ldap_config: Config) -> None:
        with opened(ldap_config(bind_dn=None)) as conn:
            assert conn.test().startswith("bound anonymously")

    def test_a_wrong_password_is_rejected_without_echoing_it(self, ldap_config: Config) -> None:
        """Invalid credentials are permanent: ``TargetRejected``, password not in the message."""
        with (
            opened(ldap_config(), {"password": "wrong-Secret-123"}) as conn,
            pytest.raises(TargetRejected, match="invalid credentials") as info,
        ):
            conn.test()
        assert "wrong-Secret-123" not in str(info.value)

    def test_a_closed_port_is_unavailable(self, ldap_config: Config) -> None:
        """Nobody listening is transient: ``TargetUnavailable``."""
        config = ldap_config(url=f"ldap://127.0.0.1:{free_port()}")
        with (
            opened(config, {"password": "pw-not-shown"}) as conn,
            pytest.raises(TargetUnavailable) as info,
        ):
            conn.test()
        assert "pw-not-shown" not in str(info.value)

    def test_a_server_that_never_answers_times_out_as_unavailable(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        """``timeout_seconds`` bounds every round trip; a silent server is transient."""
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(1)  # connects succeed; nothing is ever answered
            port = silent.getsockname()[1]
            config = ldap_config(url=f"ldap://127.0.0.1:{port}", timeout_seconds=0.5)
            started = time.monotonic()
            with opened(config, root_secrets) as conn, pytest.raises(TargetUnavailable):
                conn.test()
            assert time.monotonic() - started < 5

    def test_a_missing_base_dn_is_rejected(
        self, ldap_config: Config, root_secrets: dict[str, str], slapd_server: Slapd
    ) -> None:
        config = ldap_config(base_dn=f"ou=nowhere,{slapd_server.base_dn}")
        with opened(config, root_secrets) as conn, pytest.raises(TargetRejected):
            conn.test()

    def test_starttls_and_ldaps_verify_the_server(
        self,
        ldap_config: Config,
        root_secrets: dict[str, str],
        slapd_server: Slapd,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """StartTLS and LDAPS bind when the CA is trusted; an untrusted certificate is refused."""
        assert slapd_server.ldaps_url is not None
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(slapd_server.directory / "nothing.pem"))
        with (
            opened(ldap_config(url=slapd_server.ldaps_url), root_secrets) as conn,
            pytest.raises(TargetRejected, match="not trusted"),
        ):
            conn.test()
        monkeypatch.setenv("SSL_CERT_FILE", str(slapd_server.ca_file))
        with opened(ldap_config(start_tls=True), root_secrets) as conn:
            assert "over StartTLS" in conn.test()
            assert conn.get(PERSON, conn.create(PERSON, person("tls")).uid).name == "tls"
        with opened(ldap_config(url=slapd_server.ldaps_url), root_secrets) as conn:
            assert "over LDAPS" in conn.test()
            assert [o.name for o in conn.search(PERSON, 10)] == ["tls"]


class TestSchema:
    def test_the_object_class_comes_from_the_subschema(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        """Superclass MUST/MAY attributes, syntaxes, SINGLE-VALUE and the uid attribute."""
        with opened(ldap_config(object_class="xavyoAccount"), root_secrets) as conn:
            schema = conn.schema()
        (oc,) = schema.object_classes
        assert oc.name == "xavyoAccount"
        assert (oc.uid_attribute, oc.name_attribute) == ("entryUUID", "uid")
        attrs = {a.name: a for a in oc.attributes}

        def kind(name: str) -> tuple[AttributeType, bool, bool]:
            a = attrs[name]
            return a.type, a.multivalued, a.required

        assert kind("cn") == (AttributeType.STRING, True, True)  # person MUST, via SUP name
        assert kind("sn") == (AttributeType.STRING, True, True)
        assert kind("mail") == (AttributeType.STRING, True, False)  # IA5 String
        assert kind("displayName") == (AttributeType.STRING, False, False)  # SINGLE-VALUE
        assert kind("uidNumber") == (AttributeType.INTEGER, False, False)
        assert kind("xavyoEnabled") == (AttributeType.BOOLEAN, False, False)
        assert kind("xavyoExpires") == (AttributeType.DATETIME, False, False)
        assert kind("jpegPhoto") == (AttributeType.BINARY, True, False)
        assert kind("manager") == (AttributeType.REFERENCE, True, False)
        assert not attrs["objectClass"].required
        uid = attrs["entryUUID"]
        assert (uid.creatable, uid.updateable, uid.multivalued) == (False, False, False)
        assert not uid.returned_by_default  # operational
        assert not attrs["userPassword"].readable
        assert attrs["dn"].type is AttributeType.REFERENCE and not attrs["dn"].creatable
        assert attrs["cn"].returned_by_default and attrs["cn"].creatable

    def test_an_unknown_object_class_is_rejected(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        with (
            opened(ldap_config(object_class="noSuchClass"), root_secrets) as conn,
            pytest.raises(TargetRejected, match="noSuchClass"),
        ):
            conn.schema()


class TestReadWrite:
    def test_create_get_update_and_delete(
        self, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """An account's life: values normalized by the schema, deltas applied, then gone."""
        with opened(ldap_config(), root_secrets) as conn:
            created = conn.create(
                PERSON,
                person("alice", mail=["alice@example.org", "a@example.org"], displayName="Alice"),
            )
            assert created.name == "alice"
            assert len(created.uid) == 36  # an entryUUID
            attrs = created.attributes
            assert attrs["dn"] == f"uid=alice,{ldap_ou}"
            assert attrs["displayName"] == "Alice"  # SINGLE-VALUE: a scalar
            assert attrs["sn"] == ["Person"]  # multivalued: a list, even with one value
            assert sorted(attrs["mail"]) == ["a@example.org", "alice@example.org"]
            assert set(attrs["objectClass"]) >= {"inetOrgPerson", "person", "top"}
            assert conn.get(PERSON, created.uid) == created

            updated = conn.update(
                PERSON,
                created.uid,
                [
                    AttributeDelta("displayName", DeltaOp.REPLACE, ("Alice A.",)),
                    AttributeDelta("mail", DeltaOp.ADD, ("alice@corp.example",)),
                    AttributeDelta("mail", DeltaOp.REMOVE, ("a@example.org",)),
                    AttributeDelta("telephoneNumber", DeltaOp.ADD, ("+1 555 0100",)),
                ],
            )
            assert updated.uid == created.uid
            assert updated.attributes["displayName"] == "Alice A."
            assert sorted(updated.attributes["mail"]) == ["alice@corp.example", "alice@example.org"]
            # the same deltas again change nothing and fail on nothing (retries are harmless)
            again = conn.update(
                PERSON,
                created.uid,
                [
                    AttributeDelta("mail", DeltaOp.ADD, ("ALICE@corp.example",)),
                    AttributeDelta("mail", DeltaOp.REMOVE, ("a@example.org",)),
                ],
            )
            assert again == updated
            cleared = conn.update(
                PERSON, created.uid, [AttributeDelta("telephoneNumber", DeltaOp.REMOVE)]
            )
            assert "telephoneNumber" not in cleared.attributes

            conn.delete(PERSON, created.uid)
            with pytest.raises(AccountNotFound):
                conn.get(PERSON, created.uid)
            with pytest.raises(AccountNotFound):
                conn.delete(PERSON, created.uid)
            with pytest.raises(AccountNotFound):
                conn.update(PERSON, created.uid, [AttributeDelta("sn", DeltaOp.REPLACE, ("x",))])

    def test_changing_the_naming_attribute_renames_the_entry(
        self, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """The uid (entryUUID) survives a rename; the DN follows the new RDN value."""
        with opened(ldap_config(), root_secrets) as conn:
            created = conn.create(PERSON, person("bob"))
            renamed = conn.update(
                PERSON,
                created.uid,
                [
                    AttributeDelta("uid", DeltaOp.REPLACE, ("robert",)),
                    AttributeDelta("cn", DeltaOp.REPLACE, ("Robert",)),
                ],
            )
            assert renamed.uid == created.uid
            assert renamed.name == "robert"
            assert renamed.attributes["dn"] == f"uid=robert,{ldap_ou}"
            assert renamed.attributes["uid"] == ["robert"]
            assert renamed.attributes["cn"] == ["Robert"]
            with pytest.raises(TargetRejected, match="cannot be removed"):
                conn.update(PERSON, created.uid, [AttributeDelta("uid", DeltaOp.REMOVE)])

    def test_a_second_create_of_the_same_name_raises_account_exists(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        with opened(ldap_config(), root_secrets) as conn:
            first = conn.create(PERSON, person("carol"))
            with pytest.raises(AccountExists) as info:
                conn.create(PERSON, person("carol"))
        assert info.value.uid == first.uid

    def test_schema_violations_are_rejected(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        """A missing MUST attribute, a bad syntax, or a server-set attribute: permanent."""
        with (
            opened(ldap_config(object_class="xavyoAccount"), root_secrets) as conn,
            pytest.raises(TargetRejected, match=r"objectClassViolation|sn"),
        ):
            conn.create("xavyoAccount", {"uid": "nosn", "cn": "No Surname"})
            with pytest.raises(TargetRejected):
                conn.create("xavyoAccount", person("badint", uidNumber="twelve"))
            with pytest.raises(TargetRejected, match="entryUUID"):
                conn.create("xavyoAccount", person("setuid", entryUUID="x"))
            with pytest.raises(TargetRejected, match="naming attribute"):
                conn.create("xavyoAccount", {"cn": "no uid", "sn": "x"})
            with pytest.raises(TargetRejected, match="object class"):
                conn.create(PERSON, person("wrongclass"))

    def test_typed_values_round_trip(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        """Integers, booleans, times (RFC 3339) and binary (base64) keep their types."""
        photo = base64.b64encode(b"\xff\xd8\xff\xe0 not really a jpeg \x00\x01").decode()
        with opened(ldap_config(object_class="xavyoAccount"), root_secrets) as conn:
            created = conn.create(
                "xavyoAccount",
                person(
                    "typed",
                    uidNumber=1042,
                    xavyoEnabled=True,
                    xavyoExpires="2030-05-01T12:30:00+02:00",
                    jpegPhoto=photo,
                    userPassword="s3cret-Password",
                ),
            )
            attrs = created.attributes
            assert attrs["uidNumber"] == 1042
            assert attrs["xavyoEnabled"] is True
            assert attrs["xavyoExpires"] == "2030-05-01T10:30:00Z"
            assert attrs["jpegPhoto"] == [photo]
            assert "userPassword" not in attrs  # never read back
            assert all("s3cret" not in str(v) for v in attrs.values())

    def test_disable_and_enable_through_the_enabled_attribute(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        config = ldap_config(object_class="xavyoAccount", enabled_attribute="xavyoEnabled")
        with opened(config, root_secrets) as conn:
            created = conn.create("xavyoAccount", person("dave", xavyoEnabled=True))
            assert (
                conn.set_enabled("xavyoAccount", created.uid, False).attributes["xavyoEnabled"]
                is False
            )
            assert (
                conn.set_enabled("xavyoAccount", created.uid, True).attributes["xavyoEnabled"]
                is True
            )
        with (
            opened(ldap_config(), root_secrets) as conn,
            pytest.raises(TargetRejected, match="enabled_attribute"),
        ):
            conn.set_enabled(PERSON, created.uid, False)

    @pytest.mark.parametrize(
        "uid",
        [
            'comma,plus+quote"',
            "back\\slash; <angle> =eq",
            " lead#and trail ",
            "#hash",
            "Zoë Ünïcode",
        ],
    )
    def test_special_characters_in_names_are_escaped(
        self, ldap_config: Config, root_secrets: dict[str, str], uid: str
    ) -> None:
        """RDN values with ``,``, ``+``, ``"``, ``\\`` ... name entries literally (RFC 4514)."""
        with opened(ldap_config(), root_secrets) as conn:
            created = conn.create(PERSON, person(uid))
            assert created.name == uid
            assert conn.get(PERSON, created.uid).attributes["uid"] == [uid]
            renamed = conn.update(
                PERSON, created.uid, [AttributeDelta("uid", DeltaOp.REPLACE, (uid + ",2",))]
            )
            assert renamed.name == uid + ",2"
            assert [o.uid for o in conn.search(PERSON, 10)] == [created.uid]
            conn.delete(PERSON, created.uid)
            assert list(conn.search(PERSON, 10)) == []

    def test_filter_injection_is_inert(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        """Values that look like filter syntax are matched literally, never as filters."""
        with opened(ldap_config(), root_secrets) as conn:
            a = conn.create(PERSON, person("eve", description="*)(uid=*"))
            b = conn.create(PERSON, person("frank"))
            for probe in ("*)(uid=*", "*", f"{a.uid})(uid=*", "*)(|(objectClass=*", "\\2a"):
                with pytest.raises(AccountNotFound):
                    conn.get(PERSON, probe)
                with pytest.raises(AccountNotFound):
                    conn.delete(PERSON, probe)
                with pytest.raises(AccountNotFound):
                    conn.update(PERSON, probe, [AttributeDelta("sn", DeltaOp.REPLACE, ("x",))])
            assert sorted(o.uid for o in conn.search(PERSON, 10)) == sorted([a.uid, b.uid])
            assert conn.get(PERSON, a.uid).attributes["description"] == ["*)(uid=*"]
            injected = conn.create(PERSON, person("*)(uid=*"))
            assert injected.attributes["uid"] == ["*)(uid=*"]
            assert len(list(conn.search(PERSON, 10))) == 3


class TestSearch:
    def test_a_paged_search_returns_every_entry_exactly_once(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """1,200 entries in pages of 100: each seen once; an abandoned search frees its pages."""
        add_people(admin, ldap_ou, 1200)
        admin.add(f"ou=groups,{ldap_ou}", ["organizationalUnit"], {"ou": "groups"})
        with opened(ldap_config(page_size=100), root_secrets) as conn:
            seen = [o.uid for o in conn.search(PERSON, 100)]
            assert len(seen) == 1200 and len(set(seen)) == 1200
            partial = conn.search(PERSON, 100)
            first = [next(partial) for _ in range(150)]
            partial.close()  # abandons the paged search mid-way
            assert len({o.uid for o in first}) == 150
            assert conn.get(PERSON, seen[-1]).uid == seen[-1]
            names = {o.name for o in conn.search(PERSON, 100)}
            assert len(names) == 1200 and "user00000" in names

    def test_scope_one_skips_deeper_entries(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        add_people(admin, ldap_ou, 2, prefix="top")
        admin.add(f"ou=deeper,{ldap_ou}", ["organizationalUnit"], {"ou": "deeper"})
        add_people(admin, f"ou=deeper,{ldap_ou}", 3, prefix="deep")
        with opened(ldap_config(scope="one"), root_secrets) as conn:
            assert sorted(o.name for o in conn.search(PERSON, 10)) == ["top00000", "top00001"]
        with opened(ldap_config(scope="sub"), root_secrets) as conn:
            assert len(list(conn.search(PERSON, 10))) == 5


def drain(conn: LdapConnection, token: str | None) -> list[Any]:
    return list(conn.changes(PERSON, token))


class TestAccesslogChanges:
    def test_a_direct_modify_is_seen_exactly_once(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """latest_token, a direct LDAP modify, then changes(): exactly that entry, then nothing."""
        add_people(admin, ldap_ou, 3)
        with opened(ldap_config(), root_secrets) as conn:
            token = conn.latest_token(PERSON)
            assert token is not None and token.startswith("accesslog:")
            assert drain(conn, token) == []
            admin.modify(f"uid=user00001,{ldap_ou}", {"sn": [("MODIFY_REPLACE", ["Changed"])]})
            changes = drain(conn, token)
            assert [(c.kind, c.object.name) for c in changes] == [(ChangeKind.UPSERT, "user00001")]
            (change,) = changes
            assert change.object.attributes["sn"] == ["Changed"]
            assert change.uid == conn.get(PERSON, change.uid).uid
            assert change.token is not None and change.token > token
            assert drain(conn, change.token) == []

    def test_a_direct_delete_yields_a_delete_with_the_entry_uuid(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        add_people(admin, ldap_ou, 2)
        with opened(ldap_config(), root_secrets) as conn:
            victim = next(o for o in conn.search(PERSON, 10) if o.name == "user00000")
            token = conn.latest_token(PERSON)
            admin.delete(f"uid=user00000,{ldap_ou}")
            changes = drain(conn, token)
            assert [(c.kind, c.uid, c.object) for c in changes] == [
                (ChangeKind.DELETE, victim.uid, None)
            ]

    def test_adds_renames_and_order_are_followed(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """Adds and renames are upserts of the entry as it is now; tokens only grow.

        The add of an entry renamed since is skipped (its DN is gone): the rename's record
        brings the entry, under its new DN, with the same uid.
        """
        with opened(ldap_config(), root_secrets) as conn:
            token = conn.latest_token(PERSON)
            add_people(admin, ldap_ou, 3)
            admin.modify_dn(f"uid=user00000,{ldap_ou}", "uid=renamed")
            admin.modify(f"uid=user00002,{ldap_ou}", {"sn": [("MODIFY_REPLACE", ["Later"])]})
            changes = drain(conn, token)
            assert [(c.kind, c.object.name) for c in changes] == [
                (ChangeKind.UPSERT, "user00001"),
                (ChangeKind.UPSERT, "user00002"),
                (ChangeKind.UPSERT, "renamed"),
                (ChangeKind.UPSERT, "user00002"),
            ]
            renamed = changes[2].object
            assert renamed.attributes["dn"] == f"uid=renamed,{ldap_ou}"
            assert conn.get(PERSON, renamed.uid).name == "renamed"
            tokens = [c.token for c in changes]
            assert tokens == sorted(tokens) and len(set(tokens)) == 4
            # resuming from a change's token sees only what came after it
            assert [c.token for c in drain(conn, tokens[1])] == tokens[2:]

    def test_log_pages_and_interleaved_reads_do_not_disturb_each_other(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """Many log records over small pages, re-reads and searches in between: all seen."""
        with opened(ldap_config(page_size=3), root_secrets) as conn:
            token = conn.latest_token(PERSON)
            add_people(admin, ldap_ou, 10)
            names = []
            for change in conn.changes(PERSON, token):
                names.append(change.object.name)
                assert conn.get(PERSON, change.uid).uid == change.uid
                assert len(list(conn.search(PERSON, 3))) == 10  # a nested paged search
            assert names == [f"user{i:05d}" for i in range(10)]

    def test_writes_outside_the_base_or_filter_are_skipped(
        self,
        admin: Any,
        ldap_config: Config,
        root_secrets: dict[str, str],
        ldap_ou: str,
        slapd_server: Slapd,
    ) -> None:
        elsewhere = f"ou=elsewhere-{ldap_ou.split(',')[0][3:]},{slapd_server.base_dn}"
        with opened(ldap_config(), root_secrets) as conn:
            token = conn.latest_token(PERSON)
            admin.add(elsewhere, ["organizationalUnit"], {"ou": elsewhere.split(",")[0][3:]})
            try:
                add_people(admin, elsewhere, 1)
                admin.delete(f"uid=user00000,{elsewhere}")
            finally:
                admin.delete(elsewhere)
            admin.add(f"ou=sub,{ldap_ou}", ["organizationalUnit"], {"ou": "sub"})  # not a person
            admin.delete(f"ou=sub,{ldap_ou}")
            assert drain(conn, token) == []

    def test_an_ou_named_like_a_filter_is_escaped(
        self, admin: Any, ldap_ou: str, root_secrets: dict[str, str], ldap_config: Config
    ) -> None:
        """The base DN goes into the access-log filter escaped: ``)(`` cannot widen it."""
        tricky = f"ou=x)(reqDN=*\\2C,{ldap_ou}"
        admin.add(tricky, ["organizationalUnit"], {"ou": "x)(reqDN=*,"})
        with opened(ldap_config(base_dn=tricky), root_secrets) as conn:
            token = conn.latest_token(PERSON)
            add_people(admin, ldap_ou, 1, prefix="outside")
            add_people(admin, tricky, 1, prefix="inside")
            assert [c.object.name for c in drain(conn, token)] == ["inside00000"]

    def test_auto_falls_back_to_timestamps_when_the_log_is_hidden(
        self, ldap_config: Config, root_secrets: dict[str, str]
    ) -> None:
        """Anonymous users cannot read cn=accesslog: auto uses modifyTimestamp; accesslog fails."""
        with opened(ldap_config(bind_dn=None)) as conn:
            token = conn.latest_token(PERSON)
            assert token is not None and token.startswith("timestamp:")
        with (
            opened(ldap_config(bind_dn=None, changelog="accesslog")) as conn,
            pytest.raises(TargetRejected, match="not readable"),
        ):
            conn.latest_token(PERSON)
        with opened(ldap_config(changelog="none"), root_secrets) as conn:
            assert not conn.supports_changes
            assert conn.latest_token(PERSON) is None

    def test_tokens_are_checked_and_carry_across_modes(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """A malformed token is refused; a timestamp token works for the access log."""
        with opened(ldap_config(changelog="timestamp"), root_secrets) as conn:
            stamp_token = conn.latest_token(PERSON)
        time.sleep(1.05)
        add_people(admin, ldap_ou, 1)
        with opened(ldap_config(), root_secrets) as conn:
            for bad in ("nonsense", "accesslog:yesterday", "usn:12"):
                with pytest.raises(TargetRejected):
                    drain(conn, bad)
            assert [c.object.name for c in drain(conn, stamp_token)] == ["user00000"]


class TestTimestampChanges:
    def test_a_direct_modify_is_seen_and_not_repeated(
        self, admin: Any, ldap_config: Config, root_secrets: dict[str, str], ldap_ou: str
    ) -> None:
        """modifyTimestamp >= token - overlap finds the modify; unchanged repeats are skipped."""
        add_people(admin, ldap_ou, 3)
        with opened(ldap_config(changelog="timestamp"), root_secrets) as conn:
            token = conn.latest_token(PERSON)
            assert token is not None and token.startswith("timestamp:")
            first = drain(conn, token)  # entries written inside the overlap may show up
            assert {c.object.name for c in first} <= {"user00000", "user00001", "user00002"}
            token = first[-1].token if first else token
            assert drain(conn, token) == []
            time.sleep(1.05)  # a new modifyTimestamp second
            admin.modify(f"uid=user00002,{ldap_ou}", {"sn": [("MODIFY_REPLACE", ["Later"])]})
            changes = drain(conn, token)
            assert [c.object.name for c in changes][-1:] == ["user00002"]
            seen = {c.object.name: c.object for c in changes}
            assert seen["user00002"].attributes["sn"] == ["Later"]
            assert "modifyTimestamp" not in seen["user00002"].attributes
            assert all(c.kind is ChangeKind.UPSERT for c in changes)
            assert drain(conn, changes[-1].token) == []


def test_objects_are_plain_connector_objects(
    ldap_config: Config, root_secrets: dict[str, str]
) -> None:
    """Search results carry the uid, the name and ``dn`` with the user attributes."""
    with opened(ldap_config(), root_secrets) as conn:
        conn.create(PERSON, person("grace"))
        (obj,) = conn.search(PERSON, 5)
    assert isinstance(obj, ConnectorObject)
    assert obj.attributes["uid"] == ["grace"]
    assert "entryUUID" in obj.attributes and obj.attributes["entryUUID"] == obj.uid


def test_active_directory_guids_are_text_and_escaped_byte_by_byte() -> None:
    """AD mode (not run against a real AD): objectGUID bytes <-> GUID text, and every byte of
    a GUID in a filter is escaped."""
    from xavyo_connectors_core.types.ldap import _guid_filter_value, _guid_text

    raw = bytes(range(16))
    text = _guid_text(raw)
    assert text == "03020100-0504-0706-0809-0a0b0c0d0e0f"
    assert _guid_filter_value(text) == "".join(f"\\{b:02x}" for b in raw)
    assert _guid_filter_value("*)(objectClass=*") is None
    settings_config = {
        "url": "ldaps://dc.example",
        "base_dn": "dc=example",
        "active_directory": True,
    }
    conn = TYPE.open(settings_config, {}, OpenContext(files_root=Path(".")))
    assert conn._settings.uid_attribute == "objectGUID"
    assert TYPE.can_disable(settings_config)
