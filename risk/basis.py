"""Capital a delta-neutral basis trade ties up (SPEC §5)."""

from __future__ import annotations


def basis_capital(notional: float, leverage: float, buffer: float) -> float:
    """Spot notional + perp margin (notional / leverage) + a buffer."""
    if notional < 0 or leverage <= 0 or buffer < 0:
        raise ValueError(f"notional {notional}, leverage {leverage}, buffer {buffer}: "
                         "need notional ≥ 0, leverage > 0, buffer ≥ 0")
    return notional + notional / leverage + buffer


def basis_notional(budget: float, leverage: float, buffer_fraction: float) -> float:
    """The notional per leg that a capital budget carries: the inverse of basis_capital
    with the buffer as a fraction of notional (130 000 at 5× and 10 % → 100 000)."""
    if budget < 0 or leverage <= 0 or buffer_fraction < 0:
        raise ValueError(f"budget {budget}, leverage {leverage}, buffer {buffer_fraction}: "
                         "need budget ≥ 0, leverage > 0, buffer ≥ 0")
    return budget / (1 + 1 / leverage + buffer_fraction)
