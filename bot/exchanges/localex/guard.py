"""What stands in front of the local exchange's engine: API keys and HMAC signatures,
Binance's rate limits, and scripted or random faults."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass(frozen=True)
class Limits:
    """Binance USD-M's published limits (per account / IP)."""

    weight_per_minute: int = 2400
    orders_per_10s: int = 300
    orders_per_minute: int = 1200
    ban_after: int = 5  # 429s within a minute before a 418 ban
    ban_seconds: float = 2.0


WEIGHTS = {"userTrades": 5, "income": 30, "account": 5, "positionRisk": 5, "exchangeInfo": 1,
           "klines": 5, "openOrders": 1, "openAlgoOrders": 1, "fundingRate": 1}
ORDER_PATHS = {"/fapi/v1/order", "/fapi/v1/algoOrder", "/api/v3/order"}


def binance_error(status: int, code: int, msg: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


class Window:
    """Events in a sliding window of `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.events: deque[tuple[float, int]] = deque()
        self.total = 0

    def add(self, now: float, n: int = 1) -> int:
        while self.events and self.events[0][0] <= now - self.seconds:
            self.total -= self.events.popleft()[1]
        self.events.append((now, n))
        self.total += n
        return self.total


@dataclass
class RateGuard:
    limits: Limits = field(default_factory=Limits)
    weight: Window = field(default_factory=lambda: Window(60))
    orders_10s: Window = field(default_factory=lambda: Window(10))
    orders_min: Window = field(default_factory=lambda: Window(60))
    violations: Window = field(default_factory=lambda: Window(60))
    banned_until: float = 0.0
    counts: dict = field(default_factory=lambda: {"429": 0, "418": 0})

    def check(self, path: str, method: str) -> web.Response | None:
        now = time.monotonic()
        if now < self.banned_until:
            self.counts["418"] += 1
            return binance_error(418, -1003, "Way too many requests; IP banned until "
                                 f"{int((time.time() + self.banned_until - now) * 1000)}.")
        name = path.rsplit("/", 1)[-1]
        over = self.weight.add(now, WEIGHTS.get(name, 1)) > self.limits.weight_per_minute
        if method in ("POST",) and path in ORDER_PATHS:
            over |= self.orders_10s.add(now) > self.limits.orders_per_10s
            over |= self.orders_min.add(now) > self.limits.orders_per_minute
        if not over:
            return None
        self.counts["429"] += 1
        if self.violations.add(now) > self.limits.ban_after:
            self.banned_until = now + self.limits.ban_seconds
        return binance_error(429, -1003, "Too many requests; current limit is "
                             f"{self.limits.orders_per_10s} orders per 10 SECOND.",
                             {"Retry-After": "1"})


def verify(request: web.Request, body: str, api_key: str, secret: str,
           recv_window_ms: int = 5000) -> web.Response | None:
    """Binance's signed-endpoint rules: key header, HMAC-SHA256 of the parameters, timestamp."""
    if request.headers.get("X-MBX-APIKEY") != api_key:
        return binance_error(401, -2015, "Invalid API-key, IP, or permissions for action.")
    query = request.query_string
    total = f"{query}{body}" if query and body else (query or body)
    payload, sep, signature = total.rpartition("&signature=")
    if not sep:
        payload, sep, signature = total.rpartition("signature=")
    if not sep:
        return binance_error(400, -1102, "Mandatory parameter 'signature' was not sent, was "
                                         "empty/null, or malformed.")
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(digest, signature):
        return binance_error(400, -1022, "Signature for this request is not valid.")
    params = dict(parse_qsl(payload))
    try:
        stamp = int(params["timestamp"])
    except (KeyError, ValueError):
        return binance_error(400, -1102, "Mandatory parameter 'timestamp' was not sent.")
    try:
        window = int(params.get("recvWindow", recv_window_ms))
    except ValueError:
        return binance_error(400, -1102, "Mandatory parameter 'recvWindow' was not sent, was "
                                         "empty/null, or malformed.")
    if not 0 < window <= MAX_RECV_WINDOW_MS:  # Binance caps it at a minute
        return binance_error(400, -1131, f"recvWindow must be less than "
                                         f"{MAX_RECV_WINDOW_MS}.")
    now = int(time.time() * 1000)
    if stamp > now + 1000 or now - stamp > window:
        return binance_error(400, -1021, "Timestamp for this request is outside of the "
                                         "recvWindow.")
    return None


MAX_RECV_WINDOW_MS = 60_000


@dataclass
class Faults:
    """Random faults by probability, plus a script of faults for the next matching requests.

    Kinds: "latency" (sleep), "5xx" (503 before the engine sees it), "429", "drop_before"
    (connection closed, nothing done), "drop_after" (the engine acts, the answer is lost).
    """

    latency_s: float = 0.0
    p_5xx: float = 0.0
    p_429: float = 0.0
    p_drop: float = 0.0
    seed: int = 7
    script: list[tuple[str, str]] = field(default_factory=list)  # ("POST /path" suffix, kind)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def next_for(self, request_key: str) -> str | None:
        """The fault for a request "METHOD /path": the first scripted match, else by chance."""
        for i, (suffix, kind) in enumerate(self.script):
            if request_key.endswith(suffix):
                del self.script[i]
                return kind
        r = self.rng.random()
        if r < self.p_5xx:
            return "5xx"
        if r < self.p_5xx + self.p_429:
            return "429"
        if r < self.p_5xx + self.p_429 + self.p_drop:
            return "drop_after"
        return None

    async def delay(self) -> None:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
