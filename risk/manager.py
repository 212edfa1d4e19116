"""Approve, cut or refuse a TradePlan against the portfolio; every outcome names its rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from risk.limits import FRACTION_BAND, RiskLimits
from risk.sizing import isolated_liquidation, margin, round_down
from strategies.liquidation_map import Cluster
from strategies.types import TradePlan


@dataclass(frozen=True, slots=True)
class MarketRules:
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal
    min_notional: float
    max_leverage: float = 125.0
    mmr_tiers: tuple[tuple[float, float], ...] | None = None  # the exchange's, when known
    taker_fee: float = 0.0005  # an entry at market pays it out of the same margin


@dataclass(frozen=True, slots=True)
class OpenRisk:
    symbol: str
    risk_cash: float


@dataclass(frozen=True, slots=True)
class Portfolio:
    equity: float
    available: float
    open: tuple[OpenRisk, ...] = ()
    day_start_equity: float | None = None
    peak_equity: float | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What the runner knows beyond the portfolio: the fraction, the bucket, the map."""

    fraction: float | None = None  # e.g. half-Kelly; None: limits.fraction
    bucket: frozenset[str] = frozenset()  # symbols sharing this plan's risk budget
    clusters: Sequence[Cluster] = ()
    halt: str | None = None  # an active halt's reason
    weight: float = 1.0  # the strategy's weight: scales the fraction, never above the band


@dataclass(frozen=True, slots=True)
class Approved:
    plan: TradePlan
    size: Decimal
    fraction: float
    risk_cash: float
    margin: float
    leverage: float
    liquidation: float
    cuts: tuple[str, ...] = ()
    approved: bool = field(default=True, init=False)


@dataclass(frozen=True, slots=True)
class Refused:
    plan: TradePlan
    rule: str
    reason: str
    approved: bool = field(default=False, init=False)


Decision = Approved | Refused


def halt_reason(p: Portfolio, limits: RiskLimits) -> str | None:
    """Why new entries must halt (daily loss or drawdown), or None."""
    if p.day_start_equity and p.equity < p.day_start_equity * (1 - limits.daily_loss_limit):
        loss = 1 - p.equity / p.day_start_equity
        return f"daily loss {loss:.2%} exceeds limit {limits.daily_loss_limit:.2%}"
    if p.peak_equity and p.equity < p.peak_equity * (1 - limits.max_drawdown):
        dd = 1 - p.equity / p.peak_equity
        return f"drawdown {dd:.2%} from peak exceeds limit {limits.max_drawdown:.2%}"
    return None


def assess(plan: TradePlan, p: Portfolio, market: MarketRules, limits: RiskLimits,
           ctx: Context = Context(), leverage: float | None = None) -> Decision:
    lev = leverage if leverage is not None else limits.leverage
    refused = first_refusal(plan, p, market, limits, ctx.halt, lev)
    if refused is not None:
        return refused
    fraction, cuts = (ctx.fraction or limits.fraction), []
    if ctx.weight != 1.0:
        weighted = min(fraction * ctx.weight, FRACTION_BAND[1])
        if weighted < fraction:
            cuts.append(f"strategy weight {ctx.weight}: risk fraction {weighted:.2%}")
        fraction = weighted
    if plan.regime == "trending" and plan.is_fade:
        if limits.trend_fade == "skip":
            return Refused(plan, "regime", "trending regime: fades are skipped")
        fraction *= limits.trend_cut
        cuts.append(f"trending regime: fade cut to {limits.trend_cut:.0%}")
    if plan.regime == "volatile" and not plan.fixed_stop and plan.stop_distance > plan.atr > 0:
        d = int(plan.direction)
        plan = replace(plan, stop=plan.entry - d * plan.atr)
        cuts.append(f"volatile regime: stop tightened to 1 ATR at {plan.stop:.2f}")
    cash = p.equity * fraction
    room = p.equity * limits.max_open_risk - sum(o.risk_cash for o in p.open)
    if room <= 0:
        return Refused(plan, "max_open_risk", f"open risk already at limit "
                                              f"{limits.max_open_risk:.2%} of equity")
    if cash > room:
        cuts.append(f"open-risk limit: risk cut from {cash:.2f} to {room:.2f}")
        cash = room
    if len(ctx.bucket) > 1:
        used = sum(o.risk_cash for o in p.open if o.symbol in ctx.bucket)
        left = p.equity * limits.bucket_risk - used
        names = "/".join(sorted(s.split("/")[0] for s in ctx.bucket))
        if left <= 0:
            return Refused(plan, "bucket", f"{names} bucket has no risk left "
                                           f"({used:.2f} of {limits.bucket_risk:.2%} in use)")
        if cash > left:
            cuts.append(f"{names} bucket: risk cut from {cash:.2f} to {left:.2f}")
            cash = left
    return _size(plan, p, market, limits, ctx, lev, cash, cuts)


def first_refusal(plan: TradePlan, p: Portfolio, market: MarketRules, limits: RiskLimits,
                  halt: str | None = None, leverage: float | None = None) -> Refused | None:
    """assess's refusals that no fraction, bucket or map can change (a halt, a vacuum, a
    trade already on the symbol, the position count, the leverage), in its order: the
    caller may ask before gathering those (most plans end here)."""
    lev = leverage if leverage is not None else limits.leverage
    why = halt or halt_reason(p, limits)
    if why is not None:
        return Refused(plan, "halt", f"new entries halted: {why}")
    if plan.regime == "vacuum":
        return Refused(plan, "regime", "vacuum regime: no derivative-driven entries")
    if any(o.symbol == plan.symbol for o in p.open):
        return Refused(plan, "one_per_symbol", f"a trade on {plan.symbol} is already open")
    if len(p.open) >= limits.max_positions:
        return Refused(plan, "max_positions", f"{len(p.open)} positions open, "
                                              f"limit {limits.max_positions}")
    max_lev = min(limits.max_leverage, market.max_leverage)
    if lev > max_lev:
        return Refused(plan, "max_leverage", f"leverage {lev} exceeds limit {max_lev}")
    return None


def _size(plan: TradePlan, p: Portfolio, market: MarketRules, limits: RiskLimits, ctx: Context,
          lev: float, cash: float, cuts: list[str]) -> Decision:
    distance = plan.stop_distance
    size = round_down(cash / distance, market.amount_step)
    cap = round_down(lev * p.equity / plan.entry, market.amount_step)
    if size > cap:
        cuts.append(f"leverage cap: size cut from {size} to {cap}")
        size = cap
    # the exchange wants the entry's margin and its taker fee out of the available margin
    per_unit = plan.entry * (1 / lev + market.taker_fee)
    if float(size) * per_unit > p.available:
        fit = round_down(p.available / per_unit, market.amount_step)
        cuts.append(f"available margin {p.available:.2f}: size cut from {size} to {fit}")
        size = fit
    if size <= 0 or size < market.min_amount:
        return Refused(plan, "min_amount", f"size rounds to {size}, below the market minimum "
                                           f"{market.min_amount}")
    notional = float(size) * plan.entry
    if notional < market.min_notional:
        return Refused(plan, "min_notional", f"notional {notional:.2f} is below the market "
                                             f"minimum {market.min_notional}")
    d = int(plan.direction)
    liq = isolated_liquidation(plan.entry, float(size), lev, d,
                               market.mmr_tiers or limits.mmr_tiers)
    required = plan.stop * (1 - d * limits.liq_buffer)
    if (liq - required) * d >= 0:
        return Refused(plan, "liquidation", f"liquidation {liq:.2f} is not beyond stop "
                                            f"{plan.stop:.2f} by {limits.liq_buffer:.2%}")
    if limits.avoid_dense_clusters:
        for c in ctx.clusters:
            width = max(c.price * 0.002, 1e-12)
            if c.dense and abs(c.price - liq) <= width:
                return Refused(plan, "liquidation_cluster",
                               f"liquidation {liq:.2f} sits inside a dense {c.side} liquidation "
                               f"cluster at {c.price:.2f} ({c.notional:,.0f} notional)")
    fraction_used = float(size) * distance / p.equity
    return Approved(plan, size, fraction_used, float(size) * distance,
                    margin(float(size), plan.entry, lev), lev, liq, tuple(cuts))
