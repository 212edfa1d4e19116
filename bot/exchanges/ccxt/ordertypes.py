"""Our order kinds in ccxt's words, and back: a stop is ccxt's trigger price on a market
(or limit) order, a take-profit its takeProfitPrice, post-only its postOnly; what a venue's
answer calls an order (Binance's orderType/origType; Bybit's triggerDirection with the side)
names our kind for an order we did not send in this life (found at a restart)."""

from __future__ import annotations

from typing import Any

from bot.types import LIMIT_PRICED, VENUE_NAMES, OrderRequest, OrderType, conditional_kind

STOPS = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
TAKES = frozenset({OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT})


def order_args(req: OrderRequest, trigger_param: str) -> tuple[str, dict[str, Any]]:
    """ccxt's order type and params for a request."""
    params: dict[str, Any] = {"clientOrderId": req.client_id}
    if req.reduce_only and not req.close_position:  # closePosition is reduce-only itself
        params["reduceOnly"] = True
    if req.type in STOPS:
        params[trigger_param] = float(req.stop_price)
    elif req.type in TAKES:
        params["takeProfitPrice"] = float(req.stop_price)
    elif req.type is OrderType.TRAILING_STOP_MARKET:  # ccxt's trailingPercent: a callback %
        params["trailingPercent"] = float(req.callback_rate)
        if req.stop_price is not None:
            params["trailingTriggerPrice"] = float(req.stop_price)
    if req.close_position:
        params["closePosition"] = True
    if req.type is OrderType.LIMIT:  # post-only in ccxt's words (Binance's GTX)
        params.update({"postOnly": True} if req.time_in_force == "GTX"
                      else {"timeInForce": req.time_in_force})
    return ("limit" if req.type in LIMIT_PRICED else "market"), params


def kind_of(raw: dict) -> OrderType:
    """Our kind of an order as the venue reports it."""
    info = raw.get("info") or {}
    named = VENUE_NAMES.get(str(info.get("orderType") or info.get("origType") or ""))
    if named is not None:
        return named
    direction = str(info.get("triggerDirection") or "0")
    if raw.get("triggerPrice") and direction in ("1", "2"):  # Bybit's: 1 rising, 2 falling
        return conditional_kind(raw.get("side") or "", direction == "1",
                                raw.get("type") == "limit")
    if raw.get("triggerPrice"):
        return OrderType.STOP_MARKET
    return OrderType.LIMIT if raw.get("type") == "limit" else OrderType.MARKET
