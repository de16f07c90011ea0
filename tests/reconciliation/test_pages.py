"""Pass 1 across pages: an account listed again in a later page, linked accounts.

With pages of 2 accounts, on the memory, SQLite and PostgreSQL stores alike.
"""

from __future__ import annotations

from uuid import UUID

import pytest

from tests.reconciliation.test_reconciliation import person, run, situations
from xavyo_connectors_core import reconciliation
from xavyo_connectors_core.connectors import create_connector
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.identities import create_identity
from xavyo_connectors_core.model import RunStatus, Situation
from xavyo_connectors_core.reconciliation import list_discrepancies


def csv_target(deps: Deps, tenant_id: UUID, uids: list[str]) -> UUID:
    """A `csv` target listing ``uids`` in that order (repeats allowed: a CSV can hold them)."""
    lines = ["id,email,given_name"] + [
        f"{uid},{uid.lower()}@example.org,Given {uid}" for uid in uids
    ]
    (deps.files_root / "accounts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    doc = {
        "name": "export",
        "type": "csv",
        "role": "target",
        "config": {"path": "accounts.csv", "uid_column": "id", "name_column": "email"},
        "mappings": [
            {"identity": "employee_id", "account": "id", "direction": "outbound"},
            {"identity": "email", "account": "email", "direction": "outbound"},
            {"identity": "given_name", "account": "given_name", "direction": "outbound"},
        ],
        "correlation": [{"identity": "employee_id", "account": "id"}],
    }
    return create_connector(deps, tenant_id, doc).id


@pytest.fixture(autouse=True)
def pages_of_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciliation, "PAGE_SIZE", 2)


def test_accounts_listed_again_in_later_pages_count_once(deps: Deps, tenant_id: UUID) -> None:
    """E2 is in pages 1, 2 and 3: one account, one discrepancy."""
    for employee_id in ("E1", "E2", "E3", "E4", "E5"):
        create_identity(deps, tenant_id, person(employee_id))
    cid = csv_target(deps, tenant_id, ["E1", "E2", "E2", "E3", "E2", "E4", "X1"])
    report = run(deps, tenant_id, cid, "report")
    assert report.status is RunStatus.SUCCEEDED, report.error
    assert situations(report.counts) == {"unlinked": 4, "unmatched": 1, "missing": 1}
    assert report.progress.processed == 6  # 5 distinct accounts, then 1 missing identity
    found = list_discrepancies(deps, tenant_id, report.id, limit=100).items
    per_uid = [d.account_uid for d in found if d.account_uid is not None]
    assert sorted(per_uid) == ["E1", "E2", "E3", "E4", "X1"]


def test_a_report_over_linked_accounts_finds_the_one_edited(deps: Deps, tenant_id: UUID) -> None:
    for employee_id in ("E1", "E2", "E3", "E4", "E5"):
        create_identity(deps, tenant_id, person(employee_id))
    cid = csv_target(deps, tenant_id, ["E1", "E2", "E3", "E4", "E5"])
    linked = run(deps, tenant_id, cid, "remediate")
    assert linked.status is RunStatus.SUCCEEDED, linked.error
    assert situations(linked.counts) == {"unlinked": 5}
    path = deps.files_root / "accounts.csv"
    path.write_text(path.read_text().replace("Given E4", "Someone Else"), encoding="utf-8")
    report = run(deps, tenant_id, cid, "report")
    assert report.status is RunStatus.SUCCEEDED, report.error
    assert situations(report.counts) == {"linked": 4, "mismatched": 1}
    (mismatch,) = list_discrepancies(
        deps, tenant_id, report.id, situation=Situation.MISMATCHED, limit=10
    ).items
    assert mismatch.account_uid == "E4"
    assert [(d.attribute, d.expected, d.actual) for d in mismatch.differences] == [
        ("given_name", "Given E4", "Someone Else")
    ]
