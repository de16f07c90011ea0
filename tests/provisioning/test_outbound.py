"""Identity changes reach a real target table through the durable queue (SPEC §3.7)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from tests.provisioning.conftest import app_connector, rows
from xavyo_connectors_core.clock import FixedClock
from xavyo_connectors_core.connectors import update_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.identities import create_identity, delete_identity, update_identity
from xavyo_connectors_core.model import OperationKind, OperationStatus
from xavyo_connectors_core.provisioning import (
    Provisioner,
    discard_dead,
    get_operation,
    list_dead,
    queue_stats,
    retry_dead,
)


def person(i: int, **over: Any) -> dict[str, Any]:
    attrs = {
        "employee_id": f"E{i}",
        "email": f"p{i}@example.org",
        "given_name": f"Given{i}",
        "department": "eng",
    }
    attrs.update(over)
    return {"attributes": {k: v for k, v in attrs.items() if v is not None}}


def drain(deps: Deps) -> int:
    return Provisioner(deps, owner="test").drain()


class TestIdentityChangesProvision:
    def test_create_update_and_leave_scope_disable(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """Created → row appears; updated → row updated; out of scope → disabled."""
        app_connector(deps, tenant_id)
        ada = create_identity(deps, tenant_id, person(1))
        assert rows(app_db) == {}  # nothing until a worker drains the queue
        assert drain(deps) == 1
        assert rows(app_db)["E1"]["email"] == "p1@example.org"

        update_identity(deps, tenant_id, ada.id, {"attributes": {"given_name": "Ada"}})
        drain(deps)
        assert rows(app_db)["E1"]["given_name"] == "Ada"

        update_identity(deps, tenant_id, ada.id, {"attributes": {"department": "sales"}})
        drain(deps)
        assert rows(app_db)["E1"]["active"] == 0

        update_identity(deps, tenant_id, ada.id, {"attributes": {"department": "eng"}})
        drain(deps)
        assert rows(app_db)["E1"]["active"] == 1

    def test_leave_scope_delete_and_identity_delete(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """With on_leave_scope delete, leaving scope or being deleted removes the row."""
        app_connector(deps, tenant_id, on_leave_scope="delete")
        one = create_identity(deps, tenant_id, person(1))
        two = create_identity(deps, tenant_id, person(2))
        drain(deps)
        assert set(rows(app_db)) == {"E1", "E2"}
        update_identity(deps, tenant_id, one.id, {"attributes": {"department": "sales"}})
        delete_identity(deps, tenant_id, two.id)
        drain(deps)
        assert rows(app_db) == {}

    def test_out_of_scope_identity_gets_nothing(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """An identity outside the scope is not provisioned."""
        app_connector(deps, tenant_id)
        create_identity(deps, tenant_id, person(1, department="sales"))
        assert drain(deps) == 0
        assert rows(app_db) == {}

    def test_create_of_an_existing_account_links_and_updates(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """A create that finds the account already there links it and updates it."""
        with sqlite3.connect(app_db) as conn:
            conn.execute("INSERT INTO users (id, email, given_name) VALUES ('E1', 'old@x', 'Old')")
        app_connector(deps, tenant_id)
        create_identity(deps, tenant_id, person(1))
        drain(deps)
        assert rows(app_db)["E1"]["email"] == "p1@example.org"


class TestFailuresAndTheDeadLetterQueue:
    def test_target_down_retries_quarantines_dead_letters_then_recovers(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """Growing delays, quarantine, DLQ with the last error; back up → retry succeeds."""
        cid = app_connector(deps, tenant_id, max_attempts=4)
        moved = app_db.with_name("app.db.away")
        app_db.rename(moved)  # the target goes down
        ada = create_identity(deps, tenant_id, person(1))
        clock = deps.clock
        assert isinstance(clock, FixedClock)
        delays = []
        for _ in range(10):
            drain(deps)
            page = list_dead(deps, tenant_id)
            if page.items:
                break
            stats = queue_stats(deps, tenant_id)
            ops = [o for o in _all_ops(deps, tenant_id) if o.identity_id == ada.id]
            assert ops and ops[0].status is OperationStatus.RETRYING
            delays.append((ops[0].next_attempt_at - clock.now()).total_seconds())
            clock.advance(700)
        dead = list_dead(deps, tenant_id).items
        assert len(dead) == 1
        assert dead[0].attempts == 4 and dead[0].last_error
        assert delays == sorted(delays) and delays[0] < delays[-1]
        assert stats["retrying"] == 1

        moved.rename(app_db)  # back up
        retry_dead(deps, tenant_id, dead[0].id)
        drain(deps)
        assert get_operation(deps, tenant_id, dead[0].id).status is OperationStatus.SUCCEEDED
        assert "E1" in rows(app_db)
        assert cid

    def test_quarantine_shows_in_queue_stats(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """A connector that keeps failing transiently is quarantined."""
        cid = app_connector(deps, tenant_id, max_attempts=20)
        app_db.rename(app_db.with_name("gone.db"))
        for i in range(6):
            create_identity(deps, tenant_id, person(i))
        drain(deps)
        stats = queue_stats(deps, tenant_id)
        quarantined = [c for c in stats["connectors"] if c["connector_id"] == str(cid)]
        assert quarantined and quarantined[0]["quarantined_until"] is not None

    def test_discard_keeps_it_for_audit(self, deps: Deps, tenant_id: UUID, app_db: Path) -> None:
        """A permanent failure dead-letters at once; discarding keeps it as discarded."""
        app_connector(deps, tenant_id)
        create_identity(deps, tenant_id, person(1, email=None))  # NOT NULL violation
        drain(deps)
        dead = list_dead(deps, tenant_id).items
        assert len(dead) == 1 and dead[0].attempts == 1
        discard_dead(deps, tenant_id, dead[0].id)
        assert get_operation(deps, tenant_id, dead[0].id).status is OperationStatus.DISCARDED
        assert list_dead(deps, tenant_id).items == ()

    def test_a_dead_operation_holds_back_later_ones_of_its_account(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """Order per account: an update never overtakes its dead create."""
        app_connector(deps, tenant_id, max_attempts=1)
        away = app_db.with_name("away.db")
        app_db.rename(away)  # down: the create dies after its only attempt
        ada = create_identity(deps, tenant_id, person(1))
        drain(deps)
        dead = list_dead(deps, tenant_id).items
        assert len(dead) == 1 and dead[0].kind is OperationKind.CREATE
        away.rename(app_db)  # back up
        update_identity(deps, tenant_id, ada.id, {"attributes": {"given_name": "Ada"}})
        assert drain(deps) == 0  # the update waits behind the dead create
        retry_dead(deps, tenant_id, dead[0].id)
        assert drain(deps) == 2
        assert rows(app_db)["E1"]["given_name"] == "Ada"

    def test_disabled_connector_operations_wait(
        self, deps: Deps, tenant_id: UUID, app_db: Path
    ) -> None:
        """Operations of a disabled connector wait until it is enabled again."""
        cid = app_connector(deps, tenant_id)
        create_identity(deps, tenant_id, person(1))
        update_connector(deps, tenant_id, cid, {"enabled": False})
        assert drain(deps) == 0
        update_connector(deps, tenant_id, cid, {"enabled": True})
        assert drain(deps) == 1


def _all_ops(deps: Deps, tenant_id: UUID) -> list[Any]:
    with deps.store.unit_of_work() as uow:
        return list(uow.operations.list(tenant_id, limit=500).items)


@pytest.mark.parametrize("count", [30])
def test_coalesced_updates_apply_once(
    deps: Deps, tenant_id: UUID, app_db: Path, count: int
) -> None:
    """Pending updates of one account coalesce into one operation with the last values."""
    app_connector(deps, tenant_id)
    ada = create_identity(deps, tenant_id, person(1))
    drain(deps)
    for i in range(count):
        update_identity(deps, tenant_id, ada.id, {"attributes": {"given_name": f"N{i}"}})
    pending = [o for o in _all_ops(deps, tenant_id) if o.status is OperationStatus.PENDING]
    assert len(pending) == 1
    drain(deps)
    assert rows(app_db)["E1"]["given_name"] == f"N{count - 1}"
