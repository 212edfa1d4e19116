"""The Gateway on ccxt.async_support: Binance USD-M, Bybit, OKX — testnet/demo unless live.

Errors are mapped once, here, into ccxt's tree; only the NetworkError family is retried
(tenacity, exponential backoff with jitter). An order whose submit outcome is unknown is
looked up by its client id before any resubmit, so it is never doubled. Order endpoints
are capped per account (requests.py) on top of ccxt's own rate limiter.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import ccxt.pro as ccxtpro
from ccxt.base.errors import (
    DDoSProtection,
    DuplicateOrderId,
    ExchangeError,
    NetworkError,
    OrderNotFound,
    RateLimitExceeded,
)

from bot.exchanges.ccxt.decimals import ZERO, dec
from bot.exchanges.ccxt.fills import new_fills, order_fees
from bot.exchanges.ccxt.ordertypes import kind_of, order_args
from bot.exchanges.ccxt.profiles import PROFILES, Profile
from bot.exchanges.ccxt.requests import Requests
from bot.exchanges.ccxt.transfers import transfer_once
from bot.logs import kv
from bot.markets import Market
from bot.types import (
    CONDITIONAL,
    LIMIT_PRICED,
    Balance,
    Fill,
    FundingPayment,
    GatewayEvent,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    Position,
    parse_client_id,
)

log = logging.getLogger("derivbot.ccxt")
STATUS = {"open": OrderStatus.OPEN, "closed": OrderStatus.CLOSED,
          "canceled": OrderStatus.CANCELED, "expired": OrderStatus.EXPIRED,
          "rejected": OrderStatus.REJECTED,
          "PartiallyFilledCanceled": OrderStatus.CANCELED}  # Bybit's, which ccxt passes on
MODES = {"0": "cross", "1": "isolated"}  # Bybit's tradeMode


class CcxtGateway:
    def __init__(self, exchange_id: str, api_key: str = "", secret: str = "",
                 testnet: bool = True, urls: dict[str, str] | None = None,
                 symbols: tuple[str, ...] = (), attempts: int = 5, base_wait: float = 0.2,
                 rate_limit_ms: float | None = None, metrics=None, throttle: bool = True,
                 spot: bool = False, streams: bool = False) -> None:
        """`streams`: ccxt.pro's class, whose websocket streams (watch_*) come beside REST."""
        if exchange_id not in PROFILES:
            raise ValueError(f"exchange {exchange_id!r} is not supported; "
                             f"choose from {', '.join(PROFILES)}")
        self.name = exchange_id
        self.profile: Profile = PROFILES[exchange_id]
        cls = getattr(ccxtpro if streams else ccxt, self.profile.ccxt_id)
        config: dict[str, Any] = {"apiKey": api_key, "secret": secret, "enableRateLimit": True,
                                  "options": dict(self.profile.options)}
        if spot:  # the basis executor's spot leg: spot markets load beside the perps
            config["options"].update(self.profile.spot_options)
        self.spot = spot
        if rate_limit_ms is not None:  # ms per unit of ccxt's request cost; 0: its limiter off
            config["rateLimit"] = rate_limit_ms
            config["enableRateLimit"] = rate_limit_ms > 0
        self.ex = cls(config)
        if urls:  # a local exchange on loopback
            self.ex.urls["api"] = urls
        elif testnet:
            if self.profile.testnet == "demo":
                self.ex.enable_demo_trading(True)
            else:
                self.ex.set_sandbox_mode(True)
        self.symbols = symbols
        self.requests = Requests(self.profile, attempts, base_wait, metrics, capped=throttle)
        self.call = self.requests.call
        self.markets: dict[str, Market] = {}
        self.watch: dict[str, OrderState] = {}  # working orders this gateway follows
        self.kinds: dict[str, OrderType] = {}
        self.traded: set[str] = set()  # symbols we placed orders on: fills and funding to poll
        self._seen_trades: set[str] = set()
        self.client_ids: dict[str, str] = {}  # exchange order id -> our client id
        self._trades_since: dict[str, int] = {}
        self._order_trade_rank: dict[str, int] = {}
        self._funding_since: dict[str, int] = {}
        self._leverages: dict[str, tuple[float | None, str | None]] | None = None
        self._funding_due = True  # a start asks once: payments made while the bot was down
        self._fills_due = True  # and the fills of orders that filled while it was down

    # ---- the Gateway interface ---------------------------------------------------------
    async def load_markets(self) -> dict[str, Market]:
        raw = await self.call("markets", self.ex.load_markets)
        out = {}
        for sym, m in raw.items():
            if self.symbols and sym not in self.symbols:
                continue
            if not (m.get("swap") and m.get("linear")) and not m.get("spot"):
                continue
            step = dec(m["precision"]["amount"]) or Decimal("0.001")
            tick = dec(m["precision"]["price"]) or Decimal("0.01")
            min_amount = dec(m["limits"]["amount"]["min"]) or step
            min_cost = dec(m["limits"]["cost"]["min"]) or Decimal(5)
            max_lev = (m.get("limits", {}).get("leverage", {}) or {}).get("max") or 125
            out[sym] = Market(sym, m["base"], m["quote"], bool(m.get("spot")), step, tick,
                              min_amount, min_cost, float(max_lev),
                              taker_fee=float(m.get("taker") or 0.0005))
        self.markets = await self._with_brackets(out)
        if self.symbols:  # a start reads their fills: one may have come while the bot was down
            self.traded |= {s for s, m in out.items() if not m.spot}
        return self.markets

    async def _with_brackets(self, markets: dict[str, Market]) -> dict[str, Market]:
        """The exchange's maintenance-margin brackets per perp (liquidation prices and the
        risk checks use them); without them (an exchange or key that cannot read them) the
        configured tiers stand in, and the log says so."""
        perps = [s for s, m in markets.items() if not m.spot]
        if not perps or not self.ex.has.get("fetchLeverageTiers"):
            return markets
        try:
            tiers = await self.call("leverage_tiers", self.ex.fetch_leverage_tiers, perps)
        except ExchangeError as err:
            log.warning(
                "no_leverage_brackets",
                extra=kv(error=repr(err), note="using the configured MMR tiers"),
            )
            return markets
        out = dict(markets)
        for sym in perps:
            rows = sorted(tiers.get(sym) or [], key=lambda r: r.get("maxNotional") or 0)
            got = tuple((float(r["maxNotional"]), float(r["maintenanceMarginRate"]))
                        for r in rows if r.get("maxNotional") and
                        r.get("maintenanceMarginRate") is not None)
            if got:
                out[sym] = replace(markets[sym], mmr_tiers=got)
        return out

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        self._leverages = None
        await self.call("leverage", self.ex.set_leverage, int(leverage), symbol)
        try:
            await self.call("margin_mode", self.ex.set_margin_mode, "isolated", symbol)
        except ExchangeError as err:  # already isolated is fine
            if "No need to change" not in str(err) and "MarginModeAlreadySet" not in type(
                    err).__name__:
                raise

    def _conditional(self, client_id: str) -> bool:
        kind = self.kinds.get(client_id)
        if kind is not None:
            return kind in CONDITIONAL
        parsed = parse_client_id(client_id)
        return parsed is not None and parsed[1] == "stop"

    async def create_order(self, req: OrderRequest) -> OrderState:
        self.kinds[req.client_id] = req.type
        self.traded.add(req.symbol)
        ccxt_type, params = self._order_args(req)
        price = float(req.price) if req.price is not None else None
        state = await self.requests.tries(
            "create_order", lambda n: self._submit(req, ccxt_type, price, params, n))
        if state.status is OrderStatus.OPEN or state.filled > 0:
            self.watch[req.client_id] = state
        self._fills_due |= state.filled > 0
        return state

    async def _submit(self, req: OrderRequest, ccxt_type: str, price: float | None,
                      params: dict, attempt: int) -> OrderState:
        """One submit. An answer lost to a timeout, a drop or a 5xx may hide an executed
        order: it is looked up by client id before tenacity sends it again; a 429/418 is a
        refusal and a DuplicateOrderId on a resend is the lost answer's order, adopted."""
        try:
            raw = await self.call("create_order", self.ex.create_order, req.symbol, ccxt_type,
                                  req.side, float(req.amount), price, params, order=True,
                                  retry=False)
            return await self._created(raw, req)
        except DuplicateOrderId:
            if attempt == 1:  # the caller reused an id: not ours to paper over
                raise
            return await self.fetch_order(req.symbol, req.client_id)  # a lost answer
        except NetworkError as err:
            refused = isinstance(err, (DDoSProtection, RateLimitExceeded))
            log.warning(
                "submit_refused" if refused else "submit_unknown",
                extra=kv(order=req.client_id, attempt=attempt, error=repr(err)),
            )
            found = None if refused else await self._lookup(req.symbol, req.client_id)
            if found is not None:
                return found
            raise

    @property
    def retries(self) -> int:
        return self.requests.retries

    async def _lookup(self, symbol: str, client_id: str) -> OrderState | None:
        try:
            return await self.fetch_order(symbol, client_id)
        except OrderNotFound:
            return None

    async def cancel_order(self, symbol: str, client_id: str) -> OrderState:
        await self.call("cancel_order", self.ex.cancel_order, None, symbol,
                        self._named(client_id))
        state = await self.fetch_order(symbol, client_id)
        self.watch.pop(client_id, None)
        return state

    async def fetch_order(self, symbol: str, client_id: str) -> OrderState:
        raw = await self._fetch_raw(symbol, client_id)
        state = await self._state(raw, symbol, client_id)
        if state.status is OrderStatus.OPEN and parse_client_id(client_id) is not None:
            self.watch[client_id] = state  # an order of ours found working (e.g. at restart)
            self.traded.add(symbol)
        if state.filled > 0:  # a fill of any order of ours (a basis leg too) is stored
            self.traded.add(symbol)
            self._fills_due = True
        return state

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderState]:
        out = []
        for sym in ([symbol] if symbol else self._perp_symbols()):
            for params in self.open_queries:
                rows = await self.call("open_orders", self.ex.fetch_open_orders, sym,
                                        params=dict(params))
                for raw in rows:
                    cid = raw.get("clientOrderId") or ""
                    if params or raw.get("triggerPrice"):
                        self.kinds.setdefault(cid, kind_of(raw))
                    out.append(await self._state(raw, sym, cid, fees=False))
        return out

    async def fetch_positions(self) -> list[Position]:
        out = []
        for p in await self._position_rows():
            info = p.get("info", {})
            amt = dec(info.get("positionAmt")) if "positionAmt" in info else None
            if amt is None:
                contracts = dec(p.get("contracts")) or ZERO
                amt = contracts if p.get("side") != "short" else -contracts
            if amt == 0:
                continue
            self.traded.add(p["symbol"])  # a position pays funding: follow it
            leverage, mode = p.get("leverage"), p.get("marginMode")
            if leverage is None:  # Binance's v3 position rows carry neither: symbolConfig does
                leverage, mode = (await self._settings()).get(p["symbol"], (None, mode))
            mode = mode or MODES.get(str(info.get("tradeMode")))
            entry = info.get("entryPrice") or info.get("avgPrice") or p["entryPrice"]
            out.append(Position(p["symbol"], amt, dec(entry),
                                # posted margin (Binance's isolatedMargin adds the unrealised)
                                dec(info.get("isolatedWallet") or p.get("initialMargin"))
                                or ZERO,
                                float(leverage or 1),
                                dec(info.get("liquidationPrice") or p.get("liquidationPrice")),
                                dec(p.get("unrealizedPnl")) or ZERO, mode or "isolated"))
        return out

    async def _settings(self) -> dict[str, tuple[float | None, str | None]]:
        """Each perp's leverage and margin mode as the exchange holds them (Binance's
        /fapi/v1/symbolConfig), read once and again after set_leverage changed them."""
        if self._leverages is None:
            self._leverages = {}
            if self.ex.has.get("fetchLeverages"):
                got = await self.call("leverages", self.ex.fetch_leverages,
                                      list(self._perp_symbols()))
                self._leverages = {s: (r.get("longLeverage"), r.get("marginMode"))
                                   for s, r in got.items()}
        return self._leverages

    async def fetch_balance(self) -> Balance:
        raw = await self.call("balance", self.ex.fetch_balance)
        info = raw.get("info", {})
        quote = "USDT"
        wallet = dec(info.get("totalWalletBalance")) or dec(raw[quote]["total"]) or ZERO
        equity = dec(info.get("totalMarginBalance")) or wallet
        available = dec(info.get("availableBalance")) or dec(raw[quote]["free"]) or ZERO
        held: dict[str, Decimal] = {}
        if self.spot:
            raw_spot = await self.call("spot_balance", self.ex.fetch_balance,
                                        {"type": "spot", "subType": "spot"})  # not linear
            for row in (raw_spot.get("info") or {}).get("balances", []):
                amount = (dec(row.get("free")) or ZERO) + (dec(row.get("locked")) or ZERO)
                if amount:
                    held[row["asset"]] = amount
        return Balance(wallet, equity, available, held)

    async def poll_events(self) -> list[GatewayEvent]:
        """Order changes (in the order they filled), new fills, and funding payments."""
        changed: list[tuple[int, OrderState]] = []
        for sym in self._perp_symbols():
            mine = {cid: st for cid, st in self.watch.items() if st.symbol == sym}
            if not mine:
                continue
            still_open = {o.client_id: o for o in await self.fetch_open_orders(sym)}
            for cid, old in mine.items():
                new = still_open.get(cid)
                if new is not None and new.filled == old.filled:
                    continue
                new = await self.fetch_order(sym, cid)
                if new.status != old.status or new.filled != old.filled:
                    changed.append((self._fill_rank(new), new))
                if new.status is OrderStatus.OPEN:
                    self.watch[cid] = new
                else:
                    self.watch.pop(cid, None)
        events: list[GatewayEvent] = [st for _, st in sorted(changed, key=lambda x: x[0])]
        if changed or self._fills_due:  # fills (a liquidation expires the reduce-only orders)
            events += await self._new_fills()
            self._fills_due = False
        if self._funding_due:
            self._funding_due = False
            events += await self._funding()
        return events

    def expect_funding(self) -> None:
        """A funding time has passed: the next poll asks for the payments (a costly call)."""
        self._funding_due = True

    def _fill_rank(self, st: OrderState) -> int:
        return self._order_trade_rank.get(st.exchange_id, 10**12)

    async def close(self) -> None:
        await self.ex.close()

    # ---- what differs by venue (BybitGateway overrides these) ------------------------
    open_queries: tuple[dict, ...] = ({}, {"trigger": True})  # plain orders, then conditional

    def _order_args(self, req: OrderRequest) -> tuple[str, dict[str, Any]]:
        return order_args(req, self.profile.trigger_param)

    async def _created(self, raw: dict, req: OrderRequest) -> OrderState:
        """The state of an order from the exchange's answer to placing it."""
        return await self._state(raw, req.symbol, req.client_id)

    def _named(self, client_id: str) -> dict[str, Any]:
        """ccxt's params that name one of our orders by its client id."""
        params: dict[str, Any] = {"clientOrderId": client_id}
        if self._conditional(client_id):
            params["trigger"] = True
        return params

    async def _fetch_raw(self, symbol: str, client_id: str) -> dict:
        return await self.call("fetch_order", self.ex.fetch_order, None, symbol,
                               self._named(client_id))

    async def _trades(self, symbol: str, since: int | None) -> list[dict]:
        return await self.call("my_trades", self.ex.fetch_my_trades, symbol, since)

    async def _position_rows(self) -> list[dict]:
        return await self.call("positions", self.ex.fetch_positions, list(self._perp_symbols()))

    # ---- helpers ---------------------------------------------------------------------
    def _traded_perps(self) -> list[str]:
        """Perps we placed orders on or hold (they have fills and funding to read)."""
        return sorted(s for s in self.traded if s not in self.markets
                      or not self.markets[s].spot)

    def _perp_symbols(self) -> list[str]:
        return [s for s, m in self.markets.items() if not m.spot] or list(self.symbols)

    async def _state(self, raw: dict, symbol: str, client_id: str, fees: bool = True
                     ) -> OrderState:
        info = raw.get("info", {}) or {}
        kind = self.kinds.get(client_id) or kind_of(raw)
        status = STATUS.get(raw.get("status"), OrderStatus.OPEN)
        oid = str(raw.get("id"))
        filled = dec(info.get(self.profile.filled_field)) if self.profile.filled_field else None
        average = dec(info.get(self.profile.average_field)) if self.profile.average_field \
            else None
        fill_id = oid
        self.client_ids[oid] = client_id  # the exchange's trade rows name the order, not us
        actual = info.get(self.profile.actual_order_field) if self.profile.actual_order_field \
            else None
        if kind in CONDITIONAL and actual:
            filled_raw = await self.call("fetch_order", self.ex.fetch_order, str(actual), symbol)
            ainfo = filled_raw.get("info", {})
            filled = dec(ainfo.get(self.profile.filled_field)) or dec(filled_raw.get("filled"))
            average = dec(ainfo.get(self.profile.average_field)) or dec(
                filled_raw.get("average"))
            fill_id = str(actual)
            self.client_ids[fill_id] = client_id
            status = STATUS.get(filled_raw.get("status"), status)  # filled whole or in part
        if filled is None:
            filled = dec(raw.get("filled")) or ZERO
        quote_filled = dec(info.get("cummulativeQuoteQty"))  # spot: exact, no avgPrice
        if (average is None or average == 0) and quote_filled and filled:
            average = quote_filled / filled
        if average is None or average == 0:
            average = dec(raw.get("average")) if filled else None
        fee = await self._fees(symbol, fill_id) if fees and filled else ZERO
        amount = dec(info.get("origQty") or info.get("quantity") or info.get("qty")) \
            or dec(raw.get("amount"))
        return OrderState(client_id, oid, symbol, raw.get("side") or "", kind, amount,
                          dec(raw.get("price")) if kind in LIMIT_PRICED else None,
                          dec(raw.get("triggerPrice")), bool(raw.get("reduceOnly")), status,
                          filled, average if filled else None, fee,
                          int(raw.get("lastUpdateTimestamp") or raw.get("timestamp") or 0))

    async def _fees(self, symbol: str, order_id: str) -> Decimal:
        return await order_fees(self, symbol, order_id)

    async def _new_fills(self) -> list[Fill]:
        return await new_fills(self)

    async def _funding(self) -> list[FundingPayment]:
        """The payments since those already read, oldest first, signed as received."""
        out = []
        for sym in self._traded_perps():
            for r in sorted(await self._funding_rows(sym), key=lambda r: int(r["timestamp"])):
                ts = int(r["timestamp"])
                if ts < self._funding_since.get(sym, 0):
                    continue  # read before (a venue that serves a window, not a start)
                out.append(FundingPayment(sym, ts, 0.0, ZERO, self._received(r)))
                self._funding_since[sym] = ts + 1
        return out

    async def _funding_rows(self, symbol: str) -> list[dict]:
        return await self.call("funding_history", self.ex.fetch_funding_history, symbol,
                               self._funding_since.get(symbol), 1000)

    def _received(self, row: dict) -> Decimal | None:
        """A funding row's cash, positive when received (Binance's income)."""
        return dec((row.get("info") or {}).get("income")) or dec(row.get("amount"))

    async def transfer(self, asset: str, amount: Decimal, to_spot: bool) -> None:
        await transfer_once(self, asset, amount, to_spot)
