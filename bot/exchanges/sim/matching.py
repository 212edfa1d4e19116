"""How a resting order meets a candle: the stated OHLC path rule.

The price walks open → first extreme → second extreme → close. The first extreme is
the one adverse to the open position (low for a long, high for a short), so when one
candle reaches both a position's stop and its target, the stop fills first. With no
position, an up candle (close ≥ open) visits its low first, a down candle its high.
An order already satisfied at the open (a gap) fills at the open; any other order
fills at its own price where the walk crosses it. Orders met at the same price fill
stops first, then limits.
"""

from __future__ import annotations

from collections.abc import Iterator


def candle_path(o: float, h: float, lo: float, c: float, position_sign: int) -> tuple[float, ...]:
    low_first = position_sign > 0 or (position_sign == 0 and c >= o)
    return (o, lo, h, c) if low_first else (o, h, lo, c)


def segments(path: tuple[float, ...]) -> Iterator[tuple[float, float, bool]]:
    """(start, end, is_open) for each leg of the walk."""
    for i in range(len(path) - 1):
        yield path[i], path[i + 1], i == 0


def touch(trigger: float, fires_below: bool, a: float, b: float, at_open: bool) -> float | None:
    """Where a walk a → b first reaches a trigger that fires at or below (or above) it.

    Returns the fill price: the open on a gap, else the trigger; None if not reached.
    """
    if fires_below:
        if a <= trigger:
            return a if at_open else trigger
        return trigger if b <= trigger else None
    if a >= trigger:
        return a if at_open else trigger
    return trigger if b >= trigger else None
