"""Alerts as events: reported when a condition starts to hold, stored, counted, logged,
and POSTed as JSON to an optional webhook by a background task that never blocks the loop."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence

import aiohttp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot.logs import kv
from bot.operator.metrics import Metrics
from state.store import Store
from strategies.alerts import Condition

log = logging.getLogger("derivbot.alerts")


class WebhookError(Exception):
    """A 5xx or a transport failure: worth another try."""


class Webhook:
    def __init__(self, url: str, metrics: Metrics, retries: int = 4, timeout: float = 5.0,
                 backoff: float = 0.5, queue_size: int = 1000) -> None:
        self.url, self.metrics = url, metrics
        self.retries, self.timeout, self.backoff = retries, timeout, backoff
        self.queue: asyncio.Queue[dict] = asyncio.Queue(queue_size)
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, payload: dict) -> None:
        """Queue a payload; when the queue is full the oldest waiting one is dropped."""
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()
            self.metrics.alert_deliveries.labels("dropped").inc()
        self.queue.put_nowait(payload)

    async def _run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            while True:
                payload = await self.queue.get()
                try:
                    await self._deliver(payload)
                    self.metrics.alert_deliveries.labels("delivered").inc()
                except Exception as err:  # noqa: BLE001 - a lost alert must not stop the bot
                    self.metrics.alert_deliveries.labels("failed").inc()
                    log.warning(
                        "webhook_failed", extra=kv(kind=payload.get("kind"), error=repr(err))
                    )
                finally:
                    self.queue.task_done()
        finally:
            await self._session.close()

    async def _deliver(self, payload: dict) -> None:
        async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.retries),
                wait=wait_exponential_jitter(multiplier=self.backoff, max=10 * self.backoff,
                                             jitter=self.backoff),
                retry=retry_if_exception_type((WebhookError, aiohttp.ClientError,
                                               asyncio.TimeoutError)),
                reraise=True):
            with attempt:
                async with self._session.post(self.url, json=payload) as resp:
                    if resp.status >= 500:
                        raise WebhookError(f"{self.url} answered {resp.status}")
                    if resp.status >= 400:  # the receiver refuses it: no point retrying
                        raise ValueError(f"{self.url} refused the alert: {resp.status}")

    async def close(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.queue.join(), timeout)
        except TimeoutError:
            log.warning("webhook_undelivered", extra=kv(count=self.queue.qsize()))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None


class AlertBook:
    """Reports a condition once when it starts to hold, again only after it stopped."""

    def __init__(self, store: Store, metrics: Metrics, webhook: Webhook | None = None,
                 quiet_ms: int = 3_600_000) -> None:
        self.store, self.metrics, self.webhook = store, metrics, webhook
        self.active: dict[str, set[str]] = {}
        # the log says an alert of a kind once an hour (market time); the rest are counted
        # and told as one line when the hour ends (every alert is still stored and sent)
        self.quiet_ms = quiet_ms
        self._said: dict[tuple[str, str], list[int]] = {}  # (symbol, kind) -> [since, more]

    def update(self, now: int, symbol: str, found: Sequence[Condition]) -> list[Condition]:
        before = self.active.get(symbol, set())
        new = [c for c in found if c.key not in before]
        self.active[symbol] = {c.key for c in found}
        for c in new:
            self.store.add_alert(now, symbol, c.kind, c.message, c.details)
            self.metrics.alerts.labels(symbol, c.kind).inc()
            self._log(now, symbol, c)
            if self.webhook is not None:
                self.webhook.send({"ts": now, "symbol": symbol, "kind": c.kind,
                                   "message": c.message,
                                   "details": json.loads(json.dumps(c.details, default=str))})
        return new

    def _log(self, now: int, symbol: str, c: Condition) -> None:
        said = self._said.get((symbol, c.kind))
        if said is not None and now - said[0] < self.quiet_ms:
            said[1] += 1
            return
        if said is not None and said[1]:
            log.info("alert_repeats", extra=kv(symbol=symbol, kind=c.kind,
                                               text=f"…and {said[1]} more in the last hour"))
        self._said[(symbol, c.kind)] = [now, 0]
        log.info("alert", extra=kv(symbol=symbol, kind=c.kind, text=c.message))
