"""Injected clocks: replay (instant), paced (faster than real time) and wall time; and
how a time is written for a person."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


def when(ms: int | None) -> str:
    """A time as a person reads it, to the minute, in UTC ("" for none)."""
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime(
        "%Y-%m-%d %H:%M UTC")


class ReplayClock:
    """Time is whatever the data says; sleeping costs nothing."""

    def __init__(self, start: int = 0) -> None:
        self.t = start

    def now(self) -> int:
        return self.t

    async def sleep_until(self, ts: int) -> None:
        self.t = max(self.t, ts)


class PacedClock(ReplayClock):
    """Market time runs `scale` times faster than the wall."""

    def __init__(self, scale: float, start: int = 0) -> None:
        super().__init__(start)
        self.scale = scale
        self.paced = True
        self._anchor: tuple[float, int] | None = None

    def pace(self, on: bool) -> None:
        """Pause pacing (e.g. while warming up) or resume it from the current instant."""
        self.paced, self._anchor = on, None

    async def sleep_until(self, ts: int) -> None:
        if not self.paced:
            self.t = max(self.t, ts)
            return
        if self._anchor is None:
            self._anchor = (time.monotonic(), ts)
        wall0, market0 = self._anchor
        delay = wall0 + (ts - market0) / 1000 / self.scale - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)
        self.t = max(self.t, ts)


class WallClock:
    def now(self) -> int:
        return int(time.time() * 1000)

    async def sleep_until(self, ts: int) -> None:
        delay = ts / 1000 - time.time()
        if delay > 0:
            await asyncio.sleep(delay)


class VenueClock(WallClock):
    """The market's time as its venues state it: the wall clock plus the offset last learnt
    from a venue's server time (live, a few ms; a local venue in a test, its market time).
    It never runs backwards."""

    def __init__(self) -> None:
        self.offset = 0
        self._last = 0

    def learn(self, venue_ms: int) -> None:
        self.offset = venue_ms - int(time.time() * 1000)

    def now(self) -> int:
        self._last = max(self._last, int(time.time() * 1000) + self.offset)
        return self._last

    async def sleep_until(self, ts: int) -> None:
        delay = (ts - self.now()) / 1000
        if delay > 0:
            await asyncio.sleep(delay)
