"""The Binance USD-M JSON shapes the local exchange answers with, built from SimExchange state."""

from __future__ import annotations

from decimal import Decimal

from bot.markets import Market
from bot.types import LIMIT_PRICED, VENUE_NAMES, OrderState, OrderStatus

STATUS = {
    OrderStatus.OPEN: "NEW",
    OrderStatus.CLOSED: "FILLED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}
ALGO_STATUS = {
    OrderStatus.OPEN: "NEW",
    OrderStatus.CLOSED: "FINISHED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}
ALGO_NAMES = {v: k for k, v in VENUE_NAMES.items()}
ACTUAL_ID_OFFSET = 10_000_000  # a triggered algo order's market order gets algoId + this
FORCED_ID_OFFSET = 90_000_000  # the exchange's liquidation orders


def market_id(m: Market) -> str:
    return f"{m.base}{m.quote}"


def decimal(x: float, step: Decimal) -> str:
    """A price as Binance writes it: plain, at the market's tick (no 1e-05, no float tail)."""
    return format(Decimal(repr(float(x))).quantize(step), "f")


def rate(x: float) -> str:
    """A funding rate as Binance writes it: eight decimals, never scientific notation."""
    return format(Decimal(repr(float(x))).quantize(Decimal("0.00000001")), "f")


def _digits(step: Decimal) -> int:
    return max(-step.normalize().as_tuple().exponent, 0)


def symbol_info(m: Market, mmr_pct: str = "2.5000") -> dict:
    return {
        "symbol": market_id(m), "pair": market_id(m), "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
        "maintMarginPercent": mmr_pct, "requiredMarginPercent": "5.0000",
        "baseAsset": m.base, "quoteAsset": m.quote, "marginAsset": m.quote,
        "pricePrecision": _digits(m.price_tick), "quantityPrecision": _digits(m.amount_step),
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": str(m.price_tick),
             "maxPrice": "10000000", "tickSize": str(m.price_tick)},
            {"filterType": "LOT_SIZE", "stepSize": str(m.amount_step), "maxQty": "100000",
             "minQty": str(m.min_amount)},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": str(m.amount_step),
             "maxQty": "100000", "minQty": str(m.min_amount)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": str(m.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def spot_symbol_info(m: Market) -> dict:
    return {
        "symbol": market_id(m), "status": "TRADING", "baseAsset": m.base,
        "baseAssetPrecision": 8, "quoteAsset": m.quote, "quotePrecision": 8,
        "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False, "permissions": ["SPOT"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": str(m.price_tick),
             "maxPrice": "10000000", "tickSize": str(m.price_tick)},
            {"filterType": "LOT_SIZE", "minQty": str(m.min_amount), "maxQty": "100000",
             "stepSize": str(m.amount_step)},
            {"filterType": "NOTIONAL", "minNotional": str(m.min_notional),
             "maxNotional": "9000000"},
        ],
    }


def order_json(o: OrderState, m: Market, query: bool = True) -> dict:
    """An order as GET /fapi/v1/order and openOrders list it (`time`, no `cumQty`), or, with
    query=False, as placing or cancelling it answers (`cumQty`, no `time`)."""
    avg = o.average if o.average is not None else Decimal(0)
    kind = "LIMIT" if o.type in LIMIT_PRICED else "MARKET"
    status = STATUS[o.status]
    if o.status is OrderStatus.OPEN and o.filled > 0:
        status = "PARTIALLY_FILLED"
    body = {
        "orderId": int(o.exchange_id), "symbol": market_id(m), "status": status,
        "clientOrderId": o.client_id, "price": str(o.price or 0), "avgPrice": str(avg),
        "origQty": str(o.amount), "executedQty": str(o.filled), "cumQty": str(o.filled),
        "cumQuote": str(o.filled * avg), "timeInForce": o.time_in_force, "type": kind,
        "reduceOnly": o.reduce_only, "closePosition": False, "side": o.side.upper(),
        "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
        "priceProtect": False, "origType": kind, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0, "time": o.timestamp,
        "updateTime": o.timestamp,
    }
    del body["cumQty" if query else "time"]
    return body


def actual_order_json(o: OrderState, m: Market) -> dict:
    """The market order a triggered stop became: it carries the fill."""
    body = order_json(o, m)
    body.update(orderId=int(o.exchange_id) + ACTUAL_ID_OFFSET,
                origType=ALGO_NAMES[o.type], stopPrice=str(o.stop_price or 0),
                closePosition=o.close_position)
    return body


def algo_json(o: OrderState, m: Market, working_type: str = "CONTRACT_PRICE") -> dict:
    """A triggered stop is FINISHED and points at the market order it became, whether that
    order filled whole or (the position being smaller) in part."""
    done = o.filled > 0
    trailing = {} if o.callback_rate is None else {
        "activatePrice": str(o.stop_price or ""), "callbackRate": str(o.callback_rate)}
    return trailing | {
        "algoId": int(o.exchange_id), "clientAlgoId": o.client_id, "algoType": "CONDITIONAL",
        "orderType": ALGO_NAMES[o.type], "symbol": market_id(m), "side": o.side.upper(),
        "positionSide": "BOTH", "timeInForce": "GTC", "quantity": str(o.amount),
        "algoStatus": "FINISHED" if done else ALGO_STATUS[o.status],
        "triggerPrice": str(o.stop_price or "0"),
        "price": str(o.price or "0.00"), "icebergQuantity": None,
        "selfTradePreventionMode": "NONE", "workingType": working_type, "priceMatch": "NONE",
        "closePosition": o.close_position,
        "priceProtect": False, "reduceOnly": o.reduce_only, "createTime": o.timestamp,
        "updateTime": o.timestamp, "triggerTime": o.timestamp if done else 0, "goodTillDate": 0,
        "actualOrderId": str(int(o.exchange_id) + ACTUAL_ID_OFFSET) if done else "",
        "actualPrice": str(o.average) if done and o.average is not None else "0",
    }


def force_order(m: Market, oid: int, fill) -> dict:
    """A liquidation order as /fapi/v1/forceOrders lists it (client id `autoclose-…`)."""
    qty, px = str(fill.amount), str(fill.price)
    return {"orderId": oid, "symbol": market_id(m), "status": "FILLED",
            "clientOrderId": f"autoclose-{fill.timestamp}", "price": px, "avgPrice": px,
            "origQty": qty, "executedQty": qty, "cumQuote": str(fill.amount * fill.price),
            "timeInForce": "IOC", "type": "LIMIT", "reduceOnly": False,
            "closePosition": False, "side": fill.side.upper(), "positionSide": "BOTH",
            "stopPrice": "0", "workingType": "CONTRACT_PRICE", "origType": "LIMIT",
            "time": fill.timestamp, "updateTime": fill.timestamp}

