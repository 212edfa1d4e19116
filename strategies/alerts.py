"""SPEC §7 alert conditions: which hold now. The runner reports each when it starts to hold."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from strategies.liquidation_map import Cluster
from strategies.series import Numbers
from strategies.types import MarketView, Signal
from strategies.venues import FRESH_HOURS


class AlertParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    funding: float = Field(default=0.0005, gt=0)
    oi_surge: float = Field(default=0.10, gt=0)
    divergence_hours: int = Field(default=48, ge=2)
    cluster_distance: float = Field(default=0.02, gt=0)
    funding_spread: float = Field(default=0.0003, gt=0)


@dataclass(frozen=True, slots=True)
class Condition:
    key: str  # what makes it the same alert from one bar to the next
    kind: str
    message: str
    details: dict


def _diverging(numbers: Numbers, hours: int) -> tuple[float, float] | None:
    """(price change, OI change) over the last 12 h step up to `hours` when the two moved
    apart over every step (the first step that did not ends the look), else None."""
    pair = None
    for h in range(12, hours + 1, 12):
        dp, doi = numbers.price_change(h), numbers.oi_change(h)
        if not (math.isfinite(dp) and math.isfinite(doi) and dp * doi < 0):
            return None
        pair = dp, doi
    return pair


def conditions(view: MarketView, readings: Mapping[str, Signal], found: Sequence[Cluster],
               p: AlertParams, numbers: Numbers | None = None) -> list[Condition]:
    """`numbers`: the view's shared numbers, where the caller has them."""
    out: list[Condition] = []
    sym = view.symbol
    numbers = numbers or Numbers.of(view)
    for ex, rate in numbers.fresh(FRESH_HOURS).items():
        if abs(rate) >= p.funding:
            side = "+" if rate > 0 else "-"
            out.append(Condition(f"funding:{ex}:{side}", "funding_extreme",
                                 f"{sym} funding {rate:+.4%} on {ex} beyond "
                                 f"±{p.funding:.2%}", {"exchange": ex, "rate": rate}))
    if numbers.oi() is not None:
        d24 = numbers.oi_change(24)
        if math.isfinite(d24) and d24 >= p.oi_surge:
            out.append(Condition("oi_surge", "oi_surge", f"{sym} open interest {d24:+.1%} in 24 h",
                                 {"oi_change_24h": d24}))
        if (apart := _diverging(numbers, p.divergence_hours)) is not None:
            dp, doi = apart
            out.append(Condition("oi_divergence", "oi_price_divergence",
                                 f"{sym} OI {doi:+.1%} against price {dp:+.1%} for "
                                 f"{p.divergence_hours} h", {"price": dp, "oi": doi}))
    price = float(view.candles.close[-1]) if len(view.candles) else math.nan
    for c in found:
        if c.dense and math.isfinite(price) and abs(c.price / price - 1) <= p.cluster_distance:
            out.append(Condition(f"cluster:{c.side}", "near_cluster",
                                 f"{sym} within {abs(c.price / price - 1):.2%} of a dense {c.side} "
                                 f"liquidation cluster at {c.price:.2f}",
                                 {"cluster": c.price, "notional": c.notional, "side": c.side}))
            break
    spread = readings.get("funding_spread")
    if spread is not None and spread.reasons.get("spread", 0.0) > p.funding_spread:
        out.append(Condition("funding_spread", "funding_spread",
                             f"{sym} funding spread {spread.reasons['spread']:.4%} "
                             f"({spread.reasons['highest']} vs {spread.reasons['lowest']})",
                             {"spread": spread.reasons["spread"]}))
    return out
