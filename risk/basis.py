"""Capital a delta-neutral basis trade ties up (SPEC §5)."""

from __future__ import annotations


def basis_capital(notional: float, leverage: float, buffer: float) -> float:
    """Spot notional + perp margin (notional / leverage) + a buffer."""
    if notional < 0 or leverage <= 0 or buffer < 0:
        raise ValueError(f"notional {notional}, leverage {leverage}, buffer {buffer}: "
                         "need notional ≥ 0, leverage > 0, buffer ≥ 0")
    return notional + notional / leverage + buffer
