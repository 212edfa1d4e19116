"""A gateway that misbehaves on cue, for fault-injection tests: timeouts before and after
the exchange acted, rate limits, 5xx, rejects and disconnects, around any real gateway."""

from __future__ import annotations

from collections import deque

from ccxt.base.errors import (
    ExchangeNotAvailable,
    InsufficientFunds,
    InvalidOrder,
    NetworkError,
    RateLimitExceeded,
    RequestTimeout,
)

FAULTS = {
    "timeout": RequestTimeout, "rate_limit": RateLimitExceeded, "5xx": ExchangeNotAvailable,
    "reject": InvalidOrder, "no_funds": InsufficientFunds, "disconnect": NetworkError,
}


class FaultyGateway:
    """Wraps a gateway; `script(method, kind)` queues a fault for that method's next call.

    kind is "<fault>" (raised before the call reaches the exchange) or "<fault>_after"
    (the exchange acts, then the answer is lost as that fault). With `match`, only calls
    whose client id contains it draw from that queue (e.g. "-spot-": the spot leg only).
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = f"faulty-{inner.name}"
        self.faults: dict[tuple[str, str], deque[str]] = {}
        self.calls: list[tuple[str, str]] = []  # (method, client id or "") in order

    def script(self, method: str, *kinds: str, match: str = "") -> None:
        self.faults.setdefault((method, match), deque()).extend(kinds)

    async def _do(self, method: str, *args, tag: str = ""):
        self.calls.append((method, tag))
        queue = next((q for (m, match), q in self.faults.items()
                      if m == method and q and match in tag), None)
        kind = queue.popleft() if queue else None
        if kind is None:
            return await getattr(self.inner, method)(*args)
        after = kind.endswith("_after")
        err = FAULTS[kind.removesuffix("_after")](f"injected {kind} on {method}")
        if after:
            await getattr(self.inner, method)(*args)
        raise err

    async def create_order(self, req):
        return await self._do("create_order", req, tag=req.client_id)

    async def cancel_order(self, symbol, client_id):
        return await self._do("cancel_order", symbol, client_id, tag=client_id)

    async def fetch_order(self, symbol, client_id):
        return await self._do("fetch_order", symbol, client_id, tag=client_id)

    async def fetch_open_orders(self, symbol=None):
        return await self._do("fetch_open_orders", symbol)

    async def fetch_positions(self):
        return await self._do("fetch_positions")

    async def fetch_balance(self):
        return await self._do("fetch_balance")

    async def poll_events(self):
        return await self._do("poll_events")

    async def load_markets(self):
        return await self._do("load_markets")

    async def set_leverage(self, symbol, leverage):
        return await self._do("set_leverage", symbol, leverage)

    async def transfer(self, asset, amount, to_spot):
        return await self._do("transfer", asset, amount, to_spot)

    async def close(self):
        return await self.inner.close()
