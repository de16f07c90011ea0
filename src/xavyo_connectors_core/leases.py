"""Leases on runs: a worker owns a run while its lease is fresh (SPEC §3.9)."""

from __future__ import annotations

from datetime import timedelta

import attrs
from attrs import frozen

from xavyo_connectors_core.errors import XavyoError
from xavyo_connectors_core.model import Run
from xavyo_connectors_core.ports import Clock, UnitOfWork


class LeaseLost(XavyoError):
    """Another worker took the run over (our lease expired); stop without writing."""

    title = "lease lost"


@frozen
class Lease:
    """The worker's claim on a run: who holds it and for how long each renewal lasts."""

    owner: str
    seconds: float
    clock: Clock

    def save(self, uow: UnitOfWork, run: Run) -> Run:
        """Write ``run`` (progress, checkpoint, counts) in ``uow`` and renew the lease.

        Raises ``LeaseLost`` when the stored run is no longer ours; the caller's unit of
        work then rolls back, so a batch is committed only by the lease holder.
        """
        stored = uow.runs.get(run.tenant_id, run.id)
        if stored.lease_owner != self.owner:
            raise LeaseLost(f"run {run.id} is now held by another worker")
        renewed = attrs.evolve(
            run,
            lease_owner=self.owner,
            lease_expires_at=self.clock.now() + timedelta(seconds=self.seconds),
            cancel_requested=stored.cancel_requested or run.cancel_requested,
        )
        uow.runs.update(renewed)
        return renewed
