"""Per-account request caps on top of asyncio-throttle."""

from __future__ import annotations

import asyncio
import time

from asyncio_throttle import Throttler


class CompletionThrottler(Throttler):
    """asyncio-throttle's window, stamped when a request completes and counting those in
    flight: the exchange receives a request between its start and its end, so no window of
    the exchange's can hold more than the limit, however long requests queue on the way.
    `acquire(n)` / `release(n)` take and give back n units (a request's weight)."""

    def __init__(self, rate_limit: int, period: float, retry_interval: float = 0.01) -> None:
        super().__init__(rate_limit, period, retry_interval)
        self.in_flight = 0
        self.waited = 0.0  # seconds spent waiting for room

    async def acquire(self, n: int = 1) -> None:
        n = min(n, self.rate_limit)
        started = time.monotonic()
        while True:
            self.flush()
            if len(self._task_logs) + self.in_flight + n <= self.rate_limit:
                break
            await asyncio.sleep(self.retry_interval)
        self.in_flight += n
        self.waited += time.monotonic() - started

    def release(self, n: int = 1) -> None:
        n = min(n, self.rate_limit)
        self.in_flight -= n
        self._task_logs.extend([time.monotonic()] * n)

    async def __aexit__(self, exc_type, exc, tb) -> None:
        self.release()
