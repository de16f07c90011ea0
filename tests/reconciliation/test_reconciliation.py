"""Reconciliation of a real SQLite application table against the identity store.

The target is seeded with known situations; a report run must find exactly them, a
remediate run fixes them through the queue, and a following report finds only `linked`
(disputed accounts stay open: they are for a person).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

import attrs
import pytest

from tests.provisioning.conftest import app_connector, rows
from xavyo_connectors_core import reconciliation
from xavyo_connectors_core.clock import FixedClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.identities import create_identity
from xavyo_connectors_core.model import DiscrepancyStatus, Outcome, RunStatus, Situation
from xavyo_connectors_core.reconciliation import (
    apply_plan,
    list_discrepancies,
    start_reconciliation,
)
from xavyo_connectors_core.runs import cancel_run, get_run
from xavyo_connectors_core.worker import Worker, drain_all

SITUATIONS = {s.value for s in Situation}


def person(employee_id: str, department: str = "eng", **over: Any) -> dict[str, Any]:
    attrs_ = {
        "employee_id": employee_id,
        "email": f"{employee_id.lower()}@example.org",
        "given_name": f"Given {employee_id}",
        "department": department,
    }
    attrs_.update(over)
    return {"attributes": attrs_}


def insert(path: Path, *users: tuple[str, str, str]) -> None:
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO users (id, email, given_name) VALUES (?, ?, ?)", users)


def run(deps: Deps, tenant_id: UUID, connector_id: UUID, mode: str) -> Any:
    started = start_reconciliation(
        deps, tenant_id, {"connector_id": str(connector_id), "mode": mode}
    )
    drain_all(deps)
    return get_run(deps, tenant_id, started.id)


def situations(counts: Any) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k in SITUATIONS and v}


def row(employee_id: str) -> tuple[str, str, str]:
    return (employee_id, f"{employee_id.lower()}@example.org", f"Given {employee_id}")


@pytest.fixture
def seeded(deps: Deps, tenant_id: UUID, app_db: Path) -> UUID:
    """E1-E6 linked (E3 then edited), E9 unlinked, D1 disputed, X1/X2 orphans, E7/E8 missing."""
    for i in range(1, 7):
        create_identity(deps, tenant_id, person(f"E{i}"))
    cid = app_connector(
        deps, tenant_id, reactions={"unmatched": "delete_account"}, max_deletion_ratio=0.5
    )
    insert(app_db, *(row(f"E{i}") for i in range(1, 7)))
    first = run(deps, tenant_id, cid, "remediate")
    assert first.status is RunStatus.SUCCEEDED, first.error
    assert situations(first.counts) == {"unlinked": 6}
    # now the world drifts
    with sqlite3.connect(app_db) as conn:
        conn.execute("UPDATE users SET given_name = 'Changed' WHERE id = 'E3'")
    for employee_id in ("E7", "E8", "E9"):
        create_identity(deps, tenant_id, person(employee_id))
    create_identity(deps, tenant_id, person("D1", department="sales", email="a@x.org"))
    create_identity(deps, tenant_id, person("D1", department="sales", email="b@x.org"))
    insert(app_db, row("E9"), row("D1"), row("X1"), row("X2"))
    return cid


class TestReportAndRemediate:
    def test_report_finds_exactly_the_seeded_situations(
        self, deps: Deps, tenant_id: UUID, seeded: UUID
    ) -> None:
        """A report run finds exactly the seeded counts, nothing else, and changes nothing."""
        report = reconciliation_report(deps, tenant_id, seeded)
        assert situations(report.counts) == {
            "linked": 5,
            "mismatched": 1,
            "unlinked": 1,
            "disputed": 1,
            "unmatched": 2,
            "missing": 2,
        }
        found = list_discrepancies(deps, tenant_id, report.id, limit=500).items
        assert len(found) == 7
        mismatch = next(d for d in found if d.situation is Situation.MISMATCHED)
        assert mismatch.account_uid == "E3"
        assert [(d.attribute, d.expected, d.actual) for d in mismatch.differences] == [
            ("given_name", "Given E3", "Changed")
        ]
        assert "mappings[2]" in mismatch.explanation
        disputed = next(d for d in found if d.situation is Situation.DISPUTED)
        assert "matched 2 identities" in disputed.explanation
        assert all(d.outcome is Outcome.NONE for d in found)

    def test_remediate_fixes_through_the_queue_then_only_linked(
        self, deps: Deps, tenant_id: UUID, seeded: UUID, app_db: Path
    ) -> None:
        """Remediate fixes everything fixable; the next report finds only linked + disputed."""
        fixed = run(deps, tenant_id, seeded, "remediate")
        assert fixed.status is RunStatus.SUCCEEDED, fixed.error
        table = rows(app_db)
        assert "X1" not in table and "X2" not in table
        assert {"E7", "E8"} <= set(table)
        assert table["E3"]["given_name"] == "Given E3"
        after = reconciliation_report(deps, tenant_id, seeded)
        assert situations(after.counts) == {"linked": 9, "disputed": 1}
        open_ = list_discrepancies(
            deps, tenant_id, after.id, status=DiscrepancyStatus.OPEN, limit=500
        ).items
        assert [d.situation for d in open_] == [Situation.DISPUTED]


def reconciliation_report(deps: Deps, tenant_id: UUID, connector_id: UUID) -> Any:
    report = run(deps, tenant_id, connector_id, "report")
    assert report.status is RunStatus.SUCCEEDED, report.error
    return report


class TestPlanThenApply:
    def test_apply_acts_on_exactly_the_listed_and_marks_edited_stale(
        self, deps: Deps, tenant_id: UUID, seeded: UUID, app_db: Path
    ) -> None:
        """Apply acts only on listed discrepancies; one edited in between is stale."""
        report = reconciliation_report(deps, tenant_id, seeded)
        found = list_discrepancies(deps, tenant_id, report.id, limit=500).items
        orphans = {d.account_uid: d for d in found if d.situation is Situation.UNMATCHED}
        with sqlite3.connect(app_db) as conn:
            conn.execute("UPDATE users SET given_name = 'edited' WHERE id = 'X1'")
        applied = apply_plan(
            deps,
            tenant_id,
            report.id,
            {"discrepancy_ids": [str(orphans["X1"].id), str(orphans["X2"].id)]},
        )
        assert applied.plan_run_id == report.id
        drain_all(deps)
        done = get_run(deps, tenant_id, applied.id)
        assert done.status is RunStatus.SUCCEEDED, done.error
        table = rows(app_db)
        assert "X1" in table  # stale: not acted on
        assert "X2" not in table  # applied
        assert "E3" in table and table["E3"]["given_name"] == "Changed"  # not listed
        plan = {
            d.account_uid: d
            for d in list_discrepancies(deps, tenant_id, report.id, limit=500).items
        }
        assert plan["X1"].outcome is Outcome.STALE
        assert plan["X2"].outcome in (Outcome.QUEUED, Outcome.APPLIED)


class TestCancelAndResume:
    def test_cancel_between_pages_keeps_work_done(
        self, deps: Deps, tenant_id: UUID, seeded: UUID, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A cancel stops the run between pages; the run is cancelled with its progress."""
        monkeypatch.setattr(reconciliation, "PAGE_SIZE", 2)
        started = start_reconciliation(deps, tenant_id, {"connector_id": str(seeded)})
        worker = Worker(deps, owner="w1")
        with deps.store.unit_of_work() as uow:
            claimed = uow.runs.claim("w1", deps.clock.now(), 30)
            uow.commit()
        assert claimed is not None and claimed.id == started.id
        cancel_run(deps, tenant_id, started.id)
        done = worker.execute(claimed)
        assert done.status is RunStatus.CANCELLED, done.error
        assert 0 < done.progress.processed < 12

    def test_a_dead_workers_run_is_resumed_with_the_same_counts(
        self, deps: Deps, tenant_id: UUID, seeded: UUID, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A run whose worker died mid-run is taken over after its lease and ends equal."""
        monkeypatch.setattr(reconciliation, "PAGE_SIZE", 2)
        # runs only (no queue draining), so that the world is the same for both runs
        first = start_reconciliation(deps, tenant_id, {"connector_id": str(seeded)})
        Worker(deps, owner="baseline").drain()
        baseline = get_run(deps, tenant_id, first.id)
        assert baseline.status is RunStatus.SUCCEEDED, baseline.error

        class Crash(BaseException):
            pass

        started = start_reconciliation(deps, tenant_id, {"connector_id": str(seeded)})
        original = reconciliation._Reconcile._checkpoint
        calls = {"n": 0}

        def dying(self: Any, uow: Any, checkpoint: dict[str, Any]) -> None:
            original(self, uow, checkpoint)
            calls["n"] += 1
            if calls["n"] == 3:
                raise Crash  # kill -9 after the third committed page

        monkeypatch.setattr(reconciliation._Reconcile, "_checkpoint", dying)
        with pytest.raises(Crash):
            Worker(deps, owner="dies", lease_seconds=30).run_one()
        monkeypatch.setattr(reconciliation._Reconcile, "_checkpoint", original)
        assert get_run(deps, tenant_id, started.id).status is RunStatus.RUNNING
        assert Worker(deps, owner="early").run_one() is None  # the lease still holds
        clock = deps.clock
        assert isinstance(clock, FixedClock)
        clock.advance(31)
        resumed = Worker(deps, owner="taker").run_one()
        assert resumed is not None and resumed.id == started.id
        assert resumed.status is RunStatus.SUCCEEDED, resumed.error
        assert situations(resumed.counts) == situations(baseline.counts)
        assert attrs.asdict(resumed.actions) == attrs.asdict(baseline.actions)
