"""The SPEC §7 reconciliation delta, shared by the benchmark and the crash test.

Of N linked accounts, 1 % are gone (their shadows become ``deleted``, their identities
``missing``), 5 % have a changed attribute (``mismatched``), and N / 100 new accounts
correlate to no identity (``unmatched``).
"""

from __future__ import annotations


def gone(i: int) -> bool:
    """1 %: the account of identity ``i`` no longer exists."""
    return i % 100 == 0


def changed(i: int) -> bool:
    """5 %: the account of identity ``i`` has a different attribute."""
    return 1 <= i % 100 <= 5


def expected_counts(n: int) -> dict[str, int]:
    """The situations a report run over the drifted system must count."""
    n_gone = sum(1 for i in range(n) if gone(i))
    n_changed = sum(1 for i in range(n) if changed(i))
    return {
        "linked": n - n_gone - n_changed,
        "mismatched": n_changed,
        "unmatched": n // 100,
        "deleted": n_gone,
        "missing": n_gone,
    }
