"""Deletion safety (SPEC §3.10): stop a run before it deletes or disables en masse."""

from __future__ import annotations

import math
from decimal import Decimal

from xavyo_connectors_core.model import Connector


def deletion_limit(connector: Connector, shadow_count: int) -> int:
    """How many accounts one run may act on as deleted: the stricter of both caps."""
    # decimal arithmetic on the ratio as written: 0.29 * 100 is 29, not 28.999999999999996
    limit = math.floor(Decimal(repr(connector.max_deletion_ratio)) * shadow_count)
    if connector.max_deletions is not None:
        limit = min(limit, connector.max_deletions)
    return limit


def deletion_refusal(
    connector: Connector,
    *,
    deleting: int,
    shadow_count: int,
    scanned: int | None,
    allowed: bool,
) -> str | None:
    """The reason to refuse, or None when the run may go ahead.

    ``scanned`` is the number of accounts a full scan returned (None for a change stream);
    a scan that returns nothing for a connector with shadows always trips the guard.
    """
    if allowed or deleting == 0:
        return None
    if scanned == 0 and shadow_count > 0:
        return (
            f"deletion threshold: the scan returned no accounts but {shadow_count} are known "
            "(empty-source guard); start the run with allow_mass_deletion to proceed"
        )
    limit = deletion_limit(connector, shadow_count)
    if deleting > limit:
        return (
            f"deletion threshold: {deleting} of {shadow_count} accounts would be deleted "
            f"(limit {limit}); start the run with allow_mass_deletion to proceed"
        )
    return None
