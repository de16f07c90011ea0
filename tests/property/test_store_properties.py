"""Properties of the stores and of the public strategies (Hypothesis).

- Every public strategy makes JSON-shaped objects: through the converter and JSON and back
  they are equal (so every store can keep them).
- Value keys (``find_by_values``) are loose: two scalars share a key exactly when their
  text (``transforms.text_of``) is the same after ``strip()`` and ``casefold()``.
- ``claim_due`` on any queue hands out exactly what a plain model of SPEC §3.7 says.
- Random interleavings of two tenants' writes (committed or rolled back) never leak: each
  tenant sees exactly what a simple model of its own writes predicts, and nothing of the
  other tenant — on every store.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract import builders as b
from tests.contract.stores import KINDS, hypothesis_settings, open_test_store
from xavyo_connectors_core import testing
from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.errors import Conflict, NotFound
from xavyo_connectors_core.model import (
    ConnectorHealth,
    Operation,
    OperationStatus,
    RunKind,
    RunMode,
    RunStatus,
)
from xavyo_connectors_core.ports import Store
from xavyo_connectors_core.stores._common import (
    account_key,
    read_time_id_cursor,
    time_id_cursor,
    value_key,
)
from xavyo_connectors_core.transforms import text_of

OBJECT_STRATEGIES = [
    name
    for name in testing.__all__
    if name.endswith("s")
    and name
    not in {
        "texts",
        "uuids",
        "utc_datetimes",
        "attribute_names",
        "attribute_values",
        "identity_attributes",
        "account_attributes",
        "json_scalars",
        "json_values",
        "json_objects",
        "pages",
    }
]


@pytest.mark.parametrize("name", OBJECT_STRATEGIES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_strategies_make_json_shaped_objects(name: str, data: st.DataObject) -> None:
    """unstructure → JSON → structure gives back an equal object, for every strategy."""
    obj = data.draw(getattr(testing, name)())
    text = json.dumps(converter.unstructure(obj), allow_nan=False)
    assert converter.structure(json.loads(text), type(obj)) == obj


def test_strategies_take_overrides() -> None:
    """Overrides pin fields (values or strategies); unknown fields are refused."""
    tenant = uuid.uuid4()

    @settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow])
    @given(
        testing.connectors(tenant_id=tenant, name=st.just("hr")), testing.runs(kind=RunKind.SYNC)
    )
    def check(connector: Any, run: Any) -> None:
        assert (connector.tenant_id, connector.name, run.kind) == (tenant, "hr", RunKind.SYNC)
        assert run.mode in (RunMode.INCREMENTAL, RunMode.FULL)

    check()
    with pytest.raises(TypeError):
        testing.identities(colour="red")


_SCALARS = st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text()


def _loose(value: Any) -> str:
    return text_of(value).strip().casefold()


def _spellings(value: Any) -> st.SearchStrategy[Any]:
    """The value, its text, and that text re-cased and padded."""
    text = text_of(value)
    return st.sampled_from([value, text, text.upper(), f" {text}\t", text.casefold()])


_LOOSE_PAIRS = (_SCALARS | st.sampled_from(["ß", "SS", "ǅ", " x", "X ", "1.0", "TRUE"])).flatmap(
    lambda a: st.tuples(st.just(a), _spellings(a) | _SCALARS)
)


@settings(max_examples=200)
@given(_LOOSE_PAIRS)
def test_value_keys_are_loose_text(pair: tuple[Any, Any]) -> None:
    """Two scalars share a key exactly when their stripped, casefolded texts are equal."""
    a, b_ = pair
    if any(isinstance(v, float) and not math.isfinite(v) for v in pair):
        assert value_key(a) is None or value_key(b_) is None
        return
    assert (value_key(a) == value_key(b_)) == (_loose(a) == _loose(b_))


@settings(max_examples=50)
@given(st.text(min_size=150, max_size=400))
def test_long_value_keys_are_hashed(text: str) -> None:
    """Any value gets a key of bounded length; long ones still tell values apart."""
    key = value_key(text)
    assert key is not None and len(key) <= 200
    assert value_key(text.upper()) == value_key(f" {text.casefold()} ") == key
    assert value_key(text + "x") != key


@given(testing.utc_datetimes(min_year=1, max_year=9999), testing.uuids())
def test_time_cursors_round_trip(when: Any, ident: uuid.UUID) -> None:
    """A (time, id) cursor decodes to exactly the key it was made from."""
    assert read_time_id_cursor(time_id_cursor(when, ident)) == (when, ident)


# --------------------------------------------------------------------------- interleavings

NAMES = ["hr", "HR", "ldap", "Ldap", "scim"]
ACTIONS = [
    "add_connector",
    "rename_connector",
    "delete_connector",
    "upsert_shadow",
    "add_identity",
    "update_identity",
    "delete_identity",
    "add_run",
    "finish_run",
    "enqueue",
]
STEPS = st.lists(
    st.tuples(
        st.sampled_from([0, 1]),
        st.sampled_from(ACTIONS),
        st.sampled_from(NAMES),
        st.integers(0, 3),
        st.booleans(),  # commit?
    ),
    min_size=2,
    max_size=40,
)


@attrs.define
class TenantModel:
    """What one tenant should see: a plain model of its own committed writes."""

    id: uuid.UUID
    connectors: dict[uuid.UUID, str] = attrs.field(factory=dict)
    shadows: dict[uuid.UUID, set[str]] = attrs.field(factory=dict)
    identities: dict[uuid.UUID, str] = attrs.field(factory=dict)
    runs: dict[uuid.UUID, tuple[uuid.UUID, bool]] = attrs.field(factory=dict)
    operations: list[uuid.UUID] = attrs.field(factory=list)

    def pick(self, ids: Any, k: int) -> Any:
        ordered = sorted(ids)
        return ordered[k % len(ordered)] if ordered else None

    def name_taken(self, name: str, but: uuid.UUID | None = None) -> bool:
        key = name.casefold()
        return any(n.casefold() == key for i, n in self.connectors.items() if i != but)


def _apply(store: Store, model: TenantModel, action: str, name: str, k: int, commit: bool) -> None:
    """Do one step in its own unit of work, updating a copy of the model on success."""
    t = model.id
    staged = attrs.evolve(
        model,
        connectors=dict(model.connectors),
        shadows={c: set(u) for c, u in model.shadows.items()},
        identities=dict(model.identities),
        runs=dict(model.runs),
        operations=list(model.operations),
    )
    with store.unit_of_work() as uow:
        conn = model.pick(model.connectors, k)
        if action == "add_connector":
            new = b.connector(t, name)
            if model.name_taken(name):
                with pytest.raises(Conflict):
                    uow.connectors.add(new)
            else:
                uow.connectors.add(new)
                staged.connectors[new.id] = name
                staged.shadows[new.id] = set()
        elif action == "rename_connector" and conn is not None:
            stored = uow.connectors.get(t, conn)
            renamed = attrs.evolve(stored, name=name, version=stored.version + 1)
            if model.name_taken(name, but=conn):
                with pytest.raises(Conflict):
                    uow.connectors.update(renamed)
            else:
                uow.connectors.update(renamed)
                staged.connectors[conn] = name
        elif action == "delete_connector" and conn is not None:
            uow.connectors.delete(t, conn)
            del staged.connectors[conn]
            del staged.shadows[conn]
        elif action == "upsert_shadow":
            if conn is None:
                with pytest.raises(NotFound):
                    uow.shadows.upsert_many([b.shadow(t, uuid.uuid4(), name)])
            else:
                uow.shadows.upsert_many([b.shadow(t, conn, name)])
                staged.shadows[conn].add(name)
        elif action == "add_identity":
            new_identity = b.identity(t, {"mail": name})
            uow.identities.add(new_identity)
            staged.identities[new_identity.id] = name
        elif action == "update_identity" and model.identities:
            ident = model.pick(model.identities, k)
            stored_identity = uow.identities.get(t, ident)
            uow.identities.update(
                attrs.evolve(
                    stored_identity,
                    attributes={"mail": name.upper()},
                    version=stored_identity.version + 1,
                )
            )
            staged.identities[ident] = name.upper()
        elif action == "delete_identity" and model.identities:
            ident = model.pick(model.identities, k)
            uow.identities.delete(t, ident)
            del staged.identities[ident]
        elif action == "add_run":
            target = conn or uuid.UUID(int=k)
            new_run = b.run(t, target)
            active = [r for r, (c, on) in model.runs.items() if c == target and on]
            if active:
                with pytest.raises(Conflict) as caught:
                    uow.runs.add(new_run)
                assert caught.value.run_id == active[0]
            else:
                uow.runs.add(new_run)
                staged.runs[new_run.id] = (target, True)
        elif action == "finish_run":
            active_runs = [r for r, (_, on) in model.runs.items() if on]
            if active_runs:
                run_id = model.pick(active_runs, k)
                stored_run = uow.runs.get(t, run_id)
                uow.runs.update(attrs.evolve(stored_run, status=RunStatus.SUCCEEDED))
                staged.runs[run_id] = (stored_run.connector_id, False)
        elif action == "enqueue":
            (op,) = uow.operations.enqueue_many([b.operation(t, conn or uuid.UUID(int=k))])
            staged.operations.append(op.id)
        if commit:
            uow.commit()
    if commit:
        model.connectors, model.shadows = staged.connectors, staged.shadows
        model.identities, model.runs = staged.identities, staged.runs
        model.operations = staged.operations


def _check(store: Store, model: TenantModel, other: TenantModel) -> None:
    t = model.id
    with store.unit_of_work() as uow:
        listed = uow.connectors.list(t, limit=500).items
        assert {c.id: c.name for c in listed} == model.connectors
        for conn, uids in model.shadows.items():
            assert uow.shadows.count(t, conn) == len(uids)
            assert set(uow.shadows.get_many(t, conn, NAMES)) == uids
        assert {i.id: i.attributes["mail"] for i in uow.identities.list(t, limit=500).items} == (
            model.identities
        )
        found = uow.identities.find_by_values(t, "mail", [*NAMES, *(n.upper() for n in NAMES)])
        assert {i.id for ids in found.values() for i in ids} == set(model.identities)
        for mail, ids in found.items():  # candidates match loosely (case-insensitively)
            assert all(model.identities[i.id].casefold() == mail.casefold() for i in ids)
        assert {r.id for r in uow.runs.list(t, limit=500).items} == set(model.runs)
        for run_id, (conn, active) in model.runs.items():
            if active:
                found_run = uow.runs.active_for_connector(t, conn)
                assert found_run is not None and found_run.id == run_id
        ops = uow.operations.list(t, limit=500).items
        assert [o.id for o in ops] == model.operations
        stats = uow.operations.stats(t, b.T0)
        assert stats["pending"] == len(model.operations)
        assert all(o.status is OperationStatus.PENDING for o in ops)
        # nothing of the other tenant is reachable from this one
        for conn in other.connectors:
            with pytest.raises(NotFound):
                uow.connectors.get(t, conn)
            assert uow.shadows.count(t, conn) == 0
        for ident in other.identities:
            with pytest.raises(NotFound):
                uow.identities.get(t, ident)
        for run_id in other.runs:
            with pytest.raises(NotFound):
                uow.runs.get(t, run_id)
        for op_id in other.operations:
            with pytest.raises(NotFound):
                uow.operations.get(t, op_id)


@pytest.fixture(params=KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Store]]:
    kind = str(request.param)
    store = open_test_store(kind, tmp_path, request)
    yield kind, store
    store.close()


def test_two_tenants_never_leak(any_store: tuple[str, Store]) -> None:
    """Any interleaving of two tenants' writes leaves each seeing exactly its own."""
    kind, store = any_store
    base = hypothesis_settings(kind)

    @settings(
        base,
        max_examples=base.max_examples if kind != "postgres" else 15,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(STEPS)
    def check(steps: list[tuple[int, str, str, int, bool]]) -> None:
        models = [TenantModel(uuid.uuid4()), TenantModel(uuid.uuid4())]
        for who, action, name, k, commit in steps:
            _apply(store, models[who], action, name, k, commit)
        _check(store, models[0], models[1])
        _check(store, models[1], models[0])

    check()


# --------------------------------------------------------------------------- the queue

S = OperationStatus
_TENANTS = [uuid.UUID(int=1), uuid.UUID(int=2)]
_CONNECTORS = [uuid.UUID(int=10 + i) for i in range(2)]
_IDENTITIES = [uuid.UUID(int=20 + i) for i in range(2)]
_NOW = b.at(100)


def _offset() -> st.SearchStrategy[Any]:
    return st.integers(-3, 3).map(lambda s: _NOW + timedelta(seconds=s))


_OPS = st.lists(
    st.fixed_dictionaries(
        {
            "tenant_id": st.sampled_from(_TENANTS),
            "connector_id": st.sampled_from(_CONNECTORS),
            "identity_id": st.none() | st.sampled_from(_IDENTITIES),
            "account_uid": st.none() | st.just("a"),
            "status": st.sampled_from(OperationStatus),
            "next_attempt_at": _offset(),
            "lease_expires_at": st.none() | _offset(),
        }
    ),
    max_size=24,
)
_CONNECTOR_STATES = st.dictionaries(
    st.tuples(st.sampled_from(_TENANTS), st.sampled_from(_CONNECTORS)),
    st.tuples(st.booleans(), st.none() | _offset()),  # (enabled, quarantined until)
)


def _model_claim(ops: list[Operation], states: dict[Any, Any], limit: int) -> list[uuid.UUID]:
    """SPEC §3.7, written out plainly: what ``claim_due`` must hand out."""
    blocking = {S.PENDING, S.RETRYING, S.IN_PROGRESS, S.DEAD}

    def key(op: Operation) -> Any:
        return (op.tenant_id, op.connector_id, op.identity_id or f"uid {op.account_uid}")

    chosen = []
    for op in sorted(ops, key=lambda o: o.seq):
        enabled, until = states.get((op.tenant_id, op.connector_id), (True, None))
        if op.status in (S.PENDING, S.RETRYING):
            due = op.next_attempt_at <= _NOW
        elif op.status is S.IN_PROGRESS:
            due = op.lease_expires_at is None or op.lease_expires_at < _NOW
        else:
            due = False
        earlier = any(key(o) == key(op) and o.seq < op.seq and o.status in blocking for o in ops)
        if due and enabled and not (until and until > _NOW) and not earlier:
            chosen.append(op.id)
    return chosen[:limit]


def test_claims_follow_the_rules(any_store: tuple[str, Store]) -> None:
    """On any queue, ``claim_due`` hands out exactly what the rules of SPEC §3.7 say, and a
    second claim the next ones (the first ones now hold their accounts)."""
    kind, store = any_store
    base = hypothesis_settings(kind)

    @settings(base, max_examples=15 if kind == "postgres" else 25)
    @given(_OPS, _CONNECTOR_STATES, st.integers(0, 6))
    def check(specs: list[dict[str, Any]], states: dict[Any, Any], limit: int) -> None:
        with store.unit_of_work() as uow:  # never committed: every example starts empty
            for (tenant, conn), (enabled, until) in states.items():
                uow.connectors.add(b.connector(tenant, id=conn, enabled=enabled))
                uow.operations.put_health(ConnectorHealth(tenant, conn, 5, until))
            ops = uow.operations.enqueue_many([b.operation(**spec) for spec in specs])
            first = uow.operations.claim_due("w1", _NOW, 30, limit)
            assert [op.id for op in first] == _model_claim(ops, states, limit)
            claimed = {op.id: op for op in first}
            ops = [claimed.get(op.id, op) for op in ops]
            second = uow.operations.claim_due("w2", _NOW, 30, 50)
            assert [op.id for op in second] == _model_claim(ops, states, 50)
            for op in ops:
                behind = [
                    o
                    for o in ops
                    if o.seq > op.seq
                    and (o.tenant_id, o.connector_id) == (op.tenant_id, op.connector_id)
                    and account_key(o.identity_id, o.account_uid)
                    == account_key(op.identity_id, op.account_uid)
                ]
                unfinished = [o for o in behind if not o.status.finished]
                assert uow.operations.count_behind(op) == len(unfinished)
                if not behind:
                    latest = uow.operations.latest_for_account(
                        op.tenant_id, op.connector_id, account_key(op.identity_id, op.account_uid)
                    )
                    assert latest is not None and latest.id == op.id

    check()
