"""Conditional orders: which way each kind's trigger fires, and what it becomes.

A stop sells when the price falls to its trigger and buys when it rises to it; a take-profit
the other way round. A market kind fills at its trigger (at the open on a gap) as a taker; a
limit kind becomes a limit at its own price there: filled at once as a taker when that price
is marketable, else resting as a maker order. A close-position order is for whatever the
position holds when it fires.
"""

from __future__ import annotations

from decimal import Decimal

from ccxt.base.errors import InvalidOrder, OrderImmediatelyFillable

from bot.types import CONDITIONAL, OrderRequest, OrderState, OrderType

STOPS = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
LIMIT_AFTER = frozenset({OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
CLOSABLE = frozenset({OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET})


def fires_below(o: OrderRequest | OrderState) -> bool:
    """True when the order fires as the price falls to its trigger."""
    return (o.side == "sell") == (o.type in STOPS)


def check(req: OrderRequest, last: Decimal) -> None:
    """Refuse as Binance does: a close-position order of a kind that has none, or with an
    amount; a trigger the price already passed (-2021)."""
    if req.close_position and req.type not in CLOSABLE:
        raise InvalidOrder(f"-4136 Target strategy invalid for orderType {req.type.value}, "
                           "closePosition true")
    if req.type in CONDITIONAL:
        trig = req.stop_price
        if (last <= trig) if fires_below(req) else (last >= trig):
            raise OrderImmediatelyFillable(f"-2021 Order would immediately trigger: "
                                           f"trigger {trig}, last {last}")


def marketable(o: OrderState, at: Decimal) -> bool:
    """A limit at `o.price` would take liquidity with the price at `at`."""
    return at <= o.price if o.side == "buy" else at >= o.price
