"""Sync from a csv source: identities created, updated, disabled; tokens; safety."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import Conflict
from xavyo_connectors_core.model import RunStatus, Situation
from xavyo_connectors_core.runs import get_run, start_sync
from xavyo_connectors_core.worker import Worker

HEADER = ["employee_id", "email", "given_name", "family_name", "department"]


def write_people(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


def person(i: int, **over: Any) -> dict[str, Any]:
    row = {
        "employee_id": f"E{i:05d}",
        "email": f"Person{i}@Example.org",
        "given_name": f"Given{i}",
        "family_name": f"Family{i}",
        "department": "sales" if i % 2 else "eng",
    }
    row.update(over)
    return row


def hr_connector(deps: Deps, tenant_id: UUID, **extra: Any) -> UUID:
    doc = {
        "name": "hr",
        "type": "csv",
        "role": "source",
        "config": {"path": "hr.csv", "uid_column": "employee_id"},
        "mappings": [
            {"identity": "employee_id", "account": "employee_id", "direction": "inbound"},
            {"identity": "email", "account": "email", "direction": "inbound", "transform": "lower"},
            {"identity": "given_name", "account": "given_name", "direction": "inbound"},
            {"identity": "family_name", "account": "family_name", "direction": "inbound"},
            {"identity": "department", "account": "department", "direction": "inbound"},
        ],
        "correlation": [{"identity": "employee_id", "account": "employee_id"}],
    }
    doc.update(extra)
    return create_connector(deps, tenant_id, doc).id


def sync(deps: Deps, tenant_id: UUID, connector_id: UUID, **body: Any):  # type: ignore[no-untyped-def]
    run = start_sync(deps, tenant_id, connector_id, body or None)
    Worker(deps, owner="test").drain()
    return get_run(deps, tenant_id, run.id)


def identities(deps: Deps, tenant_id: UUID) -> dict[str, Any]:
    found = {}
    with deps.store.unit_of_work() as uow:
        for page in uow.identities.iter_scope(tenant_id, None, page_size=100):
            for identity in page:
                found[identity.attributes["employee_id"]] = identity
    return found


class TestCsvSourceSync:
    def test_first_sync_creates_exactly_n_identities(self, deps: Deps, tenant_id: UUID) -> None:
        """The first sync of N rows creates N identities with the mapped attributes."""
        write_people(deps.files_root / "hr.csv", [person(i) for i in range(25)])
        cid = hr_connector(deps, tenant_id)
        run = sync(deps, tenant_id, cid)
        assert run.status is RunStatus.SUCCEEDED, run.error
        found = identities(deps, tenant_id)
        assert len(found) == 25
        assert found["E00003"].attributes["email"] == "person3@example.org"
        assert run.counts["unmatched"] == 25
        assert run.counts["identity_created"] == 25

    def test_edits_update_exactly_those_identities(self, deps: Deps, tenant_id: UUID) -> None:
        """Editing k rows updates exactly k identities; a re-sync changes nothing."""
        rows = [person(i) for i in range(20)]
        write_people(deps.files_root / "hr.csv", rows)
        cid = hr_connector(deps, tenant_id)
        sync(deps, tenant_id, cid)
        before = identities(deps, tenant_id)
        for i in (2, 5, 11):
            rows[i]["department"] = "legal"
        write_people(deps.files_root / "hr.csv", rows)
        run = sync(deps, tenant_id, cid)
        assert run.counts.get("identity_updated") == 3
        after = identities(deps, tenant_id)
        changed = {k for k in after if after[k].version != before[k].version}
        assert changed == {"E00002", "E00005", "E00011"}
        assert after["E00005"].attributes["department"] == "legal"
        again = sync(deps, tenant_id, cid)
        assert again.counts.get("identity_updated", 0) == 0
        assert identities(deps, tenant_id) == after

    def test_deleted_rows_disable_identities(self, deps: Deps, tenant_id: UUID) -> None:
        """Rows removed from the file become `deleted` and their identities are disabled."""
        rows = [person(i) for i in range(20)]
        write_people(deps.files_root / "hr.csv", rows)
        cid = hr_connector(deps, tenant_id)
        sync(deps, tenant_id, cid)
        write_people(deps.files_root / "hr.csv", rows[:18])
        run = sync(deps, tenant_id, cid)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert run.counts[Situation.DELETED.value] == 2
        found = identities(deps, tenant_id)
        assert {k for k, v in found.items() if not v.enabled} == {"E00018", "E00019"}

    def test_empty_source_trips_the_guard(self, deps: Deps, tenant_id: UUID) -> None:
        """An emptied file fails the run with `deletion threshold`; nothing is disabled."""
        write_people(deps.files_root / "hr.csv", [person(i) for i in range(10)])
        cid = hr_connector(deps, tenant_id)
        sync(deps, tenant_id, cid)
        write_people(deps.files_root / "hr.csv", [])
        run = sync(deps, tenant_id, cid)
        assert run.status is RunStatus.FAILED
        assert run.error is not None and "deletion threshold" in run.error
        assert all(i.enabled for i in identities(deps, tenant_id).values())

    def test_deletion_ratio_trips_and_override_applies(self, deps: Deps, tenant_id: UUID) -> None:
        """Deleting more than the ratio is refused unless allow_mass_deletion is set."""
        rows = [person(i) for i in range(10)]
        write_people(deps.files_root / "hr.csv", rows)
        cid = hr_connector(deps, tenant_id)
        sync(deps, tenant_id, cid)
        write_people(deps.files_root / "hr.csv", rows[:5])
        refused = sync(deps, tenant_id, cid)
        assert refused.status is RunStatus.FAILED
        assert all(i.enabled for i in identities(deps, tenant_id).values())
        allowed = sync(deps, tenant_id, cid, allow_mass_deletion=True)
        assert allowed.status is RunStatus.SUCCEEDED
        assert sum(1 for i in identities(deps, tenant_id).values() if not i.enabled) == 5

    def test_second_sync_while_queued_is_a_conflict(self, deps: Deps, tenant_id: UUID) -> None:
        """A second sync request while one is queued answers Conflict with its run id."""
        write_people(deps.files_root / "hr.csv", [person(1)])
        cid = hr_connector(deps, tenant_id)
        first = start_sync(deps, tenant_id, cid)
        with pytest.raises(Conflict) as info:
            start_sync(deps, tenant_id, cid)
        assert info.value.run_id == first.id

    def test_poison_row_is_recorded_and_the_stream_moves_on(
        self, deps: Deps, tenant_id: UUID
    ) -> None:
        """A row whose inbound transform fails becomes a failed discrepancy; others apply."""
        rows = [person(i) for i in range(5)]
        rows[2]["department"] = "not-a-bool"
        write_people(deps.files_root / "hr.csv", rows)
        cid = hr_connector(
            deps,
            tenant_id,
            mappings=[
                {"identity": "employee_id", "account": "employee_id", "direction": "inbound"},
                {
                    "identity": "is_sales",
                    "account": "department",
                    "direction": "inbound",
                    "transform": "bool",
                },
            ],
        )
        rows = [person(i, department="yes") for i in range(5)]
        rows[2]["department"] = "not-a-bool"
        write_people(deps.files_root / "hr.csv", rows)
        run = sync(deps, tenant_id, cid)
        assert run.status is RunStatus.SUCCEEDED, run.error
        assert len(identities(deps, tenant_id)) == 4
        assert run.counts["failed"] == 1
