"""What the simulated exchange refuses before an order exists: precision, minimums, prices,
a trigger already passed, reduce-only without a position, margin and spot funds — each with
Binance's code in the message and ccxt's exception class."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ccxt.base.errors import InsufficientFunds, InvalidOrder

from bot.exchanges.sim.conditional import check, reduces
from bot.markets import Market, is_multiple
from bot.types import CONDITIONAL, LIMIT_PRICED, OrderRequest, OrderType

if TYPE_CHECKING:
    from bot.exchanges.sim.exchange import SimExchange

ZERO = Decimal(0)


def validate(ex: SimExchange, req: OrderRequest, m: Market) -> None:
    """Refuse what Binance refuses, with its code in the message."""
    if req.side not in ("buy", "sell"):
        raise InvalidOrder(f"-1117 Invalid side {req.side!r}")
    if req.close_position:
        if req.amount != 0:
            raise InvalidOrder("-4137 Quantity must be zero with closePosition equals true")
    elif req.amount <= 0 or not is_multiple(req.amount, m.amount_step):
        raise InvalidOrder(f"-1111 Precision is over the maximum defined for this asset: "
                           f"amount {req.amount}, step {m.amount_step}")
    elif req.amount < m.min_amount:
        raise InvalidOrder(f"-4003 Quantity {req.amount} below minimum {m.min_amount}")
    prices = []
    if req.type in LIMIT_PRICED:
        prices.append(req.price)
    if req.type in CONDITIONAL and not (req.type is OrderType.TRAILING_STOP_MARKET
                                        and req.stop_price is None):  # (its activation)
        prices.append(req.stop_price)
    for px in prices:
        if px is None or px <= 0:
            raise InvalidOrder(f"-1102 {req.type.value} order needs a positive price")
        if not is_multiple(px, m.price_tick):
            raise InvalidOrder(f"-4014 Price {px} not increased by tick size {m.price_tick}")
    if req.symbol not in ex.last:
        raise InvalidOrder(f"-1013 No market price yet for {req.symbol}")
    last = Decimal(repr(ex.last[req.symbol]))
    ref = req.price or req.stop_price or last
    check(req, last)
    if m.spot:
        return check_spot_funds(ex, req, m, ref)
    if req.reduce_only or req.close_position:
        if not reduces(ex.positions.get(req.symbol), req.side):
            raise InvalidOrder("-2022 ReduceOnly Order is rejected: no position to reduce")
        return None
    notional = req.amount * ref
    if notional < m.min_notional:
        raise InvalidOrder(f"-4164 Order's notional must be no smaller than {m.min_notional} "
                           f"(unless you choose reduce only): {notional}")
    need = notional / Decimal(repr(ex.leverage_of(req.symbol))) + notional * ex.taker_fee
    available = ex.balance().available
    if need > available:
        raise InsufficientFunds(f"-2019 Margin is insufficient: need {need:.2f}, "
                                f"available {available:.2f}")
    return None


def check_spot_funds(ex: SimExchange, req: OrderRequest, m: Market, ref: Decimal) -> None:
    if req.amount * ref < m.min_notional:
        raise InvalidOrder(f"-1013 Filter failure: NOTIONAL {req.amount * ref} "
                           f"< {m.min_notional}")
    if req.side == "buy":
        need, have = req.amount * ref * (1 + ex.taker_fee), ex.spot.get(m.quote, ZERO)
        asset = m.quote
    else:
        need, have, asset = req.amount, ex.spot.get(m.base, ZERO), m.base
    if need > have:
        raise InsufficientFunds(f"-2010 Account has insufficient balance: {asset} "
                                f"{have} < {need:.8f}")
