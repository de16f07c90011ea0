"""Full reads through the ``sql`` (SQLite, optionally PostgreSQL) and ``csv`` types.

Creates, in a temporary directory, an SQLite table ``accounts(uid TEXT PRIMARY KEY,
email TEXT NOT NULL, given_name TEXT, family_name TEXT, department TEXT)`` with ``--n``
rows and the same rows as ``accounts.csv``; with ``--postgres URL`` also the same table
(as a fresh ``bench_accounts_<hex>`` table, dropped afterwards) in that database. Then
times, alternately and best of ``--repeat``:

- the baseline: raw ``sqlite3`` ``SELECT *`` iterating every row / raw ``psycopg``
  ``SELECT *`` fetching every row / raw ``csv.reader`` over the file;
- the connector: ``TYPE.open(...).search(object_class, --page-size)``, which builds a
  ``ConnectorObject`` per row (uid, name and typed attributes).

Prints rows/s of each and the ratio connector / baseline, by wall time and by this
process's CPU time (steadier on a busy machine; it leaves out the PostgreSQL server's
work). From the repository root:

    python benchmarks/type_read.py [--n 200000] [--page-size 1000] [--repeat 3]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--type sql|csv|all]
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Run as ``python benchmarks/<name>.py``: keep ``benchmarks/`` off the path (its
# ``queue.py`` would hide the stdlib module) and use the repository root instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from xavyo_connectors_core.spi import OpenContext  # noqa: E402

COLUMNS = ("uid", "email", "given_name", "family_name", "department")
DEPARTMENTS = ("eng", "sales", "ops", "legal", "finance", "hr", "support", "marketing")
DDL = (
    "CREATE TABLE {table} (uid TEXT PRIMARY KEY, email TEXT NOT NULL, "
    "given_name TEXT, family_name TEXT, department TEXT)"
)


def rows(n: int) -> Iterator[tuple[str, str, str | None, str, str]]:
    for i in range(n):
        given = None if i % 50 == 7 else f"Given{i}"  # a few NULLs / empty cells
        yield (
            f"E{i:07d}",
            f"user{i}@example.org",
            given,
            f"Family{i}",
            DEPARTMENTS[i % len(DEPARTMENTS)],
        )


# --------------------------------------------------------------------------- readers


def raw_sqlite(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        count = 0
        for _row in conn.execute("SELECT * FROM accounts"):
            count += 1
        return count
    finally:
        conn.close()


def raw_postgres(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT * FROM "{table}"')  # a generated name
        return len(cur.fetchall())


def raw_csv(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        count = 0
        for _row in reader:
            count += 1
        return count


def connector(kind: str, config: dict[str, Any], root: Path, page_size: int) -> int:
    if kind == "csv":
        from xavyo_connectors_core.types.csv import TYPE as CSV

        opened: Any = CSV.open(config, {}, OpenContext(root))
        object_class = CSV.account_object_class(config)
    else:
        from xavyo_connectors_core.types.sql import TYPE as SQL

        opened = SQL.open(config, {}, OpenContext(root))
        object_class = SQL.account_object_class(config)
    count = 0
    with opened as conn:
        for obj in conn.search(object_class, page_size):
            count += 1
            assert obj.uid
    return count


def timed(run: Callable[[], int], expected: int) -> tuple[float, float]:
    """Wall and CPU seconds (of this process) of one ``run``."""
    started, cpu = time.perf_counter(), time.process_time()
    count = run()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if count != expected:
        raise SystemExit(f"read {count} rows, expected {expected}")
    return elapsed, cpu


def compare(
    label: str, baseline: Callable[[], int], reader: Callable[[], int], n: int, repeat: int
) -> None:
    """Best wall and best CPU time of each reader, alternating; rows/s and the ratio."""
    baseline()  # warm the page cache
    raw = [float("inf")] * 2
    conn = [float("inf")] * 2
    for _ in range(repeat):
        raw = [min(a, b) for a, b in zip(raw, timed(baseline, n), strict=True)]
        conn = [min(a, b) for a, b in zip(conn, timed(reader, n), strict=True)]
    for what, i in (("wall", 0), ("cpu", 1)):
        raw_rate, rate = n / raw[i], n / conn[i]
        print(
            f"{label:<10} {what:<4}  baseline {raw_rate:>10,.0f} rows/s   "
            f"connector {rate:>10,.0f} rows/s ({conn[i] / n * 1e6:5.2f} us/row)   "
            f"connector / baseline {rate / raw_rate:.2f}"
        )


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--type", choices=("sql", "csv", "all"), default="all")
    parser.add_argument("--postgres", help="also read a table in this PostgreSQL database")
    args = parser.parse_args()
    n, page_size = args.n, args.page_size

    with tempfile.TemporaryDirectory(prefix="xavyo-type-read-") as tmp:
        root = Path(tmp)
        db = root / "app.db"
        with sqlite3.connect(db) as conn:
            conn.execute(DDL.format(table="accounts"))
            conn.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?, ?)", rows(n))
        conn.close()
        with (root / "accounts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(rows(n))
        print(f"{n:,} rows, page size {page_size}, best of {args.repeat}")

        if args.type in ("sql", "all"):
            sql_config = {
                "url": "sqlite:///app.db",
                "table": "accounts",
                "uid_column": "uid",
                "name_column": "email",
            }
            compare(
                "sql/sqlite",
                lambda: raw_sqlite(db),
                lambda: connector("sql", sql_config, root, page_size),
                n,
                args.repeat,
            )
            if args.postgres:
                bench_postgres(args.postgres, root, n, page_size, args.repeat)
        if args.type in ("csv", "all"):
            csv_config = {"path": "accounts.csv", "uid_column": "uid", "name_column": "email"}
            compare(
                "csv",
                lambda: raw_csv(root / "accounts.csv"),
                lambda: connector("csv", csv_config, root, page_size),
                n,
                args.repeat,
            )
    return 0


def bench_postgres(url: str, root: Path, n: int, page_size: int, repeat: int) -> None:
    import psycopg

    table = f"bench_accounts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url) as conn:
        conn.execute(DDL.format(table=f'"{table}"'))
        with conn.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
            for row in rows(n):
                copy.write_row(row)
    try:
        config = {"url": url, "table": table, "uid_column": "uid", "name_column": "email"}
        compare(
            "sql/pg",
            lambda: raw_postgres(url, table),
            lambda: connector("sql", config, root, page_size),
            n,
            repeat,
        )
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')


if __name__ == "__main__":
    raise SystemExit(main())
