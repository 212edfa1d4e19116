"""The position size and liquidation calculator behind `derivbot size`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from risk.sizing import liquidation_price, margin, position_size, risk_cash


class CalculatorError(ValueError):
    pass


def calculate(equity: float, fraction: float, entry: float, stop: float, leverage: float,
              side: str | None = None, step: str = "0.001", mmr: float = 0.004) -> dict:
    for name, value in (("--equity", equity), ("--entry", entry), ("--stop", stop),
                        ("--leverage", leverage), ("--risk", fraction)):
        if not value > 0:
            raise CalculatorError(f"{name} must be positive, got {value}")
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
    if amount_step <= 0:
        raise CalculatorError(f"--step must be positive, got {step}")
    size = position_size(equity, fraction, entry, stop, amount_step)
    d = 1 if side == "long" else -1
    liq = liquidation_price(entry, leverage, mmr, d)
    return {
        "side": side,
        "size": str(size),
        "risk_cash": round(risk_cash(equity, fraction), 2),
        "risk_at_size": round(float(size) * abs(entry - stop), 2),
        "notional": round(float(size) * entry, 2),
        "margin": round(margin(float(size), entry, leverage), 2),
        "liquidation_price": round(liq, 2),
        "liquidation_beyond_stop": (liq - stop) * d < 0,
    }


def render(r: dict) -> str:
    warn = "" if r["liquidation_beyond_stop"] else "  (WARNING: liquidation before the stop)"
    return (f"side {r['side']}  size {r['size']}  risk {r['risk_cash']}  "
            f"notional {r['notional']}  margin {r['margin']}  "
            f"liquidation {r['liquidation_price']}{warn}")
