"""Where an order goes in size and price: targets split by fraction, a post-only entry a
few ticks passive of the plan's entry, an IOC exit a band through the last price; and when
an entry or an exit that did not complete is followed by a market order."""

from __future__ import annotations

from decimal import Decimal

from bot.config import OrdersConfig
from bot.execution.trade import OrderLife
from bot.markets import Market
from bot.types import OrderType
from state.models import Order, Trade

ZERO = Decimal(0)


def split_amounts(total: Decimal, fractions: list[float], market: Market) -> list[Decimal]:
    """Target amounts by fraction, rounded down; the last takes the remainder so they sum up.

    A slice below the market minimum is folded into the next target.
    """
    out: list[Decimal] = []
    carry = ZERO
    for i, f in enumerate(fractions):
        if i == len(fractions) - 1:
            amount = total - sum(out, ZERO)
        else:
            amount = market.amount_to_precision(total * Decimal(repr(f))) + carry
        if amount < market.min_amount and i < len(fractions) - 1:
            carry, amount = amount, ZERO
        else:
            carry = ZERO
        out.append(amount)
    return out


def post_only_price(cfg: OrdersConfig, market: Market, side: str, entry: float) -> Decimal:
    """A maker entry: `post_only_ticks` under the plan's entry for a long, over for a short."""
    d = 1 if side == "long" else -1
    return market.price_to_precision(entry) - d * cfg.post_only_ticks * market.price_tick


def ioc_exit_price(cfg: OrdersConfig, market: Market, side: str, last: float) -> Decimal:
    """An exit that takes what the book offers within `exit_band_bps` of the last price: a
    long sells down to last × (1 − band), a short buys up to last × (1 + band)."""
    d = 1 if side == "long" else -1
    return market.price_to_precision(last * (1 - d * cfg.exit_band_bps / 10_000))


def target_kind(cfg: OrdersConfig, market: Market, side: str):
    """How a target goes out: a reduce-only limit resting in the book, or (target_type =
    take_profit) Binance's TAKE_PROFIT: out of the book until the price comes within a tick
    of the target, then a limit at it (so it still fills as a maker)."""
    if cfg.target_type == "limit":
        return OrderType.LIMIT, lambda price: None
    d = 1 if side == "long" else -1
    return OrderType.TAKE_PROFIT_LIMIT, lambda price: (
        market.price_to_precision(price) - d * market.price_tick)


def entry_falls_back(cfg: OrdersConfig, trade: Trade, order: Order | None) -> bool:
    """A post-only entry the exchange refused as a taker (-5022), or pulled unfilled when
    its time was up, is followed by a market entry when [orders] says so (not one a person
    or the kill switch pulled: that trade has a close reason)."""
    return (order is not None and order.type == OrderType.LIMIT.value
            and not trade.close_reason
            and cfg.entry_type == "post_only" and cfg.post_only_fallback == "market"
            and (order.state == OrderLife.CANCELED.value
                 or (order.state == OrderLife.REJECTED.value and "-5022" in order.reason)))


def exit_rest_at_market(trade: Trade, order: Order | None) -> bool:
    """An IOC exit that ended with part of the position still held: the rest goes at
    market (a position is never left open by an exit)."""
    return (order is not None and order.leg == "exit" and order.type == OrderType.LIMIT.value
            and order.state in (OrderLife.EXPIRED.value, OrderLife.CANCELED.value,
                                OrderLife.REJECTED.value)
            and trade.filled > trade.exited)
