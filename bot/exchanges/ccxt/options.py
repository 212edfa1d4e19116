"""The options chain from Deribit's public API through ccxt (no keys): open interest and
volume by strike of the front expiry — the nearest at least a day away, where positioning
concentrates — for `options_positioning` (put/call ratio, max pain)."""

from __future__ import annotations

import ccxt.async_support as ccxt

from bot.markets import split_symbol
from strategies.types import OptionQuote, OptionsChain

DAY_MS = 86_400_000


class OptionsFeed:
    """Deribit's chain per perp (by its base coin), asked for at most every `every_s`."""

    def __init__(self, perps: tuple[str, ...], local_url: str = "", every_s: float = 300.0
                 ) -> None:
        self.ex = ccxt.deribit({"enableRateLimit": True,
                                "options": {"fetchCurrencies": False}})
        if local_url:
            self.ex.urls["api"] = {"rest": local_url}
        self.bases = {p: split_symbol(p)[0] for p in perps}
        self.every_ms = int(every_s * 1000)
        self.asked_at: int | None = None
        self.loaded = False

    def due(self, now: int) -> bool:
        return self.asked_at is None or now - self.asked_at >= self.every_ms

    async def poll(self, now: int) -> dict[str, OptionsChain]:
        """Each perp's front-expiry chain (a perp whose coin has no options is left out)."""
        if not self.loaded:
            await self.ex.load_markets()
            self.loaded = True
        out = {}
        coins = {b for b in self.bases.values() if b in (self.ex.currencies or {})}
        chains = {coin: await self.ex.fetch_option_chain(coin) for coin in sorted(coins)}
        for perp, coin in self.bases.items():
            chain = front(self.ex, chains.get(coin, {}), now)
            if chain is not None:
                out[perp] = chain
        self.asked_at = now
        return out

    async def close(self) -> None:
        await self.ex.close()


def front(ex, chain: dict, now: int) -> OptionsChain | None:
    """The nearest expiry at least a day after `now`, as one OptionsChain."""
    by_expiry: dict[int, list[OptionQuote]] = {}
    for symbol, row in chain.items():
        market = ex.markets.get(symbol)
        if market is None or not market.get("option") or market.get("expiry") is None:
            continue
        if market["expiry"] < now + DAY_MS:
            continue
        by_expiry.setdefault(int(market["expiry"]), []).append(OptionQuote(
            float(market["strike"]), str(market["optionType"]),
            float(row.get("openInterest") or 0.0), float(row.get("baseVolume") or 0.0)))
    if not by_expiry:
        return None
    expiry = min(by_expiry)
    return OptionsChain(expiry, tuple(sorted(by_expiry[expiry],
                                             key=lambda q: (q.strike, q.kind))))
