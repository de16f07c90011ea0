"""End to end against real servers (issue 7): an HR file, OpenLDAP and a SCIM provider.

Everything goes through the library's public use cases and the durable queue: connectors
are created with ``create_connector``, syncs and reconciliations are queued runs executed
by a worker, and identity changes reach the targets only when the provisioning queue is
drained. The directory is the session ``slapd`` (one fresh ``ou`` per test, read and
written "directly" through a raw ldap3 root connection); the SCIM provider is a fresh
scim2-server per test, reached directly through its own HTTP client and scripted to fail
with ``faults.fail_next``. Stores are the embedded SQLite store (the end-to-end test also
runs on the in-memory one); a ``FixedClock`` moves the store's time only when told to.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

import pytest

from tests.connectors.scim.conftest import TOKEN
from tests.support.scim_server import CORE_USER, ScimServer
from tests.support.slapd import Slapd
from xavyo_connectors_core.clock import FixedClock
from xavyo_connectors_core.connectors import create_connector, get_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.identities import create_identity, update_identity
from xavyo_connectors_core.model import (
    Discrepancy,
    Identity,
    LeaveScope,
    OperationKind,
    OperationStatus,
    Run,
    RunStatus,
    Situation,
)
from xavyo_connectors_core.provisioning import Provisioner, get_operation
from xavyo_connectors_core.reconciliation import list_discrepancies, start_reconciliation
from xavyo_connectors_core.registry import default_registry
from xavyo_connectors_core.runs import get_run, start_sync
from xavyo_connectors_core.secrets import KeyRing, generate_key
from xavyo_connectors_core.tenancy import ensure_tenant
from xavyo_connectors_core.worker import Worker, drain_all

pytestmark = pytest.mark.slapd

HEADER = ["employee_id", "email", "given_name", "family_name", "department"]
SITUATIONS = {s.value for s in Situation}
LDAP_INJECTION = "*)(uid=*"
SCIM_INJECTION = '" or userName pr or "'


# --------------------------------------------------------------------------- fixtures


def _deps(url: str, files: Path) -> Deps:
    from xavyo_connectors_core.stores import open_store

    files.mkdir(exist_ok=True)
    return Deps(
        store=open_store(url),
        registry=default_registry(),
        keyring=KeyRing([generate_key()]),
        clock=FixedClock(datetime(2026, 1, 1, tzinfo=UTC)),
        files_root=files,
    )


@pytest.fixture
def deps(tmp_path: Path) -> Iterator[Deps]:
    """The embedded SQLite store (one file), a fixed clock, a files root."""
    made = _deps(str(tmp_path / "store.db"), tmp_path / "files")
    yield made
    made.store.close()


@pytest.fixture
def tenant_id(deps: Deps) -> UUID:
    return ensure_tenant(deps, "acme").id


@pytest.fixture
def scim(scim_server: ScimServer) -> ScimServer:
    return scim_server


# --------------------------------------------------------------------------- helpers


def person(i: int, **over: Any) -> dict[str, Any]:
    row = {
        "employee_id": f"E{i:05d}",
        "email": f"Person{i}@Example.org",
        "given_name": f"Given{i}",
        "family_name": f"Family{i}",
        "department": "eng" if i % 2 == 0 else "sales",
    }
    row.update(over)
    return row


def write_hr(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


def hr_source(deps: Deps, tenant_id: UUID) -> UUID:
    return create_connector(
        deps,
        tenant_id,
        {
            "name": "hr",
            "type": "csv",
            "role": "source",
            "config": {"path": "hr.csv", "uid_column": "employee_id"},
            "mappings": [
                {"identity": "employee_id", "account": "employee_id", "direction": "inbound"},
                {
                    "identity": "email",
                    "account": "email",
                    "direction": "inbound",
                    "transform": ["lower"],
                },
                {"identity": "given_name", "account": "given_name", "direction": "inbound"},
                {"identity": "family_name", "account": "family_name", "direction": "inbound"},
                {"identity": "department", "account": "department", "direction": "inbound"},
            ],
            "correlation": [{"identity": "employee_id", "account": "employee_id"}],
        },
    ).id


ENG_ONLY = [{"identity": "department", "op": "eq", "value": "eng"}]


def ldap_target(deps: Deps, tenant_id: UUID, slapd: Slapd, ou: str, **extra: Any) -> UUID:
    doc: dict[str, Any] = {
        "name": "directory",
        "type": "ldap",
        "role": "target",
        "config": {
            "url": slapd.url,
            "bind_dn": slapd.root_dn,
            "base_dn": ou,
            "timeout_seconds": 5,
        },
        "secrets": {"password": slapd.root_password},
        "mappings": [
            {"identity": "employee_id", "account": "uid", "direction": "outbound"},
            {"identity": "email", "account": "mail", "direction": "outbound"},
            {"template": "{given_name} {family_name}", "account": "cn", "direction": "outbound"},
            {"identity": "family_name", "account": "sn", "direction": "outbound"},
            {"identity": "given_name", "account": "givenName", "direction": "outbound"},
        ],
        "correlation": [{"identity": "employee_id", "account": "uid"}],
        "scope": ENG_ONLY,
    }
    doc.update(extra)
    return create_connector(deps, tenant_id, doc).id


def scim_target(deps: Deps, tenant_id: UUID, server: ScimServer, **extra: Any) -> UUID:
    doc: dict[str, Any] = {
        "name": "saas",
        "type": "scim",
        "role": "target",
        "config": {"base_url": server.base_url, "timeout_seconds": 5},
        "secrets": {"token": TOKEN},
        "mappings": [
            {"identity": "email", "account": "userName", "direction": "outbound"},
            {"identity": "given_name", "account": "name.givenName", "direction": "outbound"},
            {"identity": "family_name", "account": "name.familyName", "direction": "outbound"},
            {
                "template": "true",
                "account": "active",
                "transform": ["bool"],
                "direction": "outbound",
            },
        ],
        "correlation": [{"identity": "email", "account": "userName"}],
        "scope": ENG_ONLY,
    }
    doc.update(extra)
    return create_connector(deps, tenant_id, doc).id


def sync(deps: Deps, tenant_id: UUID, connector_id: UUID, **body: Any) -> Run:
    """Queue a sync and drain runs and the provisioning queue until both are idle."""
    run = start_sync(deps, tenant_id, connector_id, body or None)
    drain_all(deps)
    finished = get_run(deps, tenant_id, run.id)
    assert finished.status is RunStatus.SUCCEEDED, finished.error
    return finished


def reconcile(deps: Deps, tenant_id: UUID, connector_id: UUID, mode: str = "report") -> Run:
    run = start_reconciliation(deps, tenant_id, {"connector_id": str(connector_id), "mode": mode})
    drain_all(deps)
    finished = get_run(deps, tenant_id, run.id)
    assert finished.status is RunStatus.SUCCEEDED, finished.error
    return finished


def situations(run: Run) -> dict[str, int]:
    return {k: v for k, v in run.counts.items() if k in SITUATIONS and v}


def discrepancies(deps: Deps, tenant_id: UUID, run: Run) -> list[Discrepancy]:
    return list(list_discrepancies(deps, tenant_id, run.id, limit=500).items)


def identities(deps: Deps, tenant_id: UUID) -> dict[str, Identity]:
    found: dict[str, Identity] = {}
    with deps.store.unit_of_work() as uow:
        for page in uow.identities.iter_scope(tenant_id, None, page_size=100):
            for identity in page:
                key = identity.attributes["employee_id"]
                found[key[0] if isinstance(key, list) else key] = identity
    return found


def ldap_entries(admin: Any, ou: str) -> dict[str, dict[str, Any]]:
    """The inetOrgPerson entries under ``ou`` read directly, by their first ``uid``."""
    import ldap3

    admin.search(ou, "(objectClass=inetOrgPerson)", ldap3.SUBTREE, attributes=["*", "entryUUID"])
    found = {}
    for entry in admin.entries:
        values = entry.entry_attributes_as_dict
        found[values["uid"][0]] = {"dn": entry.entry_dn, **values}
    return found


def scim_users(server: ScimServer) -> dict[str, dict[str, Any]]:
    """Every user of the provider read directly, by ``userName``."""
    with server.client() as client:
        response = client.get("Users", params={"count": 1000})
        response.raise_for_status()
        return {u["userName"]: u for u in response.json().get("Resources", [])}


def scim_add(server: ScimServer, user_name: str, **extra: Any) -> dict[str, Any]:
    with server.client() as client:
        response = client.post(
            "Users", json={"schemas": [CORE_USER], "userName": user_name, **extra}
        )
        response.raise_for_status()
        return dict(response.json())


def ldap_add(admin: Any, ou: str, uid: str, **extra: Any) -> str:
    from ldap3.utils.dn import escape_rdn

    dn = f"uid={escape_rdn(uid)},{ou}"
    admin.add(dn, ["inetOrgPerson"], {"uid": uid, "cn": f"{uid} person", "sn": "Direct", **extra})
    return dn


# --------------------------------------------------------------------------- 1. end to end


class TestHrToDirectoryAndSaas:
    @pytest.mark.parametrize("store", ["sqlite", "memory"])
    def test_hr_file_to_ldap_and_scim_then_reconciled_linked(
        self,
        store: str,
        tmp_path: Path,
        slapd_server: Slapd,
        admin: Any,
        ldap_ou: str,
        scim: ScimServer,
    ) -> None:
        """HR csv → identities → LDAP and SCIM accounts → each target reconciles all linked;
        an edited row updates both accounts; leaving scope deletes (LDAP) / disables (SCIM).
        """
        url = "memory:" if store == "memory" else str(tmp_path / "store.db")
        deps = _deps(url, tmp_path / "files")
        try:
            self._scenario(deps, slapd_server, admin, ldap_ou, scim)
        finally:
            deps.store.close()

    def _scenario(self, deps: Deps, slapd: Slapd, admin: Any, ou: str, scim: ScimServer) -> None:
        tenant_id = ensure_tenant(deps, "acme").id
        rows = [person(i) for i in range(8)]  # E00000, E00002, E00004, E00006 are eng
        in_scope = {"E00000", "E00002", "E00004", "E00006"}
        write_hr(deps.files_root / "hr.csv", rows)
        directory = ldap_target(deps, tenant_id, slapd, ou)
        saas = scim_target(deps, tenant_id, scim)
        hr = hr_source(deps, tenant_id)
        # leaving scope: delete where accounts cannot be disabled (no enabled_attribute)
        assert get_connector(deps, tenant_id, directory).on_leave_scope is LeaveScope.DELETE
        assert get_connector(deps, tenant_id, saas).on_leave_scope is LeaveScope.DISABLE

        run = start_sync(deps, tenant_id, hr)
        assert Worker(deps, owner="test").drain() == 1  # the sync run only, not the queue
        first = get_run(deps, tenant_id, run.id)
        assert first.status is RunStatus.SUCCEEDED, first.error
        assert first.counts["identity_created"] == 8
        people = identities(deps, tenant_id)
        assert set(people) == {f"E{i:05d}" for i in range(8)}
        # the sync queued one create per in-scope identity and target; nothing is out yet
        with deps.store.unit_of_work() as uow:
            queued = uow.operations.list(tenant_id, limit=100).items
        assert sorted((o.connector_id == directory, o.kind, o.status) for o in queued) == sorted(
            (target == directory, OperationKind.CREATE, OperationStatus.PENDING)
            for target in (directory, saas)
            for _ in in_scope
        )
        assert {people[k].id for k in in_scope} == {o.identity_id for o in queued}
        assert ldap_entries(admin, ou) == {} and scim_users(scim) == {}
        assert Provisioner(deps, owner="test").drain() == 2 * len(in_scope)

        entries = ldap_entries(admin, ou)
        assert set(entries) == in_scope
        ada, bea = entries["E00000"], entries["E00002"]
        assert ada["dn"] == f"uid=E00000,{ou}"
        assert ada["cn"] == ["Given0 Family0"]
        assert ada["sn"] == ["Family0"]
        assert ada["givenName"] == ["Given0"]
        assert ada["mail"] == ["person0@example.org"]
        users = scim_users(scim)
        assert set(users) == {f"person{i}@example.org" for i in (0, 2, 4, 6)}
        assert users["person0@example.org"]["name"] == {
            "givenName": "Given0",
            "familyName": "Family0",
        }
        assert all(u["active"] is True for u in users.values())
        first_ids = {name: user["id"] for name, user in users.items()}

        for target in (directory, saas):
            run = reconcile(deps, tenant_id, target)
            assert situations(run) == {"linked": len(in_scope)}, run.counts
            assert discrepancies(deps, tenant_id, run) == []

        # an edit in the HR file, and a person moved out of the targets' scope
        rows[0]["given_name"] = "Ada"
        rows[2]["department"] = "sales"
        write_hr(deps.files_root / "hr.csv", rows)
        second = sync(deps, tenant_id, hr)
        assert second.counts["identity_updated"] == 2

        entries = ldap_entries(admin, ou)
        assert set(entries) == in_scope - {"E00002"}  # on_leave_scope delete
        assert entries["E00000"]["givenName"] == ["Ada"]
        assert entries["E00000"]["cn"] == ["Ada Family0"]
        assert entries["E00000"]["entryUUID"] == ada["entryUUID"]  # updated, not re-created
        users = scim_users(scim)
        assert set(users) == {f"person{i}@example.org" for i in (0, 2, 4, 6)}
        assert users["person0@example.org"]["name"]["givenName"] == "Ada"
        assert users["person2@example.org"]["active"] is False  # on_leave_scope disable
        assert users["person4@example.org"]["active"] is True

        run = reconcile(deps, tenant_id, directory)
        assert situations(run) == {"linked": 3}, run.counts
        assert discrepancies(deps, tenant_id, run) == []
        # (the SCIM target's report now flags the disabled account: see TestOutOfScopeAccounts)

        # back in scope: a new LDAP entry, the same SCIM user enabled again; a row removed
        # from the file disables its identity, which takes its accounts away as configured
        rows[2]["department"] = "eng"
        removed = rows.pop(4)
        write_hr(deps.files_root / "hr.csv", rows)
        third = sync(deps, tenant_id, hr)
        assert third.counts["deleted"] == 1 and third.counts["identity_disabled"] == 1
        assert not identities(deps, tenant_id)[removed["employee_id"]].enabled
        entries = ldap_entries(admin, ou)
        assert set(entries) == {"E00000", "E00002", "E00006"}
        assert entries["E00002"]["entryUUID"] != bea["entryUUID"]  # created again
        assert entries["E00002"]["cn"] == ["Given2 Family2"]
        users = scim_users(scim)
        assert users["person2@example.org"]["active"] is True
        assert users["person2@example.org"]["id"] == first_ids["person2@example.org"]
        assert users["person4@example.org"]["active"] is False
        run = reconcile(deps, tenant_id, directory)
        assert situations(run) == {"linked": 3}, run.counts
        assert discrepancies(deps, tenant_id, run) == []


# --------------------------------------------------------------------------- 2. LDAP incremental


def ldap_source(deps: Deps, tenant_id: UUID, slapd: Slapd, ou: str) -> UUID:
    return create_connector(
        deps,
        tenant_id,
        {
            "name": "directory-source",
            "type": "ldap",
            "role": "source",
            "config": {
                "url": slapd.url,
                "bind_dn": slapd.root_dn,
                "base_dn": ou,
                "timeout_seconds": 5,
            },
            "secrets": {"password": slapd.root_password},
            "mappings": [
                {
                    "identity": "employee_id",
                    "account": "uid",
                    "direction": "inbound",
                    "transform": ["first"],
                },
                {
                    "identity": "email",
                    "account": "mail",
                    "direction": "inbound",
                    "transform": ["first"],
                },
                {
                    "identity": "family_name",
                    "account": "sn",
                    "direction": "inbound",
                    "transform": ["first"],
                },
            ],
            "correlation": [{"identity": "employee_id", "account": "uid", "transform": ["first"]}],
        },
    ).id


class TestLdapIncremental:
    def test_direct_modify_and_delete_are_seen_through_the_accesslog(
        self, deps: Deps, tenant_id: UUID, slapd_server: Slapd, admin: Any, ldap_ou: str
    ) -> None:
        """After a full first sync, an entry modified directly is the one upsert of the next
        incremental sync; an entry deleted directly is its one `deleted` (identity disabled).
        """
        for i in range(6):
            ldap_add(admin, ldap_ou, f"user{i}", mail=f"user{i}@example.org")
        source = ldap_source(deps, tenant_id, slapd_server, ldap_ou)

        first = sync(deps, tenant_id, source)
        assert first.counts["upsert"] == 6
        assert first.counts["identity_created"] == 6
        quiet = sync(deps, tenant_id, source)
        assert quiet.counts.get("upsert", 0) == 0 and quiet.counts.get("delete", 0) == 0
        before = identities(deps, tenant_id)

        admin.modify(f"uid=user1,{ldap_ou}", {"sn": [("MODIFY_REPLACE", ["Changed"])]})
        modified = sync(deps, tenant_id, source)
        assert modified.counts.get("upsert") == 1, modified.counts
        assert modified.counts.get("identity_updated") == 1
        assert modified.counts.get("delete", 0) == 0
        after = identities(deps, tenant_id)
        assert after["user1"].attributes["family_name"] == "Changed"
        assert {k for k in after if after[k].version != before[k].version} == {"user1"}

        victim = ldap_entries(admin, ldap_ou)["user2"]["entryUUID"][0]
        admin.delete(f"uid=user2,{ldap_ou}")
        deleted = sync(deps, tenant_id, source)
        assert deleted.counts.get("delete") == 1, deleted.counts
        assert deleted.counts.get("deleted") == 1
        assert deleted.counts.get("upsert", 0) == 0
        (found,) = discrepancies_of(deps, tenant_id, deleted)
        assert (found.situation, found.account_uid) == (Situation.DELETED, victim)
        assert found.identity_id == after["user2"].id
        final = identities(deps, tenant_id)
        assert [k for k, v in final.items() if not v.enabled] == ["user2"]

    def test_a_targets_incremental_sync_sees_exactly_the_direct_changes(
        self, deps: Deps, tenant_id: UUID, slapd_server: Slapd, admin: Any, ldap_ou: str
    ) -> None:
        """On a target, the accounts' shadows follow direct LDAP writes one by one; the
        identities are not touched (a target's inbound changes only what we know of it)."""
        directory = ldap_target(deps, tenant_id, slapd_server, ldap_ou)
        for i in range(6):
            create_identity(deps, tenant_id, injected(employee_id=f"E{i}", email=f"e{i}@x.org"))
        drain_all(deps)
        first = sync(deps, tenant_id, directory)
        assert situations(first) == {"linked": 6}
        assert sync(deps, tenant_id, directory).counts.get("upsert", 0) == 0
        before = identities(deps, tenant_id)

        admin.modify(f"uid=E1,{ldap_ou}", {"sn": [("MODIFY_REPLACE", ["Changed"])]})
        modified = sync(deps, tenant_id, directory)
        assert modified.counts == {"upsert": 1, "linked": 1}
        assert identities(deps, tenant_id) == before
        report = reconcile(deps, tenant_id, directory)
        (drift,) = discrepancies(deps, tenant_id, report)
        assert drift.identity_id == before["E1"].id
        assert [(d.attribute, d.actual) for d in drift.differences] == [("sn", ["Changed"])]

        victim = ldap_entries(admin, ldap_ou)["E2"]["entryUUID"][0]
        admin.delete(f"uid=E2,{ldap_ou}")
        deleted = sync(deps, tenant_id, directory)
        assert deleted.counts == {"delete": 1, "deleted": 1}
        (gone,) = discrepancies_of(deps, tenant_id, deleted)
        assert (gone.situation, gone.account_uid) == (Situation.DELETED, victim)
        assert gone.identity_id == before["E2"].id
        assert identities(deps, tenant_id) == before


def discrepancies_of(deps: Deps, tenant_id: UUID, run: Run) -> list[Discrepancy]:
    """The discrepancies a run (of any kind) recorded."""
    with deps.store.unit_of_work() as uow:
        return list(uow.discrepancies.list(tenant_id, run.id, limit=500).items)


# --------------------------------------------------------------------------- 3. SCIM


def scim_source(deps: Deps, tenant_id: UUID, server: ScimServer) -> UUID:
    return create_connector(
        deps,
        tenant_id,
        {
            "name": "saas-source",
            "type": "scim",
            "role": "source",
            "config": {"base_url": server.base_url, "timeout_seconds": 5},
            "secrets": {"token": TOKEN},
            "mappings": [
                {"identity": "email", "account": "userName", "direction": "inbound"},
                {"identity": "given_name", "account": "name.givenName", "direction": "inbound"},
            ],
            "correlation": [{"identity": "email", "account": "userName"}],
        },
    ).id


def by_email(deps: Deps, tenant_id: UUID) -> dict[str, Identity]:
    with deps.store.unit_of_work() as uow:
        return {
            i.attributes["email"]: i
            for page in uow.identities.iter_scope(tenant_id, None, page_size=100)
            for i in page
        }


class TestScim:
    def test_a_user_changed_on_the_provider_is_found_by_incremental_sync(
        self, deps: Deps, tenant_id: UUID, scim: ScimServer
    ) -> None:
        ids = {
            f"u{i}@example.org": scim_add(scim, f"u{i}@example.org", name={"givenName": f"U{i}"})[
                "id"
            ]
            for i in range(5)
        }
        source = scim_source(deps, tenant_id, scim)
        first = sync(deps, tenant_id, source)
        assert first.counts["identity_created"] == 5
        quiet = sync(deps, tenant_id, source)
        assert quiet.counts.get("upsert", 0) == 0, quiet.counts
        before = by_email(deps, tenant_id)

        with scim.client() as client:
            response = client.patch(
                f"Users/{ids['u3@example.org']}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "name.givenName", "value": "Changed"}],
                },
            )
            assert response.status_code in (200, 204), response.text
        changed = sync(deps, tenant_id, source)
        assert changed.counts.get("upsert") == 1, changed.counts
        assert changed.counts.get("identity_updated") == 1
        after = by_email(deps, tenant_id)
        assert after["u3@example.org"].attributes["given_name"] == "Changed"
        assert {k for k in after if after[k].version != before[k].version} == {"u3@example.org"}

    def test_429_waits_for_retry_after_then_succeeds(
        self, deps: Deps, tenant_id: UUID, scim: ScimServer
    ) -> None:
        """A 429 with Retry-After: 2 puts the operation in `retrying` due exactly 2 s later
        (not at the connector's shorter backoff); once the clock gets there, it succeeds."""
        assert isinstance(deps.clock, FixedClock)
        scim_target(deps, tenant_id, scim, retry_base_seconds=0.5)
        scim.faults.clear()
        # a fresh connection reads /ResourceTypes and /Schemas, then POSTs: the POST gets 429
        scim.faults.delay_next(2, seconds=0)
        scim.faults.fail_next(1, status=429, retry_after="2", detail="slow down")
        ada = create_identity(
            deps,
            tenant_id,
            {
                "attributes": {
                    "employee_id": "E1",
                    "email": "ada@example.org",
                    "given_name": "Ada",
                    "family_name": "Lovelace",
                    "department": "eng",
                }
            },
        )
        provisioner = Provisioner(deps, owner="test")
        start = deps.clock.now()
        assert provisioner.drain() == 1
        assert scim.faults.requests[2] == ("POST", "/v2/Users", "")  # answered 429
        with deps.store.unit_of_work() as uow:
            (op,) = uow.operations.list(tenant_id, limit=10).items
        assert op.kind is OperationKind.CREATE and op.identity_id == ada.id
        assert op.status is OperationStatus.RETRYING
        assert op.attempts == 1
        assert op.next_attempt_at == start + timedelta(seconds=2)
        assert "429" in (op.last_error or "")
        assert scim_users(scim) == {}

        deps.clock.advance(1.9)
        assert provisioner.drain() == 0  # not before the provider said
        assert get_operation(deps, tenant_id, op.id).status is OperationStatus.RETRYING

        deps.clock.advance(0.1)
        assert provisioner.drain() == 1
        done = get_operation(deps, tenant_id, op.id)
        assert done.status is OperationStatus.SUCCEEDED, done.last_error
        assert done.attempts == 2
        user = scim_users(scim)["ada@example.org"]
        assert user["name"] == {"givenName": "Ada", "familyName": "Lovelace"}
        assert done.account_uid == user["id"]


# --------------------------------------------------------------------------- 4. injection


def injected(**over: Any) -> dict[str, Any]:
    attributes = {
        "employee_id": LDAP_INJECTION,
        "email": SCIM_INJECTION,
        "given_name": "Mallory",
        "family_name": "Injected",
        "department": "eng",
    }
    attributes.update(over)
    return {"attributes": attributes}


class TestFilterInjectionIsInert:
    def test_ldap_values_are_literal_and_correlate_with_nothing_else(
        self, deps: Deps, tenant_id: UUID, slapd_server: Slapd, admin: Any, ldap_ou: str
    ) -> None:
        for uid in ("bob", "carol"):
            ldap_add(admin, ldap_ou, uid)
        untouched = ldap_entries(admin, ldap_ou)
        directory = ldap_target(deps, tenant_id, slapd_server, ldap_ou)
        mallory = create_identity(deps, tenant_id, injected())
        # a bare wildcard as a correlation value, out of scope: nothing to provision
        create_identity(deps, tenant_id, injected(employee_id="*", email="*", department="x"))
        drain_all(deps)

        entries = ldap_entries(admin, ldap_ou)
        assert set(entries) == {"bob", "carol", LDAP_INJECTION}
        assert entries[LDAP_INJECTION]["uid"] == [LDAP_INJECTION]
        assert entries[LDAP_INJECTION]["mail"] == [SCIM_INJECTION]
        assert entries["bob"] == untouched["bob"] and entries["carol"] == untouched["carol"]

        update_identity(deps, tenant_id, mallory.id, {"attributes": {"family_name": "Changed"}})
        drain_all(deps)
        entries = ldap_entries(admin, ldap_ou)
        assert entries[LDAP_INJECTION]["sn"] == ["Changed"]
        assert entries["bob"] == untouched["bob"] and entries["carol"] == untouched["carol"]

        run = reconcile(deps, tenant_id, directory)
        assert situations(run) == {"linked": 1, "unmatched": 2}, run.counts
        found = discrepancies(deps, tenant_id, run)
        assert {d.situation for d in found} == {Situation.UNMATCHED}
        assert all(d.identity_id is None for d in found)
        bob_uid = entries["bob"]["entryUUID"][0]
        carol_uid = entries["carol"]["entryUUID"][0]
        assert {d.account_uid for d in found} == {bob_uid, carol_uid}

    def test_scim_values_are_literal_and_a_409_finds_only_the_literal_user(
        self, deps: Deps, tenant_id: UUID, scim: ScimServer
    ) -> None:
        """The create meets a 409 and looks the user up by a quoted userName filter: it
        links exactly the user with that literal name, never another one."""
        bob = scim_add(scim, "bob@example.org", name={"givenName": "Bob", "familyName": "B"})
        carol = scim_add(scim, "carol@example.org", name={"givenName": "Carol"})
        literal = scim_add(scim, SCIM_INJECTION, name={"givenName": "Before"})
        saas = scim_target(deps, tenant_id, scim)
        create_identity(deps, tenant_id, injected())
        create_identity(deps, tenant_id, injected(employee_id="*", email="*", department="x"))
        drain_all(deps)
        lookups = [
            parse_qs(query)["filter"]
            for method, path, query in scim.faults.requests
            if (method, path) == ("GET", "/v2/Users") and "filter" in query
        ]
        assert lookups == [['userName eq "\\" or userName pr or \\""']]

        users = scim_users(scim)
        assert set(users) == {"bob@example.org", "carol@example.org", SCIM_INJECTION}
        assert users[SCIM_INJECTION]["id"] == literal["id"]
        assert users[SCIM_INJECTION]["name"] == {"givenName": "Mallory", "familyName": "Injected"}
        assert users["bob@example.org"]["name"] == {"givenName": "Bob", "familyName": "B"}
        assert users["carol@example.org"]["name"] == {"givenName": "Carol"}
        with deps.store.unit_of_work() as uow:
            ops = uow.operations.list(tenant_id, limit=10).items
        assert [(o.status, o.account_uid) for o in ops] == [
            (OperationStatus.SUCCEEDED, literal["id"])
        ]

        run = reconcile(deps, tenant_id, saas)
        assert situations(run) == {"linked": 1, "unmatched": 2}, run.counts
        found = discrepancies(deps, tenant_id, run)
        assert all(d.identity_id is None for d in found)
        assert {d.account_uid for d in found} == {bob["id"], carol["id"]}


# --------------------------------------------------------------------------- 5. drift


class TestDrift:
    def test_direct_edits_on_both_targets_are_mismatched_then_remediated(
        self,
        deps: Deps,
        tenant_id: UUID,
        slapd_server: Slapd,
        admin: Any,
        ldap_ou: str,
        scim: ScimServer,
    ) -> None:
        """An attribute edited directly on a target is `mismatched` with expected and actual;
        a remediate run queues the update and the next report finds only `linked`."""
        write_hr(deps.files_root / "hr.csv", [person(i) for i in range(4)])
        directory = ldap_target(deps, tenant_id, slapd_server, ldap_ou)
        saas = scim_target(deps, tenant_id, scim)
        sync(deps, tenant_id, hr_source(deps, tenant_id))
        admin.modify(f"uid=E00000,{ldap_ou}", {"sn": [("MODIFY_REPLACE", ["Drift"])]})
        scim_id = scim_users(scim)["person2@example.org"]["id"]
        with scim.client() as client:
            client.patch(
                f"Users/{scim_id}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "name.familyName", "value": "Drift"}],
                },
            ).raise_for_status()
        drifted = {
            directory: ("sn", ["Family0"], ["Drift"]),
            saas: ("name.familyName", "Family2", "Drift"),
        }
        for target, expected in drifted.items():
            report = reconcile(deps, tenant_id, target)
            assert situations(report) == {"linked": 1, "mismatched": 1}, report.counts
            (found,) = discrepancies(deps, tenant_id, report)
            assert found.situation is Situation.MISMATCHED
            assert [(d.attribute, d.expected, d.actual) for d in found.differences] == [expected]
            remediated = reconcile(deps, tenant_id, target, "remediate")
            assert remediated.actions.queued == 1
            drain_all(deps)
            again = reconcile(deps, tenant_id, target)
            assert situations(again) == {"linked": 2}, again.counts
        assert ldap_entries(admin, ldap_ou)["E00000"]["sn"] == ["Family0"]
        assert scim_users(scim)["person2@example.org"]["name"]["familyName"] == "Family2"


# --------------------------------------------------------------------------- bugs found


class TestOutOfScopeAccounts:
    def test_remediation_does_not_re_enable_a_disabled_identitys_account(
        self, deps: Deps, tenant_id: UUID, scim: ScimServer
    ) -> None:
        saas = scim_target(deps, tenant_id, scim)
        ada = create_identity(deps, tenant_id, injected(employee_id="E1", email="ada@example.org"))
        drain_all(deps)
        assert scim_users(scim)["ada@example.org"]["active"] is True
        update_identity(deps, tenant_id, ada.id, {"enabled": False})
        drain_all(deps)
        assert scim_users(scim)["ada@example.org"]["active"] is False

        report = reconcile(deps, tenant_id, saas)
        mismatched = [
            d for d in discrepancies(deps, tenant_id, report) if d.situation is Situation.MISMATCHED
        ]
        remediated = reconcile(deps, tenant_id, saas, "remediate")
        drain_all(deps)
        assert scim_users(scim)["ada@example.org"]["active"] is False, remediated.counts
        assert mismatched == []


class TestGentleOnTargets:
    def test_a_429_holds_back_the_rest_of_the_batch_for_that_target(
        self, deps: Deps, tenant_id: UUID, scim: ScimServer
    ) -> None:
        scim_target(deps, tenant_id, scim)
        for i in range(3):
            create_identity(deps, tenant_id, injected(employee_id=f"E{i}", email=f"e{i}@x.org"))
        scim.faults.clear()
        scim.faults.delay_next(2, seconds=0)  # /ResourceTypes and /Schemas pass
        scim.faults.fail_next(1, status=429, retry_after="30")  # the first POST
        Provisioner(deps, owner="test").drain()
        posts = [r for r in scim.faults.requests if r[0] == "POST"]
        assert len(posts) == 1, f"{len(posts)} POSTs within the 30 s the provider asked for"
        assert scim_users(scim) == {}
