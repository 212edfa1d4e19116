"""The local exchange in Bybit v5's trading dialect (a unified trading account, linear
perps, one-way mode), backed by the same SimExchange engine as the Binance dialect, so the
real ccxt bybit client trades against it over HTTP.

What Bybit does differently, and this does too: every answer is {retCode, retMsg, result,
retExtInfo, time} with HTTP 200, refusals included; requests are signed in headers
(X-BAPI-*: HMAC-SHA256 of timestamp + key + recvWindow + query or JSON body); placing or
cancelling answers only the ids; a conditional order names its triggerDirection and keeps
its orderId when it triggers; a post-only order that would take, or a FOK that cannot fill,
is taken and cancelled at once (not refused); executions list trades, liquidation takeovers
(BustTrade) and funding (execFee: paid) within seven days."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl

from aiohttp import web
from ccxt.base.errors import BaseError, OrderNotFillable

from bot.exchanges.localex import bybit_rows as rows
from bot.exchanges.localex.bybit import envelope, linear_info
from bot.exchanges.localex.dialect import market_id
from bot.exchanges.localex.public import PARAMS
from bot.exchanges.localex.server import LocalExchange
from bot.exchanges.localex.venues import VenueError
from bot.markets import Market
from bot.types import (
    LIMIT_PRICED,
    Fill,
    FundingPayment,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    conditional_kind,
)
from risk.sizing import mmr_for

PUBLIC = {"/v5/market/time", "/v5/market/instruments-info", "/v5/market/risk-limit"}
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "GTX"}
WEEK_MS = 7 * 24 * 3_600_000
REFUSED_BASE = 1 << 40  # order numbers of the orders taken and cancelled at once
FORCED_BASE = 1 << 41  # the exchange's own liquidation orders


class BybitExchange(LocalExchange):
    def __init__(self, sim, data=None, venue: str = "bybit", *args, **kw) -> None:
        super().__init__(sim, data, venue, *args, **kw)
        self.executions: list[dict] = []  # oldest first
        self.created: dict[str, int] = {}  # client id -> when it was placed
        self.ids: dict[str, str] = {}  # orderId -> client id
        self.refused: dict[str, dict] = {}  # client id -> its Cancelled row
        self.isolated = False  # the unified account's margin mode (REGULAR_MARGIN at first)

    # ---- engine events into executions ----------------------------------------------------
    def _record(self, ev) -> None:
        super()._record(ev)
        m = self.sim.markets.get(getattr(ev, "symbol", ""))
        if m is None or m.spot:
            return
        seq = len(self.executions) + 1
        if isinstance(ev, Fill):
            order = None if ev.liquidation else self.sim.orders.get(ev.client_id)
            value = ev.amount * ev.price
            maker = value > 0 and abs(ev.fee - value * self.sim.maker_fee) < abs(
                ev.fee - value * self.sim.taker_fee)
            if order is None:  # the liquidation order the Binance records just listed
                oid = rows.order_uuid(FORCED_BASE + len(self.force_orders))
            else:
                oid = rows.order_uuid(int(order.exchange_id))
            self.executions.append(rows.execution(
                m, exec_type="BustTrade" if ev.liquidation else "Trade", order_id=oid,
                link_id="" if order is None else order.client_id,
                side=ev.side.capitalize(), qty=ev.amount, price=ev.price, fee=ev.fee,
                fee_rate=rows.amount(self.sim.maker_fee if maker else self.sim.taker_fee),
                maker=maker, at=ev.timestamp, seq=seq,
                order_type="Limit" if order is not None and order.type in LIMIT_PRICED
                else "Market",
                order_qty=str(order.amount) if order is not None else str(ev.amount),
                order_price=str(order.price or 0) if order is not None else str(ev.price),
                create_type="CreateByLiq" if ev.liquidation else "CreateByUser"))
        elif isinstance(ev, FundingPayment):
            pos = self.sim.positions.get(ev.symbol)
            long = pos is None or pos.contracts > 0
            price = Decimal(repr(self.sim.last.get(ev.symbol, 0.0)))
            qty = abs(pos.contracts) if pos is not None else Decimal(0)
            self.executions.append(rows.execution(
                m, exec_type="Funding", order_id=rows.order_uuid(FORCED_BASE - seq),
                link_id="", side="Buy" if long else "Sell", qty=qty, price=price,
                fee=-ev.amount, fee_rate=rows.amount(Decimal(repr(ev.rate))), maker=False,
                at=ev.timestamp, seq=seq, order_type="UNKNOWN", create_type=""))

    # ---- the web application --------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._bybit_middleware])
        r = app.router
        r.add_get("/v5/market/time", self.market_time)
        r.add_get("/v5/market/instruments-info", self.instruments)
        r.add_get("/v5/market/risk-limit", self.risk_limit)
        r.add_post("/v5/order/create", self.create)
        r.add_post("/v5/order/cancel", self.cancel)
        r.add_get("/v5/order/realtime", self.realtime)
        r.add_get("/v5/order/history", self.history)
        r.add_get("/v5/position/list", self.positions)
        r.add_post("/v5/position/set-leverage", self.set_leverage)
        r.add_post("/v5/account/set-margin-mode", self.set_margin_mode)
        r.add_get("/v5/account/wallet-balance", self.wallet_balance)
        r.add_get("/v5/execution/list", self.execution_list)
        return self.controlled(app)

    def answer(self, result, msg: str = "OK") -> web.Response:
        return envelope(result, self.sim.now, msg=msg)

    def refuse(self, code: int, msg: str, status: int = 200, headers=None) -> web.Response:
        return envelope({}, self.sim.now, code, msg, status, headers)

    def too_many(self) -> web.Response:
        return self.refuse(10006, "Too many visits!", headers={
            "X-Bapi-Limit-Reset-Timestamp": str(int(time.time() * 1000) + 1000)})

    @web.middleware
    async def _bybit_middleware(self, request: web.Request, handler):
        path = request.path
        if request.match_info.http_exception is not None:
            return self.refuse(10001, f"unknown path {path}", status=404)
        key = f"{request.method} {path}"
        self.requests[key] = self.requests.get(key, 0) + 1
        if path.startswith("/sim/"):
            return await handler(request)
        fault, refused = await self._faulted(request, key)
        if refused is not None:
            return refused
        body = await request.text()
        if path not in PUBLIC:
            refused = self._verify(request, body)
            if refused is not None:
                return refused
        try:
            request[PARAMS] = dict(parse_qsl(request.query_string)) | (
                json.loads(body) if body else {})
        except ValueError:
            return self.refuse(10001, "params error: the body is not JSON")
        async with self._lock:
            try:
                response = await handler(request)
            except VenueError as err:
                response = self.refuse(int(err.code), err.msg)
            except BaseError as err:  # the engine's refusals, in Bybit's codes
                response = self.refuse(*rows.ret_code(str(err)))
            except (KeyError, ValueError, TypeError, InvalidOperation) as err:
                response = self.refuse(10001, f"params error: {err}")
            self._collect()
        if fault == "drop_after":
            request.transport.close()
            raise asyncio.CancelledError
        return response

    def _verify(self, request: web.Request, body: str) -> web.Response | None:
        """Bybit's signed-request rules: the key, the HMAC of timestamp + key + recvWindow +
        (query for GET, body for POST), and a timestamp within the window."""
        h = request.headers
        if h.get("X-BAPI-API-KEY") != self.api_key:
            return self.refuse(10003, "API key is invalid.", status=401)
        stamp, window = h.get("X-BAPI-TIMESTAMP", ""), h.get("X-BAPI-RECV-WINDOW", "5000")
        signed = body if request.method == "POST" else request.query_string
        want = hmac.new(self.secret.encode(), f"{stamp}{self.api_key}{window}{signed}".encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, h.get("X-BAPI-SIGN", "")):
            return self.refuse(10004, "error sign! origin_string["
                               f"{stamp}{self.api_key}{window}{signed}]")
        now = int(time.time() * 1000)
        if not (stamp.isdigit() and window.isdigit()) or not (
                now - int(window) <= int(stamp) < now + 1000):
            return self.refuse(10002, "invalid request, please check your server timestamp "
                               f"or recv_window param. req_timestamp[{stamp}],"
                               f"server_timestamp[{now}],recv_window[{window}]")
        return None

    # ---- public ---------------------------------------------------------------------------
    def _linear(self, p: dict, symbol: bool = True) -> Market | None:
        if p.get("category") != "linear":
            raise VenueError("10001", "params error: category only support linear")
        if "symbol" in p:
            if p["symbol"] not in self.by_id:
                raise VenueError("10001", "params error: symbol invalid")
            return self.by_id[p["symbol"]]
        if symbol:
            raise VenueError("10001", "params error: symbol is required")
        if not (p.get("settleCoin") or p.get("baseCoin")):
            raise VenueError("10001", "params error: symbol, baseCoin or settleCoin required")
        return None

    async def market_time(self, _request: web.Request) -> web.Response:
        return self.answer({"timeSecond": str(self.sim.now // 1000),
                            "timeNano": str(self.sim.now * 1_000_000)})

    async def instruments(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        if p.get("category") not in ("linear", "spot", "inverse", "option"):
            raise VenueError("10001", "params error: category invalid")
        listed = [linear_info(m) for m in self.by_id.values()] \
            if p["category"] == "linear" else []
        return self.answer({"category": p["category"], "list": listed, "nextPageCursor": ""})

    async def risk_limit(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        m = self._linear(p, symbol=False) if "symbol" in p else None
        if p.get("category") != "linear":
            raise VenueError("10001", "params error: category invalid")
        markets = [m] if m is not None else list(self.by_id.values())
        return self.answer({"category": "linear", "nextPageCursor": "", "list": [
            row for mk in markets for row in rows.risk_limits(mk, self.sim.mmr_tiers,
                                                             mk.max_leverage)]})

    # ---- orders -----------------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        m = self._linear(p)
        side = {"Buy": "buy", "Sell": "sell"}.get(p.get("side", ""))
        form = p.get("orderType")
        if side is None or form not in ("Market", "Limit"):
            raise VenueError("10001", f"params error: side {p.get('side')!r} or orderType "
                             f"{form!r} invalid")
        tif = TIME_IN_FORCE.get(p.get("timeInForce") or ("GTC" if form == "Limit" else "IOC"))
        if tif is None:
            raise VenueError("10001", f"params error: timeInForce {p['timeInForce']} invalid")
        qty = Decimal(str(p.get("qty", "")))
        price = Decimal(str(p["price"])) if form == "Limit" else None
        close = bool(p.get("closeOnTrigger")) and qty == 0
        kind, stop = (OrderType.LIMIT if form == "Limit" else OrderType.MARKET), None
        if p.get("triggerPrice") not in (None, "", "0"):
            kind, stop = self._trigger(p, m, form, side)
        elif close:
            raise VenueError("10001", "params error: qty invalid")
        cid = p.get("orderLinkId") or f"bybit-{len(self.ids) + len(self.refused) + 1}"
        if cid in self.refused:
            raise VenueError("110072", "OrderLinkedID is duplicate")
        req = OrderRequest(cid, m.symbol, side, kind, qty, price if kind in LIMIT_PRICED
                           else None, stop, bool(p.get("reduceOnly")) and not close,
                           tif if form == "Limit" else "GTC", close)
        try:
            o = self.sim.create_order(req)
        except OrderNotFillable as err:  # Bybit takes it and cancels it at once
            n = REFUSED_BASE + len(self.refused) + 1
            state = OrderState(cid, str(n), m.symbol, side, kind, qty, req.price, stop,
                               req.reduce_only, OrderStatus.CANCELED, timestamp=self.sim.now,
                               time_in_force=req.time_in_force)
            why = "EC_PostOnlyWillTakeLiquidity" if "-5022" in str(err) \
                else "EC_CancelForNoFullFill"
            self.refused[cid] = rows.order_row(state, m, self.sim.now, reject=why)
            return self.answer({"orderId": rows.order_uuid(n), "orderLinkId": cid})
        oid = rows.order_uuid(int(o.exchange_id))
        self.created[cid], self.ids[oid] = self.sim.now, cid
        return self.answer({"orderId": oid, "orderLinkId": cid})

    def _trigger(self, p: dict, m: Market, form: str, side: str) -> tuple[OrderType, Decimal]:
        """A conditional order's kind and trigger; one whose trigger the price is already
        past is refused as Bybit refuses it (110092 rising, 110093 falling)."""
        direction = int(p.get("triggerDirection") or 0)
        if direction not in (1, 2):
            raise VenueError("10001", "params error: triggerDirection invalid")
        stop = Decimal(str(p["triggerPrice"]))
        last = Decimal(repr(self.sim.last.get(m.symbol, 0.0)))
        if direction == 1 and stop <= last:
            raise VenueError("110092", f"expect Rising, but trigger_price[{stop}] <= "
                                       f"current[{last}]??LastPrice")
        if direction == 2 and stop >= last:
            raise VenueError("110093", f"expect Falling, but trigger_price[{stop}] >= "
                                       f"current[{last}]??LastPrice")
        return conditional_kind(side, direction == 1, form == "Limit"), stop

    def _row(self, cid: str) -> dict | None:
        if cid in self.refused:
            return self.refused[cid]
        o = self.sim.orders.get(cid)
        if o is None or o.symbol not in self.sim.markets or self.sim.markets[o.symbol].spot:
            return None
        cancel, reject = "UNKNOWN", "EC_NoError"
        if o.status is OrderStatus.CANCELED:
            cancel = "CancelByUser"
        elif o.status is OrderStatus.EXPIRED and o.reduce_only:
            cancel = "CancelByReduceOnly"
        elif o.status is OrderStatus.EXPIRED:
            reject = "EC_NoImmediateQtyToFill"
        return rows.order_row(o, self.sim.markets[o.symbol], self.created.get(cid, o.timestamp),
                              triggered=cid in self.sim.triggered, reject=reject, cancel=cancel)

    def _named(self, p: dict) -> str | None:
        """The client id of the order a request names by orderLinkId or orderId."""
        if p.get("orderLinkId"):
            return p["orderLinkId"]
        if p.get("orderId"):
            oid = p["orderId"]
            return self.ids.get(oid) or next((c for c, r in self.refused.items()
                                              if r["orderId"] == oid), None)
        return None

    async def cancel(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        self._linear(p)
        if not (p.get("orderId") or p.get("orderLinkId")):
            raise VenueError("10001", "params error: orderId or orderLinkId is required")
        cid = self._named(p)
        if cid is None or cid in self.refused or cid not in self.sim.orders:
            raise VenueError("110001", "Order does not exist")
        o = self.sim.cancel_order(cid)
        return self.answer({"orderId": rows.order_uuid(int(o.exchange_id)), "orderLinkId": cid})

    def _listed(self, p: dict, cids, limit_max: int = 50) -> web.Response:
        flt = p.get("orderFilter")
        out = []
        for cid in cids:
            row = self._row(cid)
            if row is None or ("symbol" in p and row["symbol"] != p["symbol"]):
                continue
            conditional = row["stopOrderType"] == "Stop"
            if (flt == "Order" and conditional) or (flt == "StopOrder" and not conditional):
                continue
            out.append(row)
        out.sort(key=lambda r: int(r["createdTime"]), reverse=True)
        limit = min(int(p.get("limit", 20)), limit_max)
        return self.answer({"category": "linear", "nextPageCursor": "", "list": out[:limit]})

    async def realtime(self, request: web.Request) -> web.Response:
        """Open orders; or one order named by orderId/orderLinkId, whatever its status;
        openOnly=1: the recent closed ones."""
        p = request[PARAMS]
        self._linear(p, symbol=False)
        named = self._named(p)
        if named is not None:
            return self._listed(p, [named])
        if str(p.get("openOnly", "0")) == "0":
            return self._listed(p, [o.client_id for o in self.sim.open_orders()])
        closed = [c for c, o in self.sim.orders.items() if o.status is not OrderStatus.OPEN]
        return self._listed(p, closed[-500:] + list(self.refused))

    async def history(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        self._linear(p, symbol=False)
        named = self._named(p)
        return self._listed(p, [named] if named else list(self.sim.orders) + list(
            self.refused))

    # ---- positions and the account ------------------------------------------------------
    def _maint(self, pos) -> tuple[Decimal, Decimal]:
        mark = Decimal(repr(self.sim.last.get(pos.symbol, float(pos.entry_price))))
        notional = abs(pos.contracts) * mark
        return mark, notional * Decimal(repr(mmr_for(float(notional), self.sim.mmr_tiers)))

    async def positions(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        m = self._linear(p, symbol=False)
        held = {pos.symbol: pos for pos in self.sim.fetch_positions()}
        wanted = [m.symbol] if m is not None else [s for s in held
                                                   if not self.sim.markets[s].spot]
        out = []
        for sym in wanted:
            mk, pos = self.sim.markets[sym], held.get(sym)
            mark, maint = self._maint(pos) if pos is not None else (
                Decimal(repr(self.sim.last.get(sym, 0.0))), Decimal(0))
            updated = self.updated.get(market_id(mk), self.sim.now)
            out.append(rows.position_row(mk, pos, mark, maint, self.sim.leverage_of(sym),
                                         self.isolated, updated, updated))
        return self.answer({"category": "linear", "nextPageCursor": "", "list": out})

    async def set_leverage(self, request: web.Request) -> web.Response:
        p = request[PARAMS]
        m = self._linear(p)
        buy, sell = Decimal(str(p["buyLeverage"])), Decimal(str(p["sellLeverage"]))
        if buy != sell:
            raise VenueError("10001", "params error: buyLeverage must equal sellLeverage in "
                                      "one-way mode")
        if not 1 <= buy <= Decimal(repr(m.max_leverage)):
            raise VenueError("10001", f"params error: leverage {buy} invalid")
        if float(buy) == self.sim.leverage_of(m.symbol):
            raise VenueError("110043", "Set leverage not modified")
        self.sim.set_leverage(m.symbol, float(buy))
        return self.answer({})

    async def set_margin_mode(self, request: web.Request) -> web.Response:
        mode = request[PARAMS].get("setMarginMode")
        if mode not in ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
            raise VenueError("10001", f"params error: setMarginMode {mode!r} invalid")
        self.isolated = mode == "ISOLATED_MARGIN"
        return self.answer({"reasons": []}, msg="Request accepted")

    async def wallet_balance(self, request: web.Request) -> web.Response:
        if request[PARAMS].get("accountType") != "UNIFIED":
            raise VenueError("10001", "accountType only support UNIFIED")
        maint = sum((self._maint(pos)[1] for pos in self.sim.fetch_positions()
                     if not self.sim.markets[pos.symbol].spot), Decimal(0))
        return self.answer({"list": [rows.wallet(self.sim.balance(), maint)]})

    async def execution_list(self, request: web.Request) -> web.Response:
        """Executions newest first, within seven days: the last seven without startTime and
        endTime, seven from startTime, seven up to endTime; a longer span is refused."""
        p = request[PARAMS]
        if "symbol" in p:
            self._linear(p)
        elif p.get("category") != "linear":
            raise VenueError("10001", "params error: category only support linear")
        start, end = p.get("startTime"), p.get("endTime")
        if start is None and end is None:
            end = self.sim.now
            start = end - WEEK_MS
        elif end is None:
            end = int(start) + WEEK_MS
        elif start is None:
            start = int(end) - WEEK_MS
        start, end = int(start), int(end)
        if end - start > WEEK_MS:
            raise VenueError("10001", "params error: the span between startTime and endTime "
                                      "cannot exceed 7 days")
        named = self._named(p)
        out = [e for e in reversed(self.executions)
               if start <= int(e["execTime"]) <= end
               and e["symbol"] == p.get("symbol", e["symbol"])
               and e["execType"] == p.get("execType", e["execType"])
               and (named is None or e["orderLinkId"] == named)]
        limit = min(int(p.get("limit", 50)), 100)
        at = int(p.get("cursor") or 0)
        page = out[at:at + limit]
        more = str(at + limit) if at + limit < len(out) else ""
        return self.answer({"nextPageCursor": more, "category": "linear", "list": page})
