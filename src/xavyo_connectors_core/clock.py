"""Clocks: the system clock, and a settable one for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from attrs import define


class SystemClock:
    """The real time, aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@define
class FixedClock:
    """A clock that only moves when told to (tests)."""

    current: datetime

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current = self.current + timedelta(seconds=seconds)
