"""The drill's clock: Dutch working days, each worked at a few fixed hours."""

from __future__ import annotations

from datetime import date, datetime, time

from ..engine.deadlines import AMSTERDAM


class FakeClock:
    """The time the connector's parts see (``Pipeline(clock=...)``); the drill moves it."""

    def __init__(self, start: date) -> None:
        self._now = datetime.combine(start, time(8, 0), tzinfo=AMSTERDAM)

    def __call__(self) -> datetime:
        return self._now

    def set(self, day: date, at: time) -> None:
        """Move to ``at`` on ``day`` (never back: the connector's retry times rely on it)."""
        moved = datetime.combine(day, at, tzinfo=AMSTERDAM)
        if moved > self._now:
            self._now = moved

    @property
    def today(self) -> date:
        return self._now.date()
