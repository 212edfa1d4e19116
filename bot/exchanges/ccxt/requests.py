"""How one request reaches an exchange through ccxt: room under the account's published
caps first (asyncio-throttle's sliding windows: orders per window, request weight per
minute), errors mapped into ccxt's tree by the exchange's own code, and only the
NetworkError family retried — by tenacity, exponential backoff with jitter.

A window counts a request when it takes its room. So that this is also when the exchange
sees it, at most IN_FLIGHT requests are under way at once and a request takes its room
only once it has a slot: a burst queues here, not on the wire, where requests counted in
one window could otherwise reach the exchange in the next (the published limits keep 5 %
of room for the few in flight)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import aiohttp
import ccxt.async_support as ccxt
from asyncio_throttle import Throttler
from ccxt.base.errors import BaseError, NetworkError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity import wait_exponential_jitter as backoff

from bot.exchanges.ccxt.profiles import Profile

# what a venue that cannot be read raises: ccxt's errors, and aiohttp's and the socket's
# beneath a stream
UNREACHABLE = (BaseError, aiohttp.ClientError, OSError, TimeoutError)
CODE = re.compile(r'"(?:code|retCode)"\s*:\s*"?(-?\d+)')  # Binance's, Bybit's
IN_FLIGHT = 8


class Cap:
    """One published limit — `limit` units per `period` seconds — as asyncio-throttle's
    sliding window; a request of weight w takes w units."""

    def __init__(self, name: str, limit: int, period: float) -> None:
        self.name, self.period = name, period
        self.window = Throttler(limit, period)
        self.waited = 0.0  # seconds spent waiting for room, not yet exported

    async def take(self, units: int = 1) -> None:
        started = time.monotonic()
        for _ in range(min(units, self.window.rate_limit)):
            await self.window.acquire()
        self.waited += time.monotonic() - started


class Requests:
    def __init__(self, profile: Profile, attempts: int, base_wait: float, metrics=None,
                 capped: bool = True) -> None:
        self.profile, self.attempts, self.base_wait = profile, attempts, base_wait
        self.metrics = metrics
        self.capped = capped  # off only against a local exchange without limits
        self.orders = [Cap(f"orders_{int(p)}s", max(int(n * profile.safety), 1), p)
                       for n, p in profile.order_limits]
        weight, period = profile.weight_limit
        self.weight = Cap("weight", max(int(weight * profile.safety), 1), period)
        self.slots = asyncio.Semaphore(IN_FLIGHT)
        self.retries = 0

    def retrying(self, endpoint: str) -> AsyncRetrying:
        """tenacity's loop for the tries after a first one failed: the NetworkError family
        only, each after its backoff with jitter, counted (and exported)."""
        wait = backoff(multiplier=self.base_wait, max=10 * self.base_wait, jitter=self.base_wait)

        async def pause(state: RetryCallState) -> None:
            self.retries += 1
            if self.metrics is not None:
                self.metrics.retries.labels(endpoint).inc()
            await asyncio.sleep(wait(state))

        return AsyncRetrying(stop=stop_after_attempt(self.attempts - 1), before=pause,
                             retry=retry_if_exception_type(NetworkError), reraise=True)

    async def tries(self, endpoint: str, attempt: Callable[[int], Awaitable]):
        """`attempt(1)`; on a NetworkError, `attempt(2)`... through tenacity. A first try
        that succeeds — nearly every call — never builds tenacity's loop (0.1 ms a call)."""
        try:
            return await attempt(1)
        except NetworkError:
            if self.attempts < 2:
                raise
        async for state in self.retrying(endpoint):
            with state:
                return await attempt(state.retry_state.attempt_number + 1)
        raise AssertionError("unreachable")

    async def call(self, endpoint: str, fn: Callable[..., Awaitable], *args, order: bool = False,
                   retry: bool = True, **kw):
        """Call ccxt; map errors; retry only network errors (timeouts, 5xx, 429)."""
        if not retry:  # the order path retries around its lookup instead (the gateway's)
            return await self.once(endpoint, fn, args, kw, order)
        return await self.tries(endpoint, lambda _n: self.once(endpoint, fn, args, kw, order))

    async def once(self, endpoint: str, fn: Callable[..., Awaitable], args: tuple, kw: dict,
                   order: bool):
        """One request: room under the caps first, errors mapped, latency observed."""
        started = time.perf_counter()
        try:
            if not self.capped:
                return await fn(*args, **kw)
            async with self.slots:
                for cap in self.orders if order else ():
                    await cap.take()
                await self.weight.take(self.profile.weights.get(endpoint, 1))
                return await fn(*args, **kw)
        except Exception as err:  # noqa: BLE001 - mapped to ccxt's tree, re-raised
            raise self.map(err) from None
        finally:
            if self.metrics is not None:
                self.metrics.request_latency.labels(endpoint).observe(
                    time.perf_counter() - started)
                self._export_waits()

    def map(self, err: Exception) -> Exception:
        """ccxt's class by the exchange's own code (ccxt's URL tables miss a local exchange)."""
        m = CODE.search(str(err)) if isinstance(err, ccxt.BaseError) else None
        cls = self.profile.errors.get(int(m.group(1))) if m else None
        return cls(str(err)) if cls is not None and not isinstance(err, cls) else err

    def _export_waits(self) -> None:
        for cap in [self.weight, *self.orders]:
            if cap.waited:
                self.metrics.rate_limit_wait.labels(cap.name).inc(cap.waited)
                cap.waited = 0.0
