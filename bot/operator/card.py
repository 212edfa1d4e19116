"""A proposal as a person decides on it: the card's lines (what, how much, where it stops
and takes profit, what it risks, why) and its chart (recent candles with entry, stop,
targets and liquidation drawn), the same for the page and for a phone."""

from __future__ import annotations

import io
import json
import math
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bot.operator.status import cash, price, when
from state.models import Proposal
from strategies.types import Candles


def card(p: Proposal, now_price: float, equity: float | None, leverage: float | None,
         tick: Decimal | None = None, market_now: int | None = None) -> list[tuple[str, str]]:
    """(label, value) lines of a directional proposal's card."""
    d = 1 if p.side == "long" else -1
    risk = abs(p.entry - p.stop)
    size = float(p.size)
    moved = now_price / p.entry - 1 if math.isfinite(now_price) else math.nan
    lines = [("strategy", f"{p.strategy} ({p.regime or 'ranging'} regime)"),
             ("trade", f"{p.side} {p.size} {p.symbol}"),
             ("notional", (f"{cash(size * p.entry)}"
                          + (f" at {leverage:g}× leverage" if leverage else "")
                          + f", margin {cash(p.margin)}")),
             ("entry", f"{price(p.entry, tick)} — now {price(now_price, tick)} "
                       f"({moved:+.2%}" + (f", {abs(now_price - p.entry) / p.atr:.2f} ATR)"
                                            if p.atr else ")")),
             ("stop", f"{price(p.stop, tick)} ({risk / p.entry:.2%} away, "
                      + (f"{risk / p.atr:.2f} ATR)" if p.atr else "1R)"))]
    for k, (px, frac) in enumerate(json.loads(p.targets_json), 1):
        rr = (px - p.entry) * d / risk if risk else math.nan
        lines.append((f"T{k}", f"{price(px, tick)} — {frac:.0%} of the size, R:R {rr:.2f}"))
    share = f" ({p.risk_cash / equity:.2%} of equity)" if equity else ""
    lines.append(("risk", f"{cash(p.risk_cash)}{share}, fraction {p.fraction:.2%}"))
    if p.liquidation:
        beyond = (p.stop - p.liquidation) * d / p.entry
        lines.append(("liquidation", (f"{price(p.liquidation, tick)} ({beyond:.2%} beyond "
                                     "the stop)")))
    cuts = json.loads(p.cuts_json or "[]")
    lines.append(("risk cuts", "; ".join(cuts) if cuts else "none"))
    for module, why in json.loads(p.reasons_json or "{}").items():
        if module == "targets":
            continue
        lines.append((module, ", ".join(f"{k} {_value(v)}" for k, v in why.items())
                      if isinstance(why, dict) else _value(why)))
    lines.append(("made", when(p.created_at)))
    left = "" if market_now is None else f" (in {max(0, p.expires_at - market_now) // 60_000} min)"
    lines.append(("expires", (f"{when(p.expires_at)}{left}; a person has until "
                             f"{when(p.waits_until)} wall time")))
    return lines


def _value(v) -> str:
    """A signal's value: up to ten significant digits (a price of six digits and its
    decimals kept whole, float noise dropped)."""
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


def chart_png(candles: Candles, p: Proposal, bars: int = 72, clusters=()) -> bytes:
    """The last `bars` candles with the proposal's entry, stop, targets and liquidation
    price, and the liquidation map's dense clusters in view, as a PNG."""
    n = min(bars, len(candles))
    o, h, lo, c = (x[-n:] for x in (candles.open, candles.high, candles.low, candles.close))
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        up = c >= o
        xs = range(n)
        ax.vlines(xs, lo, h, color="#555", linewidth=0.7)
        ax.bar(xs, abs(c - o), bottom=[min(a, b) for a, b in zip(o, c, strict=True)],
               color=["#2a9d8f" if u else "#e76f51" for u in up], width=0.7)
        levels = [(p.entry, "entry", "#1d4ed8"), (p.stop, "stop", "#dc2626")]
        levels += [(px, f"T{k}", "#16a34a")
                   for k, (px, _) in enumerate(json.loads(p.targets_json), 1)]
        span = float(h.max() - lo.min()) or float(c[-1]) * 0.01
        title = f"#{p.id} {p.strategy} {p.side} {p.symbol}"
        if p.liquidation and lo.min() - span <= p.liquidation <= h.max() + span:
            levels.append((p.liquidation, "liquidation", "#f59e0b"))
        elif p.liquidation:  # far off: named, not drawn (it would flatten the candles)
            title += f" — liquidation {price(p.liquidation, None)}, off the chart"
        for cl in clusters:
            if lo.min() * 0.97 <= cl.price <= h.max() * 1.03:
                levels.append((cl.price, f"{cl.side} cluster", "#9ca3af"))
        for y, name, color in levels:
            ax.axhline(y, color=color, linewidth=1, linestyle="--" if "cluster" in name
                       or name == "liquidation" else "-")
            ax.annotate(name, (n - 1, y), color=color, fontsize=8, ha="right", va="bottom")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)
