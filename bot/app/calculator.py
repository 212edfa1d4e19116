"""The position size and liquidation calculator behind `derivbot size`: the risk manager's
own sizing and liquidation arithmetic (the maintenance rate of the notional's tier)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from risk.limits import RiskLimits
from risk.sizing import isolated_liquidation, margin, mmr_for, position_size, risk_cash


class CalculatorError(ValueError):
    pass


def calculate(equity: float, fraction: float, entry: float, stop: float, leverage: float,
              side: str | None = None, step: str = "0.001", mmr: float | None = None,
              tiers: Sequence[tuple[float, float]] = RiskLimits().mmr_tiers) -> dict:
    """`tiers`: (notional up to, maintenance rate), as the risk manager reads them; `mmr`
    a flat rate instead, when given."""
    for name, value in (("--equity", equity), ("--entry", entry), ("--stop", stop),
                        ("--leverage", leverage), ("--risk", fraction)):
        if not (value > 0 and math.isfinite(value)):
            raise CalculatorError(f"{name} must be a positive finite number, got {value}")
    if fraction >= 1:
        raise CalculatorError(f"--risk is a fraction of equity (0.015 = 1.5 %), got {fraction}")
    if entry == stop:
        raise CalculatorError(f"--stop must differ from --entry ({entry})")
    inferred = "long" if stop < entry else "short"
    side = side or inferred
    if side != inferred:
        raise CalculatorError(f"a {side} with entry {entry} needs its stop on the other side, "
                              f"got {stop}")
    try:
        amount_step = Decimal(step)
    except InvalidOperation:
        raise CalculatorError(f"--step must be a number, got {step!r}") from None
    if not amount_step.is_finite() or amount_step <= 0:
        raise CalculatorError(f"--step must be a positive finite number, got {step}")
    size = position_size(equity, fraction, entry, stop, amount_step)
    d = 1 if side == "long" else -1
    if mmr is not None and not 0 < mmr < 1:  # NaN fails this too
        raise CalculatorError(f"--mmr is a rate between 0 and 1, got {mmr}")
    liq = isolated_liquidation(entry, float(size), leverage, d,
                               ((float("inf"), mmr),) if mmr is not None else tiers)
    return {
        "side": side,
        "size": str(size),
        "risk_cash": round(risk_cash(equity, fraction), 2),
        "risk_at_size": round(float(size) * abs(entry - stop), 2),
        "notional": round(float(size) * entry, 2),
        "margin": round(margin(float(size), entry, leverage), 2),
        "liquidation_price": round(liq, 2),
        "mmr": mmr if mmr is not None else mmr_for(float(size) * entry, tiers),
        "liquidation_beyond_stop": (liq - stop) * d < 0,
    }


def render(r: dict) -> str:
    warn = "" if r["liquidation_beyond_stop"] else "  (WARNING: liquidation before the stop)"
    return (f"side {r['side']}  size {r['size']}  risk {r['risk_cash']}  "
            f"notional {r['notional']}  margin {r['margin']}  "
            f"liquidation {r['liquidation_price']} (mmr {r['mmr']:.2%}){warn}")
