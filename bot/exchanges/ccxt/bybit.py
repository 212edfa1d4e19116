"""The Gateway on ccxt's bybit class: Bybit v5, a unified trading account, linear perps.

Where Bybit differs from Binance, and what this does about it:
- Placing an order answers only its ids: the order is read back (by orderLinkId, our client
  id) for its status and fill — a market order is filled by then, a post-only order that
  would have taken is already cancelled.
- An order is looked up by orderLinkId on /v5/order/realtime, which answers for any recent
  order whatever its status (ccxt's fetch_order wants the exchange's orderId).
- A conditional order carries a triggerDirection (rising or falling), taken from its kind
  and side; Bybit trails only a whole position's stop, so a trailing-stop order is refused
  here with the reason.
- Positions are read for the account in one call (ccxt's bybit takes at most one symbol).
- Executions, funding included, are served seven days at a time: fills and funding are read
  from the last seven days and told apart by their ids; a liquidation is a BustTrade, read
  by its own execType. A funding execution's fee is what was paid: its sign is flipped.
- Leverage already at the asked value answers 110043, which is not an error here.
- An order Bybit ended itself is "Cancelled" with a cancelType other than CancelByUser: it
  is read as expired, as Binance reports it (a post-only order that would have taken stays
  cancelled, so the order manager's fallback follows it as on Binance).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from ccxt.base.errors import BadRequest, InvalidOrder, OrderNotFound

from bot.exchanges.ccxt.decimals import ZERO, dec
from bot.exchanges.ccxt.gateway import CcxtGateway
from bot.types import (
    CONDITIONAL,
    Balance,
    OrderRequest,
    OrderState,
    OrderStatus,
    OrderType,
    fires_on_rise,
)

EXECUTIONS = 100  # rows per page of /v5/execution/list


class BybitGateway(CcxtGateway):
    open_queries = ({},)  # /v5/order/realtime lists plain and conditional orders together

    def __init__(self, exchange_id: str = "bybit", *args, **kw) -> None:
        super().__init__(exchange_id, *args, **kw)
        # coin and chain lists (/v5/asset/coin/query-info) need a key with asset rights and
        # nothing here reads them
        self.ex.has = {**self.ex.has, "fetchCurrencies": False}
        if self.spot:
            raise ValueError("the basis executor's spot leg is not supported on bybit; "
                             "set [basis] enabled = false or trade it on binanceusdm")

    def _order_args(self, req: OrderRequest) -> tuple[str, dict[str, Any]]:
        if req.type is OrderType.TRAILING_STOP_MARKET:
            raise InvalidOrder("bybit trails only a whole position's stop, not an order: "
                               f"{req.client_id} refused (move a stop order instead)")
        ccxt_type, params = super()._order_args(req)
        params.pop("takeProfitPrice", None)
        params.pop("closePosition", None)
        if req.type in CONDITIONAL:
            params["triggerPrice"] = float(req.stop_price)
            params["triggerDirection"] = "ascending" if fires_on_rise(req.type, req.side) \
                else "descending"
        if req.close_position:  # the whole position when it triggers
            params.update(qty="0", closeOnTrigger=True, reduceOnly=True)
        return ccxt_type, params

    async def _state(self, raw: dict, symbol: str, client_id: str, fees: bool = True
                     ) -> OrderState:
        """As the common gateway reads it, but an order Bybit ended itself (a reduce-only
        order left with nothing to reduce, an IOC with nothing to take) is expired, not
        cancelled: Bybit calls both Cancelled and says who in cancelType."""
        state = await super()._state(raw, symbol, client_id, fees)
        info = raw.get("info") or {}
        if state.status is OrderStatus.CANCELED and info.get("cancelType") != "CancelByUser" \
                and info.get("rejectReason") != "EC_PostOnlyWillTakeLiquidity":
            return replace(state, status=OrderStatus.EXPIRED)
        return state

    async def _created(self, raw: dict, req: OrderRequest) -> OrderState:
        return await self.fetch_order(req.symbol, req.client_id)

    def _named(self, client_id: str) -> dict[str, Any]:
        return {"orderLinkId": client_id}

    async def _fetch_raw(self, symbol: str, client_id: str) -> dict:
        rows = await self.call("fetch_order", self.ex.fetch_open_orders, symbol, None, None,
                               self._named(client_id))
        if not rows:
            raise OrderNotFound(f"bybit order {client_id} does not exist")
        return rows[0]

    async def _position_rows(self) -> list[dict]:
        mine = set(self._perp_symbols())
        rows = await self.call("positions", self.ex.fetch_positions, None)
        return [p for p in rows if p.get("symbol") in mine]

    async def set_leverage(self, symbol: str, leverage: float) -> None:
        try:
            await super().set_leverage(symbol, leverage)
        except BadRequest as err:
            if "110043" not in str(err):  # "Set leverage not modified"
                raise
            await self.call("margin_mode", self.ex.set_margin_mode, "isolated", symbol)

    async def _trades(self, symbol: str, since: int | None) -> list[dict]:
        """The last seven days' trades and liquidation takeovers of `symbol`."""
        out = []
        for kind in ("Trade", "BustTrade"):
            out += await self.call("my_trades", self.ex.fetch_my_trades, symbol, None,
                                   EXECUTIONS, {"execType": kind, "paginate": True})
        return sorted(out, key=lambda t: int((t.get("info") or {}).get("seq") or 0))

    async def fetch_balance(self) -> Balance:
        raw = await self.call("balance", self.ex.fetch_balance)
        (account,) = [a for a in raw["info"]["result"]["list"]
                      if a.get("accountType") == "UNIFIED"] or [{}]
        coin = next((c for c in account.get("coin", []) if c.get("coin") == "USDT"), {})
        wallet = dec(coin.get("walletBalance")) or ZERO
        return Balance(wallet, dec(coin.get("equity")) or wallet,
                       dec(account.get("totalAvailableBalance")) or dec(
                           raw.get("USDT", {}).get("free")) or ZERO, {})

    async def _funding_rows(self, symbol: str) -> list[dict]:
        """The last seven days' settlements (Bybit serves a window, not a start)."""
        return await self.call("funding_history", self.ex.fetch_funding_history, symbol,
                               None, EXECUTIONS, {"limit": EXECUTIONS, "paginate": True})

    def _received(self, row: dict) -> Decimal:
        """Bybit's execFee is what was paid: received is its negative."""
        return -(dec((row.get("info") or {}).get("execFee")) or Decimal(0))
