"""Conditional orders: which way each kind's trigger fires, and what it becomes.

A stop sells when the price falls to its trigger and buys when it rises to it; a take-profit
the other way round. A trailing stop's trigger follows the best price since it activated
(at once, or once the price reached its activation price) at `callback_rate` % behind it. A market kind fills at its trigger (at the open on a gap) as a taker; a
limit kind becomes a limit at its own price there: filled at once as a taker when that price
is marketable, else resting as a maker order. A close-position order is for whatever the
position holds when it fires.
"""

from __future__ import annotations

from decimal import Decimal

from ccxt.base.errors import InvalidOrder, OrderImmediatelyFillable

from bot.types import CONDITIONAL, LIMIT_PRICED, OrderRequest, OrderState, OrderType

STOPS = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT,
                   OrderType.TRAILING_STOP_MARKET})
TRAILING = OrderType.TRAILING_STOP_MARKET
LIMIT_AFTER = LIMIT_PRICED & CONDITIONAL  # a limit once triggered
CLOSABLE = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})


def fires_below(o: OrderRequest | OrderState) -> bool:
    """True when the order fires as the price falls to its trigger."""
    return (o.side == "sell") == (o.type in STOPS)


def check(req: OrderRequest, last: Decimal) -> None:
    """Refuse as Binance does: a close-position order of a kind that has none (-4136), a
    trailing callback outside 0.1–10 % (-2007), a trigger the price already passed (-2021)."""
    if req.close_position and req.type not in CLOSABLE:
        raise InvalidOrder(f"-4136 Target strategy invalid for orderType {req.type.value}, "
                           "closePosition true")
    if req.type is TRAILING:
        if req.callback_rate is None or not Decimal("0.1") <= req.callback_rate <= 10:
            raise InvalidOrder(f"-2007 Invalid callBack rate {req.callback_rate}: "
                               "from 0.1 to 10 (%)")
    elif req.type in CONDITIONAL:
        trig = req.stop_price
        if (last <= trig) if fires_below(req) else (last >= trig):
            raise OrderImmediatelyFillable(f"-2021 Order would immediately trigger: "
                                           f"trigger {trig}, last {last}")


def activated(o: OrderRequest | OrderState, price: Decimal) -> bool:
    """A trailing stop follows the price from its activation price on (a sell once the
    price rose to it, a buy once it fell to it); without one, from the start."""
    if o.stop_price is None:
        return True
    return price >= o.stop_price if o.side == "sell" else price <= o.stop_price


def follow(o: OrderState, best: Decimal | None, price: Decimal) -> Decimal | None:
    """The best price a trailing stop has seen, once `price` traded."""
    if best is None:
        return price if activated(o, price) else None
    return max(best, price) if o.side == "sell" else min(best, price)


def trail_trigger(o: OrderState, best: Decimal, tick: Decimal) -> Decimal:
    """Where the trailing stop fires: callback_rate % behind the best, at the tick."""
    d = -1 if o.side == "sell" else 1
    return (best * (1 + d * o.callback_rate / 100) / tick).to_integral_value() * tick


def reduces(pos, side: str) -> bool:
    """An order on `side` makes the position `pos` (None: none held) smaller."""
    return pos is not None and pos.contracts != 0 and (pos.contracts > 0) != (side == "buy")


def marketable(o: OrderRequest | OrderState, at: Decimal) -> bool:
    """A limit at `o.price` would take liquidity with the price at `at`."""
    return at <= o.price if o.side == "buy" else at >= o.price
