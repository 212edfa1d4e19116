"""The two legs of a basis pair: which market and side each of its orders is, and what a
fill does to the pair's record (spot held at cost, the short at its average entry)."""

from __future__ import annotations

from decimal import Decimal

from state.models import BasisTrade

ZERO = Decimal(0)
# leg → (market, side, reduce_only): spot/perp build the pair, spotx/perpx take it apart
LEGS = {"spot": ("spot", "buy", False), "perp": ("perp", "sell", False),
        "spotx": ("spot", "sell", False), "perpx": ("perp", "buy", True)}


def book_leg(b: BasisTrade, leg: str, amount: Decimal, price: Decimal, fee: Decimal) -> None:
    """What a fill of `amount` at `price` (its fee) does to the pair's record."""
    if leg == "spot":
        b.spot_filled += amount
        b.spot_cost += amount * price
        b.spot_fees += fee
    elif leg == "spotx":
        avg = b.spot_cost / b.spot_filled if b.spot_filled else price
        b.spot_realised += (price - avg) * amount
        b.spot_cost -= avg * amount
        b.spot_filled -= amount
        b.spot_fees += fee
    elif leg == "perp":
        b.perp_entry = ((b.perp_entry or ZERO) * b.perp_filled + price * amount) / (
            b.perp_filled + amount)
        b.perp_filled += amount
        b.perp_fees += fee
    else:  # perpx: a buy back of the short
        b.perp_realised += ((b.perp_entry or price) - price) * amount
        b.perp_filled -= amount
        b.perp_fees += fee
