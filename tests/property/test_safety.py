"""Deletion safety (SPEC §3.10): a run that would delete en masse applies none of it."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from fractions import Fraction
from uuid import UUID

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from xavyo_connectors_core.model import Connector, Role
from xavyo_connectors_core.safety import deletion_limit, deletion_refusal

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def connector(*, max_deletions: int | None = None, ratio: float = 0.2) -> Connector:
    return Connector(
        id=UUID(int=1),
        tenant_id=UUID(int=2),
        name="hr",
        type="csv",
        role=Role.SOURCE,
        config={},
        created_at=NOW,
        updated_at=NOW,
        max_deletions=max_deletions,
        max_deletion_ratio=ratio,
    )


# Ratios as a person writes them in a document: decimals of up to three places in [0, 1].
decimal_ratios = st.integers(min_value=0, max_value=1000).map(lambda k: k / 1000)
connectors = st.builds(
    connector,
    max_deletions=st.none() | st.integers(min_value=0, max_value=2000),
    ratio=st.one_of(decimal_ratios, st.floats(min_value=0.0, max_value=1.0)),
)
counts = st.integers(min_value=0, max_value=100_000)
scans = st.none() | counts


def exact(ratio: float) -> Fraction:
    """The ratio the document spelt (the shortest decimal that reads back as the float)."""
    return Fraction(repr(ratio))


class TestDeletionLimit:
    @given(connectors, counts)
    def test_the_limit_is_never_negative(self, conn: Connector, shadows: int) -> None:
        """However it is configured, a run may delete zero or more accounts."""
        assert deletion_limit(conn, shadows) >= 0

    @given(connectors, counts)
    def test_the_limit_respects_max_deletions(self, conn: Connector, shadows: int) -> None:
        """The limit never exceeds the absolute cap."""
        if conn.max_deletions is not None:
            assert deletion_limit(conn, shadows) <= conn.max_deletions

    @given(connectors, counts)
    def test_the_limit_respects_the_ratio(self, conn: Connector, shadows: int) -> None:
        """The limit never exceeds max_deletion_ratio of the shadows."""
        assert deletion_limit(conn, shadows) <= conn.max_deletion_ratio * shadows

    @given(
        st.builds(connector, max_deletions=st.none(), ratio=decimal_ratios),
        counts,
    )
    def test_the_limit_never_exceeds_the_written_ratio(self, conn: Connector, shadows: int) -> None:
        """Against the decimal the document spelt, float rounding never lets more through."""
        assert deletion_limit(conn, shadows) <= exact(conn.max_deletion_ratio) * shadows

    @given(connectors, counts)
    def test_the_limit_is_the_stricter_cap(self, conn: Connector, shadows: int) -> None:
        """With both caps, the smaller one decides."""
        by_ratio = deletion_limit(connector(ratio=conn.max_deletion_ratio), shadows)
        if conn.max_deletions is None:
            assert deletion_limit(conn, shadows) == by_ratio
        else:
            assert deletion_limit(conn, shadows) == min(by_ratio, conn.max_deletions)

    @given(connectors, counts)
    def test_the_limit_grows_with_the_shadows(self, conn: Connector, shadows: int) -> None:
        """More known accounts never lower the limit."""
        assert deletion_limit(conn, shadows + 1) >= deletion_limit(conn, shadows)

    def test_the_default_is_a_fifth_of_the_shadows(self) -> None:
        """Default ratio 0.2: 20 of 100 may go, and 2 of 14."""
        assert deletion_limit(connector(), 100) == 20
        assert deletion_limit(connector(), 14) == 2

    @pytest.mark.parametrize(("ratio", "shadows", "limit"), [(0.29, 100, 29), (0.57, 100, 57)])
    def test_the_limit_is_the_written_ratio_of_the_shadows(
        self, ratio: float, shadows: int, limit: int
    ) -> None:
        """The limit is floor(ratio x shadows) for the ratio the document spelt."""
        assert math.floor(exact(ratio) * shadows) == limit
        assert deletion_limit(connector(ratio=ratio), shadows) == limit


class TestDeletionRefusal:
    @given(connectors, counts, counts, scans)
    def test_never_refuses_when_allowed(
        self, conn: Connector, deleting: int, shadows: int, scanned: int | None
    ) -> None:
        """``allow_mass_deletion`` lets every run through."""
        refusal = deletion_refusal(
            conn, deleting=deleting, shadow_count=shadows, scanned=scanned, allowed=True
        )
        assert refusal is None

    @given(connectors, counts, scans)
    def test_never_refuses_zero_deletions(
        self, conn: Connector, shadows: int, scanned: int | None
    ) -> None:
        """A run that deletes nothing is never stopped."""
        refusal = deletion_refusal(
            conn, deleting=0, shadow_count=shadows, scanned=scanned, allowed=False
        )
        assert refusal is None

    @given(connectors, st.integers(min_value=1, max_value=100_000), st.data())
    def test_an_empty_scan_with_shadows_always_trips(
        self, conn: Connector, shadows: int, data: st.DataObject
    ) -> None:
        """The empty-source guard: no accounts scanned but some known refuses any deletion."""
        deleting = data.draw(st.integers(min_value=1, max_value=shadows))
        refusal = deletion_refusal(
            conn, deleting=deleting, shadow_count=shadows, scanned=0, allowed=False
        )
        assert refusal is not None
        assert refusal.startswith("deletion threshold")
        assert "empty-source guard" in refusal

    @given(connectors, st.integers(min_value=1, max_value=100_000), counts, scans)
    def test_refusal_is_monotonic(
        self, conn: Connector, deleting: int, shadows: int, scanned: int | None
    ) -> None:
        """If n deletions are refused, so are n + 1."""

        def refused(n: int) -> bool:
            return (
                deletion_refusal(
                    conn, deleting=n, shadow_count=shadows, scanned=scanned, allowed=False
                )
                is not None
            )

        if refused(deleting):
            assert refused(deleting + 1)

    @given(connectors, st.integers(min_value=1, max_value=100_000), counts, scans)
    def test_refuses_exactly_above_the_limit(
        self, conn: Connector, deleting: int, shadows: int, scanned: int | None
    ) -> None:
        """Outside the empty-source guard, a run is refused iff it deletes more than the limit."""
        assume(not (scanned == 0 and shadows > 0))
        refusal = deletion_refusal(
            conn, deleting=deleting, shadow_count=shadows, scanned=scanned, allowed=False
        )
        assert (refusal is not None) == (deleting > deletion_limit(conn, shadows))

    @given(connectors, st.integers(min_value=1, max_value=100_000), counts, scans)
    def test_a_refusal_names_its_reason(
        self, conn: Connector, deleting: int, shadows: int, scanned: int | None
    ) -> None:
        """Every refusal is the ``deletion threshold`` reason and says how to proceed."""
        refusal = deletion_refusal(
            conn, deleting=deleting, shadow_count=shadows, scanned=scanned, allowed=False
        )
        if refusal is not None:
            assert refusal.startswith("deletion threshold")
            assert "allow_mass_deletion" in refusal

    def test_at_the_limit_goes_ahead_one_more_is_refused(self) -> None:
        """Default ratio, 100 shadows: 20 deletions go ahead, 21 are refused."""
        conn = connector()
        go = deletion_refusal(conn, deleting=20, shadow_count=100, scanned=80, allowed=False)
        stop = deletion_refusal(conn, deleting=21, shadow_count=100, scanned=79, allowed=False)
        assert go is None
        assert stop == (
            "deletion threshold: 21 of 100 accounts would be deleted (limit 20); "
            "start the run with allow_mass_deletion to proceed"
        )

    def test_max_deletions_zero_refuses_any_deletion(self) -> None:
        """``max_deletions: 0`` stops a run that would delete even one account."""
        conn = connector(max_deletions=0, ratio=1.0)
        refusal = deletion_refusal(conn, deleting=1, shadow_count=10, scanned=9, allowed=False)
        assert refusal is not None

    def test_a_change_stream_has_no_empty_source_guard(self) -> None:
        """``scanned=None`` (incremental) is judged by the limit alone."""
        conn = connector(ratio=1.0)
        refusal = deletion_refusal(conn, deleting=10, shadow_count=10, scanned=None, allowed=False)
        assert refusal is None
