"""Properties of the stores and of the public strategies (Hypothesis).

- Every public strategy makes JSON-shaped objects: through the converter and JSON and back
  they are equal (so every store can keep them).
- Value keys (``find_by_values``) follow JSON equality: ``1 == 1.0``, ``True != 1``.
- Random interleavings of two tenants' writes (committed or rolled back) never leak: each
  tenant sees exactly what a simple model of its own writes predicts, and nothing of the
  other tenant — on every store.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
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
from xavyo_connectors_core.model import OperationStatus, RunKind, RunMode, RunStatus
from xavyo_connectors_core.ports import Store
from xavyo_connectors_core.stores._common import (
    read_time_id_cursor,
    time_id_cursor,
    value_key,
)

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

    @settings(max_examples=10)
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


@settings(max_examples=300)
@given(_SCALARS, _SCALARS)
def test_value_keys_follow_json_equality(a: Any, b_: Any) -> None:
    """Two scalars share a key exactly when they are equal as JSON values."""
    if (isinstance(a, float) and not math.isfinite(a)) or (
        isinstance(b_, float) and not math.isfinite(b_)
    ):
        return
    if isinstance(a, bool) or isinstance(b_, bool):
        equal = isinstance(a, bool) and isinstance(b_, bool) and a == b_
    else:
        equal = type(a) is type(b_) or not (isinstance(a, str) or isinstance(b_, str))
        equal = equal and a == b_
    assert (value_key(a) == value_key(b_)) == equal


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
        assert {i.id: mail for mail, ids in found.items() for i in ids} == model.identities
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
