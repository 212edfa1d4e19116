"""Position size, margin and isolated-margin liquidation price (SPEC §4, §8)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, Decimal, localcontext


def round_down(value: float, step: Decimal) -> Decimal:
    """Largest multiple of `step` not above `value` (non-negative values)."""
    if value <= 0:
        return Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 400  # any float, in units of any step, exactly (28 digits overflow 1e28)
        # a nudge of 1e-12 of the value (never a millionth of a step: no more than float
        # noise) keeps 2.9999999999999996 (float noise for 3) from losing a step
        nudged = value + min(value * 1e-12, float(step) * 1e-6)
        units = (Decimal(repr(nudged)) / step).to_integral_value(rounding=ROUND_DOWN)
        if not units:
            return Decimal(0)
        plain = (units * step).normalize()  # 0.010 -> 0.01, but 150.000 -> 1.5E+2: written
        return plain.quantize(Decimal(1)) if plain.as_tuple().exponent > 0 else plain


def risk_cash(equity: float, fraction: float) -> float:
    return equity * fraction


def position_size(equity: float, fraction: float, entry: float, stop: float,
                  amount_step: Decimal) -> Decimal:
    """size = risk cash / |entry − stop|, rounded down to the market's amount step."""
    distance = abs(entry - stop)
    if distance <= 0:
        raise ValueError(f"stop {stop} equals entry {entry}")
    return round_down(risk_cash(equity, fraction) / distance, amount_step)


def margin(size: float, entry: float, leverage: float) -> float:
    return size * entry / leverage


def liquidation_price(entry: float, leverage: float, mmr: float, direction: int) -> float:
    """Isolated linear perp: long entry×(1 − 1/L + mmr), short entry×(1 + 1/L − mmr)."""
    if leverage <= 0:
        raise ValueError(f"leverage must be positive, got {leverage}")
    if direction > 0:
        return entry * (1 - 1 / leverage + mmr)
    return entry * (1 + 1 / leverage - mmr)


def mmr_for(notional: float, tiers: Sequence[tuple[float, float]]) -> float:
    """The maintenance margin rate of the tier this notional falls in."""
    for cap, rate in tiers:
        if notional <= cap:
            return rate
    return tiers[-1][1]


def isolated_liquidation(entry: float, size: float, leverage: float, direction: int,
                         tiers: Sequence[tuple[float, float]]) -> float:
    """The liquidation price of an isolated position of `size` at `entry`, with the
    maintenance rate of its notional's tier — the one calculation the risk manager and
    `derivbot size` share."""
    return liquidation_price(entry, leverage, mmr_for(size * entry, tiers), direction)
