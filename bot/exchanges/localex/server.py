"""A local exchange on loopback that speaks Binance USD-M's REST dialect, so the real ccxt
client can trade against the SimExchange engine. Market time advances by POST /sim/advance."""

from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from aiohttp import web
from ccxt.base.errors import BaseError

from bot.exchanges.localex import dialect
from bot.exchanges.localex.account import AccountRoutes
from bot.exchanges.localex.guard import Faults, Limits, RateGuard, binance_error, verify
from bot.exchanges.localex.public import PARAMS, PublicRoutes
from bot.exchanges.localex.spot import SPOT_PUBLIC, SpotRoutes
from bot.exchanges.localex.streams import BinanceStreams, track
from bot.exchanges.sim.exchange import SimExchange
from bot.marketdata.layout import CANDLE, FUNDING, SPOT, MarketData
from bot.markets import Market
from bot.types import (
    CONDITIONAL,
    LIMIT_PRICED,
    VENUE_NAMES,
    Fill,
    FundingPayment,
    OrderRequest,
    OrderStatus,
    OrderType,
)

PUBLIC = {"/fapi/v1/ping", "/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/klines",
          "/fapi/v1/premiumIndex", "/fapi/v1/fundingRate", "/fapi/v1/openInterest",
          "/futures/data/openInterestHist",
          "/fapi/v1/fundingInfo", "/api/v3/klines",
          "/futures/data/globalLongShortAccountRatio"} | SPOT_PUBLIC
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
CODE = re.compile(r"^(-\d{4})\s+(.*)$", re.DOTALL)


class LocalExchange(PublicRoutes, AccountRoutes, SpotRoutes, BinanceStreams):
    def __init__(self, sim: SimExchange, data: MarketData | None = None,
                 venue: str = "binanceusdm", api_key: str = "local-key",
                 secret: str = "local-secret", limits: Limits | None = None,
                 faults: Faults | None = None) -> None:
        self.sim, self.data, self.venue = sim, data, venue
        self.api_key, self.secret = api_key, secret
        self.rates = RateGuard(limits or Limits())
        self.faults = faults or Faults()
        self.by_id: dict[str, Market] = {dialect.market_id(m): m for m in sim.markets.values()
                                          if not m.spot}
        self.spot_by_id = {dialect.market_id(m): m for m in sim.markets.values() if m.spot}
        self.start_wallet = sim.wallet
        self.trades: list[dict] = []
        self.spot_trades: list[dict] = []
        self.transfers: list[dict] = []
        self.income: list[dict] = []
        self.force_orders: list[dict] = []  # liquidation orders, as /fapi/v1/forceOrders
        self.margin_types: dict[str, str] = {}  # market id -> ISOLATED | CROSSED (the default)
        self.updated: dict[str, int] = {}  # market id -> its position's last change
        self.working_types: dict[str, str] = {}  # algo client id -> CONTRACT_PRICE | MARK_PRICE
        self.requests: dict[str, int] = {}
        self._events = iter(data.events()) if data is not None else iter(())
        self._pending = None
        self._lock = asyncio.Lock()

    # ---- market time ------------------------------------------------------------------
    def advance(self, until: int) -> int:
        """Feed the venue's data seen at or before `until` into the engine."""
        n = 0
        while True:
            e = self._pending if self._pending is not None else next(self._events, None)
            self._pending = None
            if e is None:
                break
            if e.seen > until:
                self._pending = e
                break
            n += 1
            if e.exchange != self.venue:
                continue
            if e.kind in (CANDLE, SPOT):
                self.sim.on_candle(e.symbol, e.seen, e.open, e.high, e.low, e.close,
                                   e.volume)
            elif e.kind == FUNDING:
                self.sim.on_funding(e.symbol, e.ts, e.rate)
        self.sim.now = max(self.sim.now, until)
        self._collect()
        return n

    def candle(self, symbol: str, close_time: int, o: float, h: float, lo: float,
               c: float, volume: float | None = None) -> None:
        """Move the engine by one candle (tests and tools that drive prices by hand)."""
        self.sim.on_candle(symbol, close_time, o, h, lo, c, volume)
        self._collect()

    def funding(self, symbol: str, ts: int, rate: float) -> None:
        self.sim.on_funding(symbol, ts, rate)
        self._collect()

    def _collect(self) -> None:
        """Turn the engine's fills and funding into userTrades and income records."""
        for ev in self.sim.drain():
            self._record(ev)

    def _record(self, ev) -> None:
        """One engine event into Binance's records."""
        if isinstance(ev, Fill) and self.sim.markets[ev.symbol].spot:
            m = self.sim.markets[ev.symbol]
            order = self.sim.orders[ev.client_id]
            self.spot_trades.append({
                "symbol": dialect.market_id(m), "id": len(self.spot_trades) + 1,
                "orderId": int(order.exchange_id), "orderListId": -1,
                "price": str(ev.price), "qty": str(ev.amount),
                "quoteQty": str(ev.amount * ev.price), "commission": str(ev.fee),
                "commissionAsset": m.quote, "time": ev.timestamp,
                "isBuyer": ev.side == "buy", "isMaker": False, "isBestMatch": True})
        elif isinstance(ev, Fill):
            m = self.sim.markets[ev.symbol]
            order = self.sim.orders.get(ev.client_id)
            is_algo = order is not None and order.type in CONDITIONAL
            oid = int(ev.exchange_id) + dialect.ACTUAL_ID_OFFSET if is_algo else (
                int(ev.exchange_id) if ev.exchange_id.isdigit() else 0)
            if ev.liquidation:  # the exchange's own order, listed in forceOrders
                oid = dialect.FORCED_ID_OFFSET + len(self.force_orders) + 1
                self.force_orders.append(dialect.force_order(m, oid, ev))
            self.updated[dialect.market_id(m)] = ev.timestamp
            # as Binance sends them: no client order id, nothing says "liquidation"
            self.trades.append({
                "symbol": dialect.market_id(m), "id": len(self.trades) + 1, "orderId": oid,
                "side": ev.side.upper(), "price": str(ev.price), "qty": str(ev.amount),
                "realizedPnl": "0", "quoteQty": str(ev.amount * ev.price),
                "marginAsset": m.quote, "commission": str(ev.fee), "commissionAsset": m.quote,
                "time": ev.timestamp, "positionSide": "BOTH", "buyer": ev.side == "buy",
                "maker": False})
        elif isinstance(ev, FundingPayment):
            m = self.sim.markets[ev.symbol]
            self.income.append({
                "symbol": dialect.market_id(m), "incomeType": "FUNDING_FEE",
                "income": str(ev.amount), "asset": m.quote, "info": "FUNDING_FEE",
                "time": ev.timestamp, "tranId": len(self.income) + 1, "tradeId": ""})

    # ---- the web application ----------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/fapi/v1/ping", self.ping)
        r.add_get("/fapi/v1/time", self.time)
        r.add_get("/fapi/v1/exchangeInfo", self.exchange_info)
        r.add_get("/fapi/v1/klines", self.klines)
        r.add_get("/api/v3/klines", self.spot_klines)
        r.add_get("/fapi/v1/premiumIndex", self.premium_index)
        r.add_get("/fapi/v1/fundingRate", self.funding_rate)
        r.add_get("/fapi/v1/fundingInfo", self.funding_info)
        r.add_get("/fapi/v1/leverageBracket", self.leverage_bracket)
        r.add_get("/fapi/v1/openInterest", self.open_interest)
        r.add_get("/futures/data/openInterestHist", self.open_interest_hist)
        r.add_get("/futures/data/globalLongShortAccountRatio", self.long_short_ratio)
        r.add_post("/fapi/v1/order", self.new_order)
        r.add_get("/fapi/v1/order", self.get_order)
        r.add_delete("/fapi/v1/order", self.cancel_order)
        r.add_post("/fapi/v1/algoOrder", self.new_algo)
        r.add_get("/fapi/v1/algoOrder", self.get_algo)
        r.add_delete("/fapi/v1/algoOrder", self.cancel_algo)
        r.add_get("/fapi/v1/openOrders", self.open_orders)
        r.add_get("/fapi/v1/openAlgoOrders", self.open_algo)
        self.add_account_routes(r)
        self.add_spot_routes(r)
        for path in ("/ws", "/ws/{stream}", "/market/ws", "/market/ws/{stream}"):
            r.add_get(path, self.binance_ws)  # market streams: liquidation prints
        return self.controlled(app)

    def controlled(self, app: web.Application) -> web.Application:
        """The control routes every dialect serves (not a venue's): market time, faults, and
        the engine's state."""
        r = app.router
        r.add_post("/sim/advance", self.sim_advance)
        r.add_post("/sim/faults", self.sim_faults)
        r.add_get("/sim/state", self.sim_state)
        return track(app)

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        path = request.path
        if request.match_info.http_exception is not None:  # no such path: JSON, as Binance
            return binance_error(404, -1000, f"unknown path {path}")
        key = f"{request.method} {path}"
        self.requests[key] = self.requests.get(key, 0) + 1
        if path.startswith(("/sim/", "/ws", "/market/ws")):  # control, and the streams
            return await handler(request)
        fault, refused = await self._faulted(request, key)
        if refused is not None:
            return refused
        limited = self.rates.check(path, request.method)
        if limited is not None:
            return limited
        body = await request.text()
        if path not in PUBLIC:
            refused = verify(request, body, self.api_key, self.secret)
            if refused is not None:
                return refused
        request[PARAMS] = dict(parse_qsl(request.query_string)) | dict(parse_qsl(body))
        async with self._lock:
            try:
                response = await handler(request)
            except BaseError as err:  # the engine's rejects carry Binance's code
                m = CODE.match(str(err))
                code, msg = (int(m.group(1)), m.group(2)) if m else (-1000, str(err))
                response = binance_error(400, code, msg)
            except (KeyError, ValueError, InvalidOperation) as err:
                response = binance_error(400, -1102, f"Mandatory parameter missing or "
                                                     f"malformed: {err}")
            self._collect()
        if fault == "drop_after":  # the engine acted; the answer never arrives
            request.transport.close()
            raise asyncio.CancelledError
        return response

    async def _faulted(self, request: web.Request, key: str
                       ) -> tuple[str | None, web.Response | None]:
        """The fault scripted or drawn for this request, and the answer it gives instead of
        the engine's (none: the request goes on; a dropped connection raises)."""
        await self.faults.delay()
        fault = self.faults.next_for(key)
        if fault == "5xx":
            return fault, web.Response(status=503, text="Service Unavailable")
        if fault == "429":
            return fault, self.too_many()
        if fault == "drop_before":
            request.transport.close()
            raise asyncio.CancelledError
        return fault, None

    def too_many(self) -> web.Response:
        return binance_error(429, -1003, "Too many requests.", {"Retry-After": "1"})

    # ---- trading ------------------------------------------------------------------------
    def _request(self, p: dict, algo: bool) -> OrderRequest:
        m = self._market(p)
        kind = p["type"].upper()
        types = {"MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT} | VENUE_NAMES
        if not algo and kind in VENUE_NAMES:  # conditional orders moved to the algo API
            raise BaseError("-4120 Order type not supported for this endpoint. Please use the "
                            "Algo Order API endpoints instead.")
        if kind not in types or (kind in VENUE_NAMES) != algo:
            raise BaseError(f"-1116 Invalid orderType {kind} for this endpoint.")
        cid = p.get("clientAlgoId" if algo else "newClientOrderId") or f"local-{self.sim.seq + 1}"
        stop = p.get("activatePrice" if kind == "TRAILING_STOP_MARKET" else "triggerPrice") \
            if algo else None
        rate = Decimal(p["callbackRate"]) if kind == "TRAILING_STOP_MARKET" else None
        close = p.get("closePosition", "false").lower() == "true"
        if close and ("quantity" in p or p.get("reduceOnly", "false").lower() == "true"):
            raise BaseError("-4137 Quantity must be zero with closePosition equals true"
                            if "quantity" in p else
                            "-1106 Parameter 'reduceonly' sent when not required.")
        working = p.get("workingType", "CONTRACT_PRICE")
        if working not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise BaseError(f"-1115 Invalid workingType {working}.")
        if algo:
            self.working_types[cid] = working
        tif = p.get("timeInForce", "GTC" if kind != "LIMIT" else "")
        if tif not in TIME_IN_FORCE:
            raise BaseError("-1102 Mandatory parameter 'timeInForce' was not sent, was "
                            "empty/null, or malformed." if not tif else
                            f"-1115 Invalid timeInForce {tif}.")
        return OrderRequest(cid, m.symbol, p["side"].lower(), types[kind],
                            Decimal(0) if close else Decimal(p["quantity"]),
                            Decimal(p["price"]) if types[kind] in LIMIT_PRICED else None,
                            Decimal(stop) if stop else None,
                            p.get("reduceOnly", "false").lower() == "true", tif, close, rate)

    def _find(self, p: dict, algo: bool):
        cid = p.get("clientAlgoId" if algo else "origClientOrderId")
        oid = p.get("algoId" if algo else "orderId")
        if cid:
            return self.sim.fetch_order(cid)
        if oid:
            num = int(oid)
            if not algo and num > dialect.ACTUAL_ID_OFFSET:
                num -= dialect.ACTUAL_ID_OFFSET
            for o in self.sim.orders.values():
                if o.exchange_id == str(num):
                    return o
        raise BaseError("-2013 Order does not exist.")

    async def new_order(self, request: web.Request) -> web.Response:
        o = self.sim.create_order(self._request(request[PARAMS], algo=False))
        return web.json_response(dialect.order_json(o, self.sim.markets[o.symbol], query=False))

    async def new_algo(self, request: web.Request) -> web.Response:
        o = self.sim.create_order(self._request(request[PARAMS], algo=True))
        return web.json_response(self._algo(o))

    async def get_order(self, request: web.Request) -> web.Response:
        o = self._find(request[PARAMS], algo=False)
        m = self.sim.markets[o.symbol]
        if o.type in CONDITIONAL:
            return web.json_response(dialect.actual_order_json(o, m))
        return web.json_response(dialect.order_json(o, m))

    async def get_algo(self, request: web.Request) -> web.Response:
        o = self._find(request[PARAMS], algo=True)
        return web.json_response(self._algo(o))

    async def cancel_order(self, request: web.Request) -> web.Response:
        o = self._find(request[PARAMS], algo=False)
        o = self.sim.cancel_order(o.client_id)
        return web.json_response(dialect.order_json(o, self.sim.markets[o.symbol], query=False))

    async def cancel_algo(self, request: web.Request) -> web.Response:
        o = self._find(request[PARAMS], algo=True)
        o = self.sim.cancel_order(o.client_id)
        return web.json_response({"algoId": int(o.exchange_id), "clientAlgoId": o.client_id,
                                  "code": "200", "msg": "success"})

    def _open(self, p: dict, algo: bool) -> list:
        sym = self.by_id[p["symbol"]].symbol if "symbol" in p else None
        return [o for o in self.sim.open_orders(sym)
                if (o.type in CONDITIONAL) == algo]

    async def open_orders(self, request: web.Request) -> web.Response:
        return web.json_response([dialect.order_json(o, self.sim.markets[o.symbol])
                                  for o in self._open(request[PARAMS], algo=False)])

    async def open_algo(self, request: web.Request) -> web.Response:
        return web.json_response([self._algo(o) for o in self._open(request[PARAMS], algo=True)])

    def _algo(self, o) -> dict:
        return dialect.algo_json(o, self.sim.markets[o.symbol],
                                 self.working_types.get(o.client_id, "CONTRACT_PRICE"))

    # ---- control (not Binance's) -----------------------------------------------------------
    async def sim_advance(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._lock:
            n = self.advance(int(body["until"]))
        return web.json_response({"events": n, "now": self.sim.now})

    async def sim_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.faults.script.extend((s, k) for s, k in body.get("script", []))
        for key in ("latency_s", "p_5xx", "p_429", "p_drop"):
            if key in body:
                setattr(self.faults, key, float(body[key]))
        return web.json_response({"ok": True})

    async def sim_state(self, _request: web.Request) -> web.Response:
        bal = self.sim.balance()
        return web.json_response(json.loads(json.dumps({
            "now": self.sim.now, "wallet": str(bal.wallet), "equity": str(bal.equity),
            "orders": [{"client_id": o.client_id, "status": o.status.value,
                        "filled": str(o.filled)} for o in self.sim.orders.values()],
            "open": [{"client_id": o.client_id, "symbol": o.symbol, "type": o.type.value,
                      "reduce_only": o.reduce_only, "amount": str(o.amount - o.filled)}
                     for o in self.sim.open.values() if o.status is OrderStatus.OPEN],
            "positions": {p.symbol: str(p.contracts) for p in self.sim.fetch_positions()},
            "spot": {a: str(v) for a, v in self.sim.spot.items()},
            # the futures wallet's own result: what transfers moved is not profit
            "futures_pnl": str(bal.wallet - self.start_wallet + self.sim.transferred),
            "trades": self.trades,
            "fees": str(sum((Decimal(t["commission"]) for t in self.trades + self.spot_trades),
                            Decimal(0))),
            "funding": str(sum((Decimal(i["income"]) for i in self.income), Decimal(0))),
            "rate_limited": self.rates.counts, "requests": self.requests})))
