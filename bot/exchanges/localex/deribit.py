"""Deribit's public options data on loopback (JSON-RPC over HTTP, `/api/v2/public/...`), so
ccxt's deribit class reads an options chain from it: instruments, and open interest and
volume by instrument. The chain is given (a test's, or a demo's); market time moves by
POST /sim/advance and an expired instrument leaves the list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from bot.exchanges.localex.venues import MarketTime, plain


@dataclass(frozen=True)
class Listed:
    currency: str  # BTC
    expiry: int  # ms, 08:00 UTC
    strike: float
    kind: str  # "call" | "put"
    open_interest: float  # contracts (one coin each)
    volume: float = 0.0


def instrument_name(x: Listed) -> str:
    day = datetime.fromtimestamp(x.expiry / 1000, UTC).strftime("%d%b%y").upper().lstrip("0")
    return f"{x.currency}-{day}-{plain(x.strike)}-{'C' if x.kind == 'call' else 'P'}"


class DeribitVenue(MarketTime):
    def __init__(self, chain: list[Listed], now: int = 0) -> None:
        self.chain, self.now = chain, now

    def _live(self, currency: str | None) -> list[Listed]:
        return [x for x in self.chain if x.expiry > self.now
                and currency in (None, "any", x.currency)]

    def answer(self, result) -> web.Response:
        us = self.now * 1000
        return web.json_response({"jsonrpc": "2.0", "result": result, "usIn": us,
                                  "usOut": us + 150, "usDiff": 150, "testnet": False})

    async def time(self, _request: web.Request) -> web.Response:
        return self.answer(self.now)

    async def instruments(self, request: web.Request) -> web.Response:
        kind = request.query.get("kind", "option")
        rows = [] if kind not in ("option", "") else [{
            "instrument_name": instrument_name(x), "kind": "option",
            "base_currency": x.currency, "counter_currency": "USD",
            "settlement_currency": x.currency, "quote_currency": x.currency,
            "expiration_timestamp": x.expiry, "strike": x.strike, "option_type": x.kind,
            "is_active": True, "tick_size": 0.0001, "min_trade_amount": 0.1,
            "contract_size": 1.0, "settlement_period": "month",
            "creation_timestamp": x.expiry - 90 * 86_400_000, "taker_commission": 0.0003,
            "maker_commission": 0.0003, "instrument_id": i + 1,
            "price_index": f"{x.currency.lower()}_usd", "rfq": False}
            for i, x in enumerate(self._live(request.query.get("currency")))]
        return self.answer(rows)

    async def book_summary(self, request: web.Request) -> web.Response:
        if request.query.get("kind", "option") != "option":
            return self.answer([])
        return self.answer([{
            "instrument_name": instrument_name(x), "base_currency": x.currency,
            "quote_currency": x.currency, "open_interest": x.open_interest,
            "volume": x.volume, "mark_price": 0.01, "bid_price": None, "ask_price": None,
            "mid_price": None, "last": None, "underlying_price": None, "price_change": None,
            "volume_usd": 0.0, "creation_timestamp": self.now}
            for x in self._live(request.query.get("currency"))])

    async def currencies(self, _request: web.Request) -> web.Response:
        return self.answer([{"currency": c, "currency_long": c, "fee_precision": 4,
                             "min_confirmations": 1, "min_withdrawal_fee": 0.0001,
                             "withdrawal_fee": 0.0001, "coin_type": "BITCOIN"}
                            for c in sorted({x.currency for x in self.chain})])

    def app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_get("/api/v2/public/get_time", self.time)
        r.add_get("/api/v2/public/get_instruments", self.instruments)
        r.add_get("/api/v2/public/get_book_summary_by_currency", self.book_summary)
        r.add_get("/api/v2/public/get_currencies", self.currencies)
        r.add_post("/sim/advance", self.sim_advance)
        return app
