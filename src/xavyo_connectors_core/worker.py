"""Workers: claim runs with leases and execute them (SPEC §3.9, §3.10).

``serve`` runs one worker thread in-process; ``xavyo-connectors worker`` runs one
standalone. Any number may share a PostgreSQL store: claims skip locked rows, the store
allows one active run per connector, and a dead worker's run is taken over once its
lease expires and resumed from its last committed batch. Scheduled syncs are queued by
whichever worker sees them due first; the one-active-run rule and the interval check in
the same transaction make it exactly one per interval.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import attrs

from xavyo_connectors_core.deps import Deps
from xavyo_connectors_core.errors import Conflict, XavyoError
from xavyo_connectors_core.leases import Lease, LeaseLost
from xavyo_connectors_core.model import Run, RunKind, RunMode, RunStatus
from xavyo_connectors_core.runs import ensure_can_run

log = logging.getLogger(__name__)

Executor = Callable[[Deps, Run, Lease], Run]


def default_executors() -> dict[RunKind, Executor]:
    from xavyo_connectors_core.sync import execute_sync

    executors: dict[RunKind, Executor] = {RunKind.SYNC: execute_sync}
    try:
        from xavyo_connectors_core.reconciliation import execute_reconciliation
    except ImportError:  # pragma: no cover - reconciliation arrives with its issue
        pass
    else:
        executors[RunKind.RECONCILIATION] = execute_reconciliation
    return executors


class Worker:
    """Claims and executes runs until told to stop."""

    def __init__(
        self,
        deps: Deps,
        *,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        executors: dict[RunKind, Executor] | None = None,
    ) -> None:
        self.deps = deps
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = Lease(owner=self.owner, seconds=lease_seconds, clock=deps.clock)
        self.poll_seconds = poll_seconds
        self.executors = executors or default_executors()

    def run_one(self) -> Run | None:
        """Claim one run and execute it; None when nothing is due."""
        with self.deps.store.unit_of_work() as uow:
            run = uow.runs.claim(self.owner, self.deps.clock.now(), self.lease.seconds)
            uow.commit()
        if run is None:
            return None
        return self.execute(run)

    def execute(self, run: Run) -> Run:
        """Execute a claimed run; failures become a failed run, never a crash."""
        from xavyo_connectors_core.sync import RunStopped

        log.info("run %s (%s/%s) started by %s", run.id, run.kind, run.mode, self.owner)
        try:
            with self.deps.store.unit_of_work() as uow:
                connector = uow.connectors.get(run.tenant_id, run.connector_id)
            ensure_can_run(connector)
            finished = self.executors[run.kind](self.deps, run, self.lease)
        except RunStopped as stop:
            finished = stop.run
        except LeaseLost:
            log.warning("run %s was taken over by another worker", run.id)
            return run
        except XavyoError as exc:
            finished = self._fail(run, exc.detail)
        except Exception as exc:
            log.exception("run %s failed unexpectedly", run.id)
            finished = self._fail(run, f"unexpected error: {type(exc).__name__}")
        log.info("run %s finished: %s", run.id, finished.status)
        return finished

    def _fail(self, run: Run, reason: str) -> Run:
        try:
            with self.deps.store.unit_of_work() as uow:
                current = uow.runs.get(run.tenant_id, run.id)
                failed = self.lease.save(
                    uow,
                    attrs.evolve(
                        current,
                        status=RunStatus.FAILED,
                        error=reason[:2000],
                        finished_at=self.deps.clock.now(),
                    ),
                )
                uow.commit()
                return failed
        except LeaseLost:
            return run

    def drain(self, max_runs: int | None = None) -> int:
        """Execute due runs until none is left (or ``max_runs``); return how many ran."""
        count = 0
        while max_runs is None or count < max_runs:
            if self.run_one() is None:
                break
            count += 1
        return count

    def schedule_due_syncs(self) -> int:
        """Queue a sync for each connector whose ``sync_interval_seconds`` has elapsed."""
        queued = 0
        now = self.deps.clock.now()
        with self.deps.store.unit_of_work() as uow:
            candidates = [
                c for c in uow.connectors.iter_all() if c.sync_interval_seconds and c.enabled
            ]
        for connector in candidates:
            assert connector.sync_interval_seconds is not None
            with self.deps.store.unit_of_work() as uow:
                if uow.runs.active_for_connector(connector.tenant_id, connector.id):
                    continue
                last = uow.runs.last_queued(connector.tenant_id, connector.id, RunKind.SYNC)
                interval = timedelta(seconds=connector.sync_interval_seconds)
                if last is not None and last.queued_at + interval > now:
                    continue
                try:
                    ensure_can_run(connector)
                    uow.runs.add(
                        Run(
                            id=uuid.uuid4(),
                            tenant_id=connector.tenant_id,
                            connector_id=connector.id,
                            kind=RunKind.SYNC,
                            mode=RunMode.INCREMENTAL,
                            queued_at=now,
                            scheduled_slot=int(now.timestamp()) // connector.sync_interval_seconds,
                        )
                    )
                    uow.commit()
                    queued += 1
                except Conflict:
                    continue  # another worker queued it, or a run is active
        return queued

    def run_forever(self, stop: threading.Event) -> None:
        """Schedule, claim and execute until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.schedule_due_syncs()
                if self.run_one() is not None:
                    continue
            except Exception:
                log.exception("worker loop error; retrying")
            stop.wait(self.poll_seconds)


def drain_all(deps: Deps, *, max_rounds: int = 100) -> tuple[int, int]:
    """Run due runs and operations until both are idle (tests, demo, ``reconcile``).

    Returns how many runs and how many operations were processed.
    """
    from xavyo_connectors_core.provisioning import Provisioner

    worker = Worker(deps, owner="drain")
    provisioner = Provisioner(deps, owner="drain")
    runs = operations = 0
    for _ in range(max_rounds):
        ran = worker.drain()
        applied = provisioner.drain()
        runs += ran
        operations += applied
        if not ran and not applied:
            break
    return runs, operations


def start_background(deps: Deps, stop: threading.Event) -> list[threading.Thread]:
    """Start a run worker and a provisioning worker as daemon threads (``serve``)."""
    from xavyo_connectors_core.provisioning import Provisioner

    threads = [
        threading.Thread(
            target=Worker(deps).run_forever, args=(stop,), name="xavyo-runs", daemon=True
        ),
        threading.Thread(
            target=Provisioner(deps).run_forever, args=(stop,), name="xavyo-queue", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    return threads
