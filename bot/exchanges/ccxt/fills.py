"""Fills read from the account's trade list: what our orders' own states do not carry (an
audit record of every fill) and liquidations. Binance's trade rows name the order by its
id, not by our client id, and do not say which were liquidations: the client id comes from
the orders the gateway has seen, and a liquidation is an order in /fapi/v1/forceOrders
(client id `autoclose-…`, or `adl_autoclose…` for an auto-deleverage). Bybit's executions
name our client id (orderLinkId) and list a liquidation as a BustTrade."""

from __future__ import annotations

import logging
from decimal import Decimal

from bot.exchanges.ccxt.decimals import ZERO, dec
from bot.logs import kv
from bot.types import Fill

log = logging.getLogger("derivbot.ccxt")
FORCED = ("autoclose", "adl_autoclose")
TAKEOVER = ("BustTrade", "AdlTrade")  # Bybit's executions of a liquidation or deleverage


async def forced_orders(gw, symbol: str, since: int | None) -> set[str]:
    """The ids of the orders the exchange placed to liquidate or deleverage us."""
    if gw.name != "binanceusdm":
        return set()
    params = {"symbol": gw.ex.market(symbol)["id"]}
    if since:
        params["startTime"] = since
    rows = await gw.call("force_orders", gw.ex.fapiPrivateGetForceOrders, params)
    return {str(r["orderId"]) for r in rows
            if str(r.get("clientOrderId") or "").startswith(FORCED)}


async def new_fills(gw) -> list[Fill]:
    out = []
    for sym in gw._traded_perps():
        since = gw._trades_since.get(sym)
        trades = await gw._trades(sym, since)
        fresh = [t for t in trades if str(t.get("id")) not in gw._seen_trades]
        strangers = [t for t in fresh if not _client_id(gw, t)]
        forced = await forced_orders(gw, sym, since) if strangers else set()
        for t in fresh:
            tid = str(t.get("id"))
            gw._seen_trades.add(tid)
            gw._trades_since[sym] = max(gw._trades_since.get(sym, 0),
                                        int(t.get("timestamp") or 0))
            info = t.get("info", {})
            cid = _client_id(gw, t)
            liquidation = (bool(info.get("liquidation")) or cid.startswith(FORCED)
                           or str(t.get("order")) in forced or info.get("execType") in TAKEOVER)
            fee = dec(info.get(gw.profile.fee_field)) if gw.profile.fee_field else None
            out.append(Fill("" if liquidation else cid, str(t.get("order")), sym,
                            t.get("side") or "",
                            dec(info.get("qty") or info.get("execQty")) or dec(t["amount"]),
                            dec(info.get("price") or info.get("execPrice")) or dec(t["price"]),
                            fee if fee is not None else ZERO, int(t.get("timestamp") or 0),
                            liquidation, tid))
    return out


def _client_id(gw, trade: dict) -> str:
    """Our client id of the trade's order: the venue's field when it sends one (Bybit's
    orderLinkId, OKX's clOrdId), else the order the gateway knows by its id."""
    info = trade.get("info", {}) or {}
    return str(info.get("clientOrderId") or info.get("orderLinkId") or info.get("clOrdId")
               or gw.client_ids.get(str(trade.get("order")), ""))


async def order_fees(gw, symbol: str, order_id: str) -> Decimal:
    """The order's fees in the quote currency. A fee charged in the base asset (spot
    buys on Binance) is valued at its fill's price; one charged in another asset (BNB)
    is logged and not counted, as it never touches the quote balance."""
    trades = await gw.call("my_trades", gw.ex.fetch_my_trades, symbol,
                           params={"orderId": order_id})
    market = gw.markets.get(symbol)
    total = ZERO
    for t in trades:
        info = t.get("info", {})
        raw = info.get(gw.profile.fee_field) if gw.profile.fee_field else None
        fee = dec(raw) if raw is not None else dec((t.get("fee") or {}).get("cost")) \
            or ZERO
        asset = info.get("commissionAsset") or (t.get("fee") or {}).get("currency")
        if market is not None and asset and asset != market.quote:
            if asset == market.base:
                fee *= dec(info.get("price")) or dec(t.get("price")) or ZERO
            else:
                log.warning(
                    "fee_in_other_asset", extra=kv(order=order_id, asset=asset, fee=fee)
                )
                fee = ZERO
        total += fee
        rank = int(info.get("id") or info.get("seq") or 0)  # the venue's fill order
        gw._order_trade_rank[order_id] = min(gw._order_trade_rank.get(order_id, rank), rank)
    return total
