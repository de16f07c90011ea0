"""The ``xavyo-connectors`` command line (SPEC §8)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xavyo_connectors_core.clock import SystemClock
from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import XavyoError
from xavyo_connectors_core.model import TokenRole
from xavyo_connectors_core.provisioning import Provisioner
from xavyo_connectors_core.worker import Worker, start_background

DEFAULT_DATA_DIR = "./xavyo-data"
DB_FILE = "xavyo.db"


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or os.environ.get("XAVYO_DATA_DIR") or DEFAULT_DATA_DIR)


def _database(args: argparse.Namespace) -> str:
    given = args.database or os.environ.get("XAVYO_DATABASE_URL")
    if given:
        return str(given)
    return str((_data_dir(args) / DB_FILE).resolve())


def _files_root(args: argparse.Namespace) -> Path:
    given = getattr(args, "files_root", None)
    return Path(given) if given else _data_dir(args) / "files"


def build_deps(args: argparse.Namespace, *, create: bool = True) -> Deps:
    """Open the store (migrating it), the key ring and the registry for a command."""
    from xavyo_connectors_core.registry import default_registry
    from xavyo_connectors_core.secrets import keyring_from_env_or_file
    from xavyo_connectors_core.stores import open_store

    data_dir = _data_dir(args)
    if create:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    files_root = _files_root(args)
    files_root.mkdir(parents=True, exist_ok=True)
    return Deps(
        store=open_store(_database(args)),
        registry=default_registry(),
        keyring=keyring_from_env_or_file(data_dir),
        clock=SystemClock(),
        files_root=files_root.resolve(),
    )


def bootstrap(deps: Deps, data_dir: Path) -> str | None:
    """On first start (no tenant yet): tenant ``default`` and an admin token.

    The token is ``XAVYO_BOOTSTRAP_TOKEN`` when set, else a new random one; it is written to
    ``<data-dir>/admin-token`` with mode 0600 and returned (to be printed once).
    """
    from xavyo_connectors_core.tenancy import create_api_token, ensure_tenant

    with deps.store.unit_of_work() as uow:
        if uow.tenants.list():
            return None
    tenant = ensure_tenant(deps, "default")
    _, token = create_api_token(
        deps,
        tenant.id,
        TokenRole.ADMIN,
        name="bootstrap admin",
        token=os.environ.get("XAVYO_BOOTSTRAP_TOKEN") or None,
    )
    path = data_dir / "admin-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from xavyo_connectors_starlette import create_app

    deps = build_deps(args)
    token = bootstrap(deps, _data_dir(args))
    if token is not None:
        print("Created tenant 'default' and an admin token (also in admin-token):")
        print(token, flush=True)
    app = create_app(deps)
    stop = threading.Event()
    threads = start_background(deps, stop)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    deps = build_deps(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = Worker(deps, lease_seconds=args.lease_seconds, poll_seconds=args.poll_seconds)
    provisioner = Provisioner(deps, owner=worker.owner, lease_seconds=args.lease_seconds)
    queue = threading.Thread(target=provisioner.run_forever, args=(stop,), daemon=True)
    queue.start()
    print(f"worker {worker.owner} started", flush=True)
    try:
        worker.run_forever(stop)
    except KeyboardInterrupt:
        stop.set()
    queue.join(timeout=30)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from xavyo_connectors_core.stores import open_store

    if not (args.database or os.environ.get("XAVYO_DATABASE_URL")):
        _data_dir(args).mkdir(parents=True, exist_ok=True, mode=0o700)
    store = open_store(_database(args), migrate=False)
    applied = store.migrate()
    store.close()
    print(f"applied {applied} migration(s)")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from xavyo_connectors_core.secrets import generate_key, load_key_file, write_key_file

    data_dir = _data_dir(args)
    if args.keys_command == "generate":
        if os.environ.get("XAVYO_SECRET_KEYS"):
            print("XAVYO_SECRET_KEYS is set: add the new key there instead", file=sys.stderr)
            return 2
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = data_dir / "keys"
        kid, key = generate_key()
        ring = load_key_file(path).with_new_primary(kid, key) if path.exists() else None
        if ring is None:
            from xavyo_connectors_core.secrets import KeyRing

            ring = KeyRing([(kid, key)])
        write_key_file(path, ring)
        print(kid)
        return 0
    from xavyo_connectors_core.key_rotation import rotate_secrets

    deps = build_deps(args)
    count = rotate_secrets(deps)
    print(f"re-sealed {count} secret(s) under key {deps.keyring.primary_kid}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from xavyo_connectors_core.tenancy import create_api_token, ensure_tenant

    deps = build_deps(args)
    tenant = ensure_tenant(deps, args.tenant)
    record, token = create_api_token(deps, tenant.id, TokenRole(args.role), name=args.name)
    print(f"created {record.role.value} token {record.id} for tenant {tenant.slug}")
    print(token)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from xavyo_connectors_core.demo import run_demo, summary_lines

    deps = build_deps(args)
    data_dir = _data_dir(args)
    token = bootstrap(deps, data_dir)
    from xavyo_connectors_core.tenancy import ensure_tenant

    tenant = ensure_tenant(deps, "default")
    result = run_demo(deps, tenant.id, people=args.people)
    hint = token if token else f"$(cat {data_dir / 'admin-token'})"
    print("\n".join(summary_lines(result, api="http://127.0.0.1:8080", token_hint=hint)))
    return 0


def cmd_reconcile(args: argparse.Namespace) -> int:
    from xavyo_connectors_core.connectors import list_connectors
    from xavyo_connectors_core.reconciliation import start_reconciliation
    from xavyo_connectors_core.runs import get_run
    from xavyo_connectors_core.tenancy import ensure_tenant
    from xavyo_connectors_core.worker import drain_all

    deps = build_deps(args)
    tenant = ensure_tenant(deps, args.tenant)
    wanted = args.connector.casefold()
    connector = None
    cursor = None
    while connector is None:
        page = list_connectors(deps, tenant.id, limit=500, cursor=cursor)
        connector = next(
            (c for c in page.items if c.name.casefold() == wanted or str(c.id) == wanted), None
        )
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    if connector is None:
        print(f"error: no connector {args.connector!r} in tenant {args.tenant}", file=sys.stderr)
        return 1
    run = start_reconciliation(
        deps, tenant.id, {"connector_id": str(connector.id), "mode": args.mode}
    )
    done = threading.Event()
    result: dict[str, int] = {}

    def work() -> None:
        result["runs"], result["operations"] = drain_all(deps)
        done.set()

    threading.Thread(target=work, daemon=True).start()
    while not done.wait(0.2):
        _progress(get_run(deps, tenant.id, run.id))
    final = get_run(deps, tenant.id, run.id)
    _progress(final)
    print(file=sys.stderr)
    print(
        f"run {final.id}: {final.status.value}" + (f" ({final.error})" if final.error else ""),
        flush=True,
    )
    print(f"{'situation':<14}{'count':>10}")
    for name, count in sorted(final.counts.items()):
        print(f"{name:<14}{count:>10}")
    print(f"{'action':<14}{'count':>10}")
    for name in ("queued", "applied", "failed"):
        print(f"{name:<14}{getattr(final.actions, name):>10}")
    print(f"{'operations':<14}{result.get('operations', 0):>10}")
    return 0 if final.status.value == "succeeded" else 1


def _progress(run: Any) -> None:
    done = run.progress.processed
    total = run.progress.total
    width = 30
    if total:
        filled = min(width, int(width * done / total))
        bar = "#" * filled + "." * (width - filled)
        text = f"[{bar}] {done}/{total}"
    else:
        text = f"[{'#' * (done // 1000 % width):<{width}}] {done} processed"
    print(f"\r{run.status.value:<10} {text}", end="", file=sys.stderr, flush=True)


def _store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (default ./xavyo-data)")
    parser.add_argument("--database", help="postgresql://… or a SQLite file")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xavyo-connectors", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (and a worker)")
    _store_args(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--files-root", help="root of files named in configs")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a standalone worker")
    _store_args(worker)
    worker.add_argument("--files-root", help="root of files named in configs")
    worker.add_argument("--lease-seconds", type=float, default=30.0)
    worker.add_argument("--poll-seconds", type=float, default=1.0)
    worker.set_defaults(func=cmd_worker)

    demo = sub.add_parser("demo", help="seed and run a self-contained example")
    _store_args(demo)
    demo.add_argument("--files-root", help="root of files named in configs")
    demo.add_argument("--people", type=int, default=1000)
    demo.set_defaults(func=cmd_demo)

    reconcile = sub.add_parser("reconcile", help="reconcile a connector in the foreground")
    _store_args(reconcile)
    reconcile.add_argument("connector", help="connector name or id")
    reconcile.add_argument("--tenant", default="default", help="tenant slug")
    reconcile.add_argument("--mode", choices=["report", "remediate"], default="report")
    reconcile.add_argument("--files-root", help="root of files named in configs")
    reconcile.set_defaults(func=cmd_reconcile)

    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    _store_args(migrate)
    migrate.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="manage the secret key ring")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    for name, text in (
        ("generate", "add a new primary key to the key file"),
        ("rotate", "re-seal every stored secret under the primary key"),
    ):
        p = keys_sub.add_parser(name, help=text)
        _store_args(p)
    keys.set_defaults(func=cmd_keys)

    token = sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token (printed on the last line)")
    _store_args(create)
    create.add_argument("--tenant", required=True, help="tenant slug, e.g. default")
    create.add_argument("--role", required=True, choices=[r.value for r in TokenRole])
    create.add_argument("--name", default="")
    token.set_defaults(func=cmd_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("XAVYO_LOG_LEVEL", "WARNING"))
    try:
        return int(args.func(args))
    except XavyoError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
