"""Every signal module read once per bar, and the strategies that combine them as the
playbook does. Strategies never enter on a positioning signal alone: each needs its
structure trigger (the magnet trades the cluster's pull, with a tight stop)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from strategies.alerts import AlertParams
from strategies.confluence import CompositeParams, ConfluenceParams, composite, confluence
from strategies.flow import CVDParams, cvd_divergence
from strategies.funding import (
    FundingAccelerationParams,
    FundingDivergenceParams,
    FundingExtremeParams,
    FundingSpreadParams,
    FundingZScoreParams,
    funding_acceleration,
    funding_divergence,
    funding_extreme,
    funding_spread,
    funding_zscore,
)
from strategies.liquidation import ClimaxParams, MagnetParams, liquidation_magnet
from strategies.liquidation_map import Cluster, LiquidationBook, LiquidationMapParams, map_view
from strategies.oi import (
    OIDivergenceParams,
    OIPriceRegimeParams,
    OISpikeParams,
    TrappedParams,
    oi_divergence,
    oi_price_regime,
    oi_spike,
    trapped_traders,
)
from strategies.options import OptionsParams, options_positioning
from strategies.plan import PlanParams, build_plan
from strategies.regime import RegimeParams, regime, regime_name
from strategies.series import aggregate_funding, fresh_funding
from strategies.structure import (
    BreakParams,
    SpringParams,
    SwingFailureParams,
    VolumeParams,
    break_of_structure,
    spring,
    swing_failure,
    volume_confirmation,
)
from strategies.types import Direction, MarketView, Signal, TradePlan


class SignalSet(BaseModel):
    """Parameters of every module; config.toml's [signals.<module>] sets them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    funding_extreme: FundingExtremeParams = FundingExtremeParams()
    funding_zscore: FundingZScoreParams = FundingZScoreParams()
    funding_acceleration: FundingAccelerationParams = FundingAccelerationParams()
    funding_divergence: FundingDivergenceParams = FundingDivergenceParams()
    funding_spread: FundingSpreadParams = FundingSpreadParams()
    oi_price_regime: OIPriceRegimeParams = OIPriceRegimeParams()
    oi_divergence: OIDivergenceParams = OIDivergenceParams()
    oi_spike: OISpikeParams = OISpikeParams()
    trapped_traders: TrappedParams = TrappedParams()
    liquidation_map: LiquidationMapParams = LiquidationMapParams()
    liquidation_magnet: MagnetParams = MagnetParams()
    cascade_climax: ClimaxParams = ClimaxParams()
    cvd_divergence: CVDParams = CVDParams()
    options_positioning: OptionsParams = OptionsParams()
    regime: RegimeParams = RegimeParams()
    confluence: ConfluenceParams = ConfluenceParams()
    composite: CompositeParams = CompositeParams()
    swing_failure: SwingFailureParams = SwingFailureParams()
    spring: SpringParams = SpringParams()
    break_of_structure: BreakParams = BreakParams()
    volume_confirmation: VolumeParams = VolumeParams()
    plan: PlanParams = PlanParams()
    alerts: AlertParams = AlertParams()


@dataclass(frozen=True, slots=True)
class Readings:
    view: MarketView
    signals: Mapping[str, Signal]
    clusters: list[Cluster]

    def __getitem__(self, module: str) -> Signal:
        return self.signals[module]

    @property
    def regime(self) -> str:
        return regime_name(self.signals["regime"])


def read_all(view: MarketView, s: SignalSet, memo: dict | None = None) -> Readings:
    """Every module's reading. `memo` (a dict the caller keeps per symbol, fed that symbol's
    views in time order) reuses the readings that depend on funding alone until a funding
    print arrives, and keeps the liquidation map up to date bar by bar."""
    found = _liquidation_map(view, s.liquidation_map, memo)
    c = view.candles
    n_agg = max(3, s.funding_divergence.funding_periods + 1)
    fv = None  # no reuse without a memo, or for a view that cannot tell its funding apart
    if memo is not None and view.funding_version >= 0:
        fv = (view.symbol, view.funding_version)
    settled = fv if fv is not None and _funding_settled(view) else None
    fresh = None if fv is None else (fv, tuple(fresh_funding(view,
                                                               s.funding_extreme.max_age_hours)))
    agg = _reuse(memo, "aggregate_funding", settled, lambda: aggregate_funding(view, n_agg))
    sigs = [
        _reuse(memo, "funding_extreme", fresh, lambda: funding_extreme(view, s.funding_extreme)),
        _reuse(memo, "funding_zscore", fv, lambda: funding_zscore(view, s.funding_zscore)),
        funding_acceleration(view, s.funding_acceleration, agg),
        funding_divergence(view, s.funding_divergence, agg),
        funding_spread(view, s.funding_spread),
        oi_price_regime(view, s.oi_price_regime),
        oi_divergence(view, s.oi_divergence),
        oi_spike(view, s.oi_spike),
        trapped_traders(view, s.trapped_traders),
        liquidation_magnet(view, found, s.liquidation_magnet),
        cvd_divergence(c, s.cvd_divergence),
        options_positioning(view.options, s.options_positioning),
        regime(view, s.regime),
        swing_failure(c, s.swing_failure),
        spring(c, s.spring),
        break_of_structure(c, s.break_of_structure),
        volume_confirmation(c, s.volume_confirmation),
    ]
    top = [{"price": round(x.price, 8), "notional": round(x.notional, 2), "side": x.side,
            "dense": x.dense} for x in found[:s.liquidation_map.top]]
    sigs.append(Signal.flat("liquidation_map", clusters=top, levels=len(found))
                if view.open_interest else Signal.abstain("liquidation_map", "no open interest"))
    signals = {sig.module: sig for sig in sigs}
    signals["confluence"] = confluence(view, signals, found, s.confluence)
    signals["composite"] = composite(view, signals, found, s.composite)
    return Readings(view, signals, found)


def _liquidation_map(view: MarketView, p: LiquidationMapParams, memo: dict | None
                     ) -> list[Cluster]:
    """The map from the symbol's LiquidationBook (kept in the memo) when it can follow the
    view, else computed over the whole window."""
    if memo is None:
        return map_view(view, p)
    book = memo.get("liquidation_book")
    if book is None or book.p != p:
        book = memo["liquidation_book"] = LiquidationBook(p)
    found = book.read(view)
    return map_view(view, p) if found is None else found


def _reuse(memo: dict | None, name: str, key, compute):
    """compute(), or what it gave for the same key last time (key None: no reuse)."""
    if memo is None or key is None:
        return compute()
    hit = memo.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = compute()
    memo[name] = (key, value)
    return value


def _funding_settled(view: MarketView) -> bool:
    """Open interest is known past the venue's last funding print on every exchange that has
    it: the OI weights of the funding aggregate can no longer change until the next print."""
    base = view.funding.get(view.venue)
    if base is None or len(base) == 0:
        return False
    last = base.ts[-1]
    return all(len(oi) == 0 or oi.ts[-1] > last for oi in view.open_interest.values())


TRIGGERS = ("swing_failure", "spring", "break_of_structure")


def trigger(r: Readings, direction: Direction, allowed=TRIGGERS) -> Signal | None:
    """The first structure trigger pointing the same way, with its invalidation level."""
    for name in allowed:
        sig = r[name]
        if sig.direction == direction and sig.invalidation is not None:
            return sig
    return None


def _why(r: Readings, *modules: str) -> dict:
    return {m: dict(r[m].reasons) for m in (*modules, "regime")}


def _with_trigger(name: str, r: Readings, bias: Direction, s: SignalSet, modules: tuple,
                  allowed=TRIGGERS, is_fade: bool = True) -> TradePlan | None:
    if bias == Direction.FLAT:
        return None
    trig = trigger(r, bias, allowed)
    if trig is None:
        return None
    return build_plan(name, r.view, bias, trig.invalidation, r.regime,
                      _why(r, *modules, trig.module), r.clusters, s.plan, is_fade=is_fade)


def funding_fade(r: Readings, s: SignalSet) -> TradePlan | None:
    """Extreme funding (across exchanges, or by z-score) + a swing failure or spring."""
    bias = r["funding_extreme"].direction or r["funding_zscore"].direction
    return _with_trigger("funding_fade", r, Direction(bias), s,
                         ("funding_extreme", "funding_zscore"), ("swing_failure", "spring"))


def oi_divergence_reversal(r: Readings, s: SignalSet) -> TradePlan | None:
    return _with_trigger("oi_divergence_reversal", r, r["oi_divergence"].direction, s,
                         ("oi_divergence",))


def trapped_trader(r: Readings, s: SignalSet) -> TradePlan | None:
    return _with_trigger("trapped_trader", r, r["trapped_traders"].direction, s,
                         ("trapped_traders",), ("break_of_structure", "swing_failure"))


def magnet(r: Readings, s: SignalSet) -> TradePlan | None:
    sig = r["liquidation_magnet"]
    if sig.direction == Direction.FLAT:
        return None
    return build_plan("liquidation_magnet", r.view, sig.direction, sig.invalidation, r.regime,
                      _why(r, "liquidation_magnet"), r.clusters, s.plan, is_fade=False,
                      stop_atr=s.liquidation_magnet.stop_atr, goal=sig.reasons["cluster"])


VOTERS = ("funding_extreme", "funding_zscore", "funding_acceleration", "funding_divergence",
          "oi_divergence", "trapped_traders", "cvd_divergence", "confluence")


def triple_confluence(r: Readings, s: SignalSet) -> TradePlan | None:
    """Three or more positioning modules agree, none disagrees, and structure confirms."""
    votes = [r[m].direction for m in VOTERS if r[m].direction != Direction.FLAT]
    if not votes or len(set(votes)) != 1 or len(votes) < 3:
        return None
    agreeing = tuple(m for m in VOTERS if r[m].direction == votes[0])
    return _with_trigger("triple_confluence", r, votes[0], s, agreeing)


def composite_strategy(r: Readings, s: SignalSet) -> TradePlan | None:
    return _with_trigger("composite", r, r["composite"].direction, s, ("composite",))


STRATEGIES: dict[str, Callable[[Readings, SignalSet], TradePlan | None]] = {
    "funding_fade": funding_fade,
    "oi_divergence_reversal": oi_divergence_reversal,
    "trapped_trader": trapped_trader,
    "liquidation_magnet": magnet,
    "triple_confluence": triple_confluence,
    "composite": composite_strategy,
}
