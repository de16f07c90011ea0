"""``stores._common.Codec``: rows to objects (``load``) and objects to columns (``params``).

Times ``load`` and ``params`` of the SQLite dialect's codecs for ``--rows`` Shadow and
Identity rows shaped as ``sqlite3`` returns them (UUIDs as text, datetimes as integer
microseconds, booleans as 0/1, JSON as text): the codec as it is now ("new") against a
copy of the codec before the compiled fast paths ("old", ``OldCodec`` below — cattrs
``structure`` of a dict, and ``dump_json`` of the converter's unstructured value per
nested column). Both must give equal results; the script checks a sample before timing.

Rows model a reconciliation: shadows of one connector of one tenant (tenant, connector
and run ids repeat; about half are linked to an identity), account and identity
attributes of 8 scalar and list values. Each figure is the best of ``--repeat`` passes
over all rows (µs per row), old and new passes interleaved, the garbage collector off
(as ``timeit`` does), so that other processes on the machine disturb it less.

Not for CI. From the repository root::

    python benchmarks/codec.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import enum
import gc
import json
import sys
import time
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import attrs  # noqa: E402

from xavyo_connectors_core.converter import converter  # noqa: E402
from xavyo_connectors_core.model import Identity, Shadow, Situation  # noqa: E402
from xavyo_connectors_core.stores._common import (  # noqa: E402
    Codec,
    Dialect,
    Kind,
    _kind_of,
    dump_json,
    from_micros,
    to_micros,
)
from xavyo_connectors_core.stores.sqlite import _SqliteDialect  # noqa: E402

# --------------------------------------------------------------------------- reference


class OldSqliteDialect:
    """The SQLite dialect's load/dump methods before the fast paths."""

    def dump_time(self, value: datetime) -> Any:
        return to_micros(value)

    def load_time(self, value: Any) -> datetime:
        return from_micros(int(value))

    def dump_uuid(self, value: Any) -> Any:
        return str(value)

    def load_json(self, value: Any) -> Any:
        return json.loads(value)

    def load_bool(self, value: Any) -> bool:
        return bool(value)


class OldCodec:
    """``Codec`` before the compiled fast paths (verbatim logic)."""

    def __init__(self, cls: type, dialect: Dialect) -> None:
        self.cls = cls
        self.dialect = dialect
        hints = typing.get_type_hints(cls)
        self.kinds = {f.name: _kind_of(hints[f.name]) for f in attrs.fields(cls)}
        self._nested = {
            name: converter.get_unstructure_hook(hints[name])
            for name, kind in self.kinds.items()
            if kind is Kind.JSON
        }

    def params(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        dialect = self.dialect
        for name, kind in self.kinds.items():
            value = getattr(obj, name)
            if value is None:
                out[name] = None
            elif kind is Kind.JSON:
                out[name] = dump_json(self._nested[name](value), name)
            elif kind is Kind.TIME:
                out[name] = dialect.dump_time(value)
            elif kind is Kind.UUID:
                out[name] = dialect.dump_uuid(value)
            elif kind is Kind.BOOL:
                out[name] = bool(value)
            else:
                out[name] = value.value if isinstance(value, enum.Enum) else value
        return out

    def load(self, row: Mapping[str, Any]) -> Any:
        data: dict[str, Any] = {}
        dialect = self.dialect
        for name, kind in self.kinds.items():
            value = row[name]
            if value is not None:
                if kind is Kind.JSON:
                    value = dialect.load_json(value)
                elif kind is Kind.TIME:
                    value = dialect.load_time(value)
                elif kind is Kind.BOOL:
                    value = dialect.load_bool(value)
            data[name] = value
        return converter.structure(data, self.cls)


# --------------------------------------------------------------------------- data

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _attributes(i: int) -> dict[str, Any]:
    return {
        "uid": f"u{i:07d}",
        "mail": f"user{i}@example.org",
        "given_name": "Ada",
        "family_name": f"Lovelace {i}",
        "department": ["Engineering", "Research"][i % 2],
        "employee_number": 100_000 + i,
        "active": i % 7 != 0,
        "groups": ["staff", f"team-{i % 50}"],
    }


def make_objects(rows: int) -> tuple[list[Shadow], list[Identity]]:
    rng_ids = uuid.UUID(int=0x1234)  # deterministic ids: uuid5 of a counter
    tenant = uuid.uuid5(rng_ids, "tenant")
    connector = uuid.uuid5(rng_ids, "connector")
    run = uuid.uuid5(rng_ids, "run")
    seen = T0 + timedelta(hours=1)
    identities = [
        Identity(
            id=uuid.uuid5(rng_ids, f"identity-{i}"),
            tenant_id=tenant,
            attributes=_attributes(i),
            created_at=T0 + timedelta(microseconds=i),
            updated_at=T0 + timedelta(seconds=i, microseconds=7),
            enabled=i % 5 != 0,
            version=1 + i % 3,
        )
        for i in range(rows)
    ]
    shadows = [
        Shadow(
            tenant_id=tenant,
            connector_id=connector,
            uid=f"u{i:07d}",
            name=f"user{i}",
            attributes=_attributes(i),
            attributes_hash=f"{i:064x}",
            situation=Situation.LINKED if i % 2 else Situation.UNMATCHED,
            last_seen_at=seen,
            identity_id=identities[i].id if i % 2 else None,
            last_run_id=run,
        )
        for i in range(rows)
    ]
    return shadows, identities


def sqlite_rows(codec: OldCodec, objects: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows as ``sqlite3`` returns them: ``params`` with booleans as integers."""
    rows = []
    for obj in objects:
        row = codec.params(obj)
        rows.append({k: int(v) if type(v) is bool else v for k, v in row.items()})
    return rows


# --------------------------------------------------------------------------- timing


def best_of(repeat: int, fns: Sequence[Callable[[Any], Any]], items: Sequence[Any]) -> list[float]:
    """Best wall time (s) of ``repeat`` passes of each of ``fns`` over ``items``, the
    passes of the functions interleaved, with the garbage collector off (as ``timeit``)."""
    best = [float("inf")] * len(fns)
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                for item in items:
                    fn(item)
                best[i] = min(best[i], time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    shadows, identities = make_objects(args.rows)
    old_dialect, new_dialect = OldSqliteDialect(), _SqliteDialect()
    print(f"Python {sys.version.split()[0]}, {args.rows:,} rows per class, best of {args.repeat}")
    print(f"{'':26}{'old µs/row':>12}{'new µs/row':>12}{'speedup':>9}")
    for cls, objects in ((Shadow, shadows), (Identity, identities)):
        old = OldCodec(cls, old_dialect)
        new = Codec(cls, new_dialect)
        rows = sqlite_rows(old, objects)
        for obj, row in zip(objects[:1000], rows[:1000], strict=True):
            assert new.load(row) == old.load(row) == obj
            assert new.params(obj) == old.params(obj)
        for what, old_fn, new_fn, items in (
            ("load", old.load, new.load, rows),
            ("params", old.params, new.params, objects),
        ):
            t_old, t_new = best_of(args.repeat, [old_fn, new_fn], items)
            per_old, per_new = t_old / len(items) * 1e6, t_new / len(items) * 1e6
            label = f"{cls.__name__}.{what}"
            print(f"{label:26}{per_old:12.2f}{per_new:12.2f}{t_old / t_new:8.1f}x")


if __name__ == "__main__":
    main()
