"""The Bybit v5 JSON shapes of the local exchange's trading answers (orders, positions, the
unified wallet, executions, risk limits), built from SimExchange state, and the engine's
refusals in Bybit's retCodes. Field names and types as Bybit's v5 documentation and ccxt's
recorded answers give them: ids and amounts are strings, orderIds are UUIDs, positionIdx,
triggerDirection, tradeMode, seq and the like are integers."""

from __future__ import annotations

import re
import uuid
from decimal import ROUND_HALF_EVEN, Decimal

from bot.exchanges.localex.dialect import market_id
from bot.markets import Market
from bot.types import (
    CONDITIONAL,
    LIMIT_PRICED,
    OrderState,
    OrderStatus,
    OrderType,
    fires_on_rise,
)

EIGHT = Decimal("0.00000001")

# the engine speaks Binance's codes; Bybit answers the same refusals with its own
RET_CODES = {
    -4116: (110072, "OrderLinkedID is duplicate"),
    -2011: (110001, "Order does not exist"),
    -2013: (110001, "Order does not exist"),
    -4164: (110094, "Order does not meet minimum order value"),
    -2019: (110007, "ab not enough for new order"),
    -2010: (110007, "ab not enough for new order"),
    -2022: (110017, "Reduce-only rule not satisfied"),
    -4028: (10001, "params error: leverage invalid"),
}
CODE = re.compile(r"^(-\d{4})\s+(.*)$", re.DOTALL)


def ret_code(message: str) -> tuple[int, str]:
    """Bybit's retCode and retMsg for an engine refusal ("-4164 Order's notional ...")."""
    m = CODE.match(message)
    if m is None:
        return 10001, f"params error: {message}"
    code, text = RET_CODES.get(int(m.group(1)), (10001, "params error"))
    return code, f"{text}: {m.group(2)}" if code == 10001 else text


def amount(x) -> str:
    """An amount as Bybit writes it: plain, at most eight decimals, no trailing zeros."""
    q = Decimal(x).quantize(EIGHT, rounding=ROUND_HALF_EVEN).normalize()
    return format(q, "f") if q else "0"


def order_uuid(n: int) -> str:
    """Bybit's orderId for the engine's order number n (a UUID string, as linear orders
    carry)."""
    return str(uuid.UUID(int=n))


def order_number(order_id: str) -> int | None:
    try:
        return uuid.UUID(order_id).int
    except ValueError:
        return None


def trigger_direction(kind: OrderType, side: str) -> int:
    """1: triggers when the price rises to it; 2: when it falls (Bybit's triggerDirection)."""
    return 1 if fires_on_rise(kind, side) else 2


def status(o: OrderState, triggered: bool) -> str:
    conditional = o.type in CONDITIONAL
    if o.status is OrderStatus.OPEN:
        if conditional and not triggered:
            return "Untriggered"
        return "PartiallyFilled" if o.filled > 0 else "New"
    if o.status is OrderStatus.CLOSED:
        return "Filled"
    if o.status is OrderStatus.REJECTED:
        return "Rejected"
    if o.filled > 0:  # cancelled or expired after a part filled
        return "PartiallyFilledCanceled"
    return "Deactivated" if conditional and not triggered else "Cancelled"


def order_row(o: OrderState, m: Market, created: int, triggered: bool = False,
              reject: str = "EC_NoError", cancel: str = "UNKNOWN") -> dict:
    """An order as /v5/order/realtime lists it."""
    value = o.filled * o.average if o.filled and o.average is not None else Decimal(0)
    left = o.amount - o.filled if o.status is OrderStatus.OPEN else Decimal(0)
    conditional = o.type in CONDITIONAL
    tif = {"GTX": "PostOnly"}.get(o.time_in_force, o.time_in_force)
    return {
        "symbol": market_id(m), "orderType": "Limit" if o.type in LIMIT_PRICED else "Market",
        "orderLinkId": o.client_id, "slLimitPrice": "0", "orderId": order_uuid(
            int(o.exchange_id)), "cancelType": cancel,
        "avgPrice": amount(o.average) if o.filled and o.average is not None else "",
        "stopOrderType": "Stop" if conditional else "", "lastPriceOnCreated": "",
        "orderStatus": status(o, triggered), "createType": "CreateByUser", "takeProfit": "",
        "cumExecValue": amount(value), "tpslMode": "", "smpType": "None",
        "triggerDirection": trigger_direction(o.type, o.side) if conditional else 0,
        "blockTradeId": "", "cumFeeDetail": {m.quote: amount(o.fee)} if o.filled else {},
        "rejectReason": reject, "isLeverage": "",
        "price": str(o.price) if o.type in LIMIT_PRICED and o.price is not None else "0",
        "orderIv": "", "createdTime": str(created), "tpTriggerBy": "", "positionIdx": 0,
        "timeInForce": tif if o.type in LIMIT_PRICED else "IOC",
        "leavesValue": amount(left * (o.price or 0)), "updatedTime": str(o.timestamp),
        "side": o.side.capitalize(), "smpGroup": 0,
        "triggerPrice": str(o.stop_price) if conditional and o.stop_price else "",
        "tpLimitPrice": "0", "cumExecFee": amount(o.fee), "slTriggerBy": "",
        "leavesQty": str(left), "closeOnTrigger": o.close_position,
        "slippageToleranceType": "UNKNOWN", "placeType": "", "cumExecQty": str(o.filled),
        "reduceOnly": o.reduce_only or o.close_position, "qty": str(o.amount), "stopLoss": "",
        "smpOrderId": "", "slippageTolerance": "0",
        "triggerBy": "LastPrice" if conditional else "", "extraFees": ""}


def position_row(m: Market, pos, mark: Decimal, maint: Decimal, leverage: float,
                 isolated: bool, updated: int, seq: int) -> dict:
    """A position as /v5/position/list lists it (pos None: the symbol's empty row)."""
    size = abs(pos.contracts) if pos is not None else Decimal(0)
    side = "" if pos is None else ("Buy" if pos.contracts > 0 else "Sell")
    entry = pos.entry_price if pos is not None else Decimal(0)
    margin = pos.margin if pos is not None else Decimal(0)
    upnl = pos.unrealised if pos is not None else Decimal(0)
    liq = pos.liquidation_price if pos is not None else None
    return {
        "positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000", "symbol": market_id(m),
        "side": side, "size": format(size.quantize(m.amount_step), "f"),
        "avgPrice": amount(entry), "positionValue": amount(size * entry) if size else "",
        "tradeMode": 1 if isolated else 0, "autoAddMargin": 0, "positionStatus": "Normal",
        "leverage": amount(Decimal(repr(leverage))), "markPrice": amount(mark),
        "liqPrice": amount(liq) if liq else "", "bustPrice": "",
        "positionIM": amount(margin), "positionMM": amount(maint),
        "positionBalance": amount(margin), "tpslMode": "Full", "takeProfit": "",
        "stopLoss": "", "trailingStop": "0", "unrealisedPnl": amount(upnl) if size else "",
        "curRealisedPnl": "0", "cumRealisedPnl": "0", "adlRankIndicator": 2 if size else 0,
        "isReduceOnly": False, "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "",
        "createdTime": str(updated), "updatedTime": str(updated), "seq": seq}


def wallet(bal, maint: Decimal, quote: str = "USDT") -> dict:
    """The unified account as /v5/account/wallet-balance lists it: one coin, the quote."""
    used = bal.wallet - bal.available
    upnl = bal.equity - bal.wallet
    coin = {
        "availableToBorrow": "", "bonus": "0", "accruedInterest": "0",
        "availableToWithdraw": "", "totalOrderIM": "0", "equity": amount(bal.equity),
        "totalPositionMM": amount(maint), "usdValue": amount(bal.equity),
        "unrealisedPnl": amount(upnl), "collateralSwitch": True, "spotHedgingQty": "0",
        "borrowAmount": "0.000000000000000000", "totalPositionIM": amount(used),
        "walletBalance": amount(bal.wallet), "cumRealisedPnl": "0", "locked": "0",
        "marginCollateral": True, "coin": quote}
    return {
        "totalEquity": amount(bal.equity),
        "accountIMRate": amount(used / bal.equity) if bal.equity else "0",
        "totalMarginBalance": amount(bal.equity), "totalInitialMargin": amount(used),
        "accountType": "UNIFIED", "totalAvailableBalance": amount(bal.available),
        "accountMMRate": amount(maint / bal.equity) if bal.equity else "0",
        "totalPerpUPL": amount(upnl), "totalWalletBalance": amount(bal.wallet),
        "accountLTV": "0", "totalMaintenanceMargin": amount(maint), "coin": [coin]}


def execution(m: Market, *, exec_type: str, order_id: str, link_id: str, side: str,
              qty: Decimal, price: Decimal, fee: Decimal, fee_rate: str, maker: bool,
              at: int, seq: int, order_type: str = "Market", order_qty: str = "0",
              order_price: str = "0", create_type: str = "CreateByUser") -> dict:
    """One row of /v5/execution/list: a trade, a liquidation's takeover (BustTrade), or a
    funding settlement (execFee: what was paid, negative when received)."""
    return {
        "symbol": market_id(m), "orderType": order_type, "underlyingPrice": "",
        "orderLinkId": link_id, "orderId": order_id,
        "stopOrderType": "UNKNOWN", "execTime": str(at), "feeCurrency": "",
        "createType": create_type, "feeRate": fee_rate, "tradeIv": "", "blockTradeId": "",
        "markPrice": str(price), "execPrice": str(price), "markIv": "", "orderQty": order_qty,
        "orderPrice": order_price, "execValue": amount(qty * price), "closedSize": "0",
        "execType": exec_type, "seq": seq, "side": side, "indexPrice": "",
        "leavesQty": "0", "isMaker": maker, "execFee": amount(fee),
        "execId": str(uuid.UUID(int=(1 << 64) + seq)), "marketUnit": "", "execQty": str(qty)}


def risk_limits(m: Market, tiers, max_leverage: float) -> list[dict]:
    """/v5/market/risk-limit's tiers of one symbol: the cap of each and its maintenance
    rate, with the deduction that keeps the maintenance margin continuous."""
    out, floor, deduction, last = [], 0.0, 0.0, 0.0
    for i, (cap, rate) in enumerate(tiers, 1):
        deduction += floor * (rate - last)
        top = min(cap, 1e12)
        out.append({"id": i, "symbol": market_id(m), "riskLimitValue": str(int(top)),
                    "maintenanceMargin": amount(Decimal(repr(rate))),
                    "initialMargin": amount(Decimal(1) / Decimal(repr(max_leverage))),
                    "isLowestRisk": 1 if i == 1 else 0,
                    "maxLeverage": amount(Decimal(repr(max_leverage))),
                    "mmDeduction": amount(Decimal(repr(round(deduction, 8))))})
        floor, last = top, rate
    return out
