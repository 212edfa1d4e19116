"""Every signal module read once per bar, and the strategies that combine them as the
playbook does. Strategies never enter on a positioning signal alone: each needs its
structure trigger (the magnet trades the cluster's pull, with a tight stop)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

from strategies.alerts import AlertParams
from strategies.confluence import (
    CompositeParams,
    ConfluenceParams,
    composite,
    composite_can_lean,
    confluence,
)
from strategies.flow import CVDParams, cvd_divergence_rows
from strategies.frame import Frame, Rows
from strategies.funding import (
    FundingAccelerationParams,
    FundingDivergenceParams,
    FundingExtremeParams,
    FundingSpreadParams,
    FundingZScoreParams,
    funding_acceleration_rows,
    funding_divergence_rows,
    funding_extreme_rows,
    funding_spread_rows,
    funding_zscore_rows,
)
from strategies.liquidation import (
    ClimaxParams,
    MagnetParams,
    liquidation_magnet,
    liquidation_map,
)
from strategies.liquidation_map import Cluster, LiquidationMapParams, kept_map
from strategies.oi import (
    OIDivergenceParams,
    OIPriceRegimeParams,
    OISpikeParams,
    TrappedParams,
    oi_divergence_rows,
    oi_price_regime_rows,
    oi_spike_rows,
    trapped_traders_rows,
)
from strategies.options import OptionsParams, options_positioning
from strategies.plan import PlanParams, build_plan
from strategies.regime import RegimeParams, regime_name, regime_rows
from strategies.reversion import FundingReversionParams, funding_reversion
from strategies.series import Numbers
from strategies.structure import (
    BreakParams,
    SpringParams,
    SwingFailureParams,
    VolumeParams,
    break_of_structure,
    break_of_structure_rows,
    spring_rows,
    swing_failure_rows,
    volume_confirmation_rows,
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
    funding_reversion: FundingReversionParams = FundingReversionParams()
    alerts: AlertParams = AlertParams()


class Readings(dict):
    """Every module's reading of one view, each computed the first time it is asked for:
    a strategy whose structure trigger is not there reads nothing else, and what the
    decision did not need is read after the tick's orders are out (`signals`). Like the
    view it reads, it is valid until its history takes the next event. A reading already
    made is a plain dict hit (`__missing__` runs only for the first). `view`: the view, or
    a function that makes it — made when a module, a plan or the map first reads it (a
    decision whose readings all come from rows never makes it)."""

    __slots__ = ("_armed", "_base", "_found", "_frame", "_keys", "_make", "_memo", "_numbers",
                 "_row", "_view", "s")

    def __init__(self, view: MarketView | Callable[[], MarketView], s: SignalSet,
                 memo: dict | None = None, base: Readings | None = None,
                 row: Row | None = None) -> None:
        super().__init__()
        self._view, self._make = (view, None) if isinstance(view, MarketView) else (None, view)
        self.s, self._memo, self._base, self._row = s, memo, base, row
        self._found: list[Cluster] | None = None
        self._numbers: Numbers | None = None
        self._frame: Frame | None = None
        self._keys: dict | None = None
        self._armed: dict[tuple[str, ...], frozenset[Direction]] = {}

    @property
    def view(self) -> MarketView:
        if self._view is None:
            self._view = self._make()
        return self._view

    def __missing__(self, module: str) -> Signal:
        sig = self._row.read(module) if self._row is not None else None  # rows: none stale
        if sig is None:
            sig = MODULES[module](self)
            if self.view.stale:  # read without a venue's data: say which, and why
                stale = "; ".join(f"{ex}: {why}" for ex, why in sorted(self.view.stale.items()))
                reasons = {**sig.reasons, "stale": stale}
                if sig.abstained:
                    reasons["abstain"] = f"{sig.reasons['abstain']} (stale {stale})"
                sig = replace(sig, reasons=reasons)
        self[module] = sig
        return sig

    def get(self, module: str, default: Signal | None = None) -> Signal | None:
        return self[module] if module in MODULES else default

    @property
    def signals(self) -> dict[str, Signal]:
        """Every module's reading, in the playbook's order."""
        return {name: self[name] for name in MODULES}

    @property
    def clusters(self) -> list[Cluster]:
        """The liquidation map: the hourly one for a coarser view read beside it (`base`)."""
        if self._base is not None:
            return self._base.clusters
        if self._found is None:
            self._found = kept_map(self.view, self.s.liquidation_map, self._memo)
        return self._found

    @property
    def regime(self) -> str:
        return regime_name(self["regime"])

    @property
    def frame(self) -> Frame:
        """The view's one-row frame, which the modules read (and share its crowd in)."""
        if self._frame is None:
            self._frame = Frame.of(self.view)
        return self._frame

    @property
    def numbers(self) -> Numbers:
        """The view's numbers several readers share (confluence, the alert conditions): of
        its row of the whole history where it has one, else of its one-row frame."""
        if self._numbers is None:
            self._numbers = (Numbers(self.frame) if self._row is None
                             else Numbers(self._row.frame, self._row.i))
        return self._numbers

    def one(self, module: str) -> Signal:
        """A module written over frames, read on the view's one-row frame."""
        return COLUMNS[module](self.frame, self.s).signal(0)

    def reuse(self, name: str, key: str, compute: Callable[[], Signal]) -> Signal:
        """compute(), or what it gave last time for the same funding key (see _funding_keys):
        live, a module of funding alone is read again only when its prints change."""
        return _reuse(self._memo, name, self._funding_keys()[key], compute)

    def _funding_keys(self) -> dict:
        """When funding-only readings may be reused: `version` — until the next print;
        `fresh` — and while the same prints are fresh; `settled` — and once OI is known
        past the print. None: no reuse (no memo, or a view that cannot tell its funding
        apart)."""
        if self._keys is None:
            view, fv = self.view, None
            if self._memo is not None and view.funding_version >= 0:
                fv = (view.symbol, view.funding_version)
            fresh = None if fv is None else (fv, tuple(self.numbers.fresh(
                self.s.funding_extreme.max_age_hours)))  # the crowd the module reads too
            settled = fv if fv is not None and _funding_settled(view) else None
            self._keys = {"version": fv, "fresh": fresh, "settled": settled}
        return self._keys


def read_all(view: MarketView | Callable[[], MarketView], s: SignalSet, memo: dict | None = None,
             base: Readings | None = None, row: Row | None = None) -> Readings:
    """The readings of every module over `view`. `memo` (a dict the caller keeps per symbol,
    fed that symbol's views in time order, each read in full before the next) reuses the
    readings that depend on funding alone until a funding print arrives, and keeps the
    liquidation map up to date bar by bar. `base`: the hourly readings of the same instant,
    whose liquidation map a coarser view shares. `row`: the readings of this view's row of
    the whole history, where they were read over it at once (None for a module that was
    not: read from the view) — given only where no venue is stale."""
    return Readings(view, s, memo, base, row)


@dataclass(frozen=True, slots=True)
class Row:
    """A view's row i of a whole-history frame whose modules were read at once: `read` gives
    a module's reading of it (None: a module not written over frames)."""

    frame: Frame
    i: int
    read: Callable[[str], Signal | None]


MODULES: dict[str, Callable[[Readings], Signal]] = {
    "funding_extreme": lambda r: r.reuse("funding_extreme", "fresh", lambda: r.one(
        "funding_extreme")),
    "funding_zscore": lambda r: r.reuse("funding_zscore", "version", lambda: r.one(
        "funding_zscore")),
    "funding_acceleration": lambda r: r.reuse("funding_acceleration", "settled",
                                              lambda: r.one("funding_acceleration")),
    "funding_divergence": lambda r: r.one("funding_divergence"),
    "funding_spread": lambda r: r.one("funding_spread"),
    "oi_price_regime": lambda r: r.one("oi_price_regime"),
    "oi_divergence": lambda r: r.one("oi_divergence"),
    "oi_spike": lambda r: r.one("oi_spike"),
    "trapped_traders": lambda r: r.one("trapped_traders"),
    "liquidation_magnet": lambda r: liquidation_magnet(r.view, r.clusters,
                                                       r.s.liquidation_magnet),
    "cvd_divergence": lambda r: r.one("cvd_divergence"),
    "options_positioning": lambda r: options_positioning(r.view.options,
                                                         r.s.options_positioning),
    "regime": lambda r: r.one("regime"),
    "swing_failure": lambda r: r.one("swing_failure"),
    "spring": lambda r: r.one("spring"),
    "break_of_structure": lambda r: break_of_structure(r.view, r.s.break_of_structure),
    "volume_confirmation": lambda r: r.one("volume_confirmation"),
    "liquidation_map": lambda r: liquidation_map(r.view, r.clusters, r.s.liquidation_map),
    "confluence": lambda r: confluence(r.view, r, r.clusters, r.s.confluence, r.numbers),
    "composite": lambda r: composite(r.view, r, r.clusters, r.s.composite),
}


# the modules written over frames: each reads every row of one at once
COLUMNS: dict[str, Callable[[Frame, SignalSet], Rows]] = {
    "funding_extreme": lambda f, s: funding_extreme_rows(f, s.funding_extreme),
    "funding_zscore": lambda f, s: funding_zscore_rows(f, s.funding_zscore),
    "funding_acceleration": lambda f, s: funding_acceleration_rows(f, s.funding_acceleration),
    "funding_divergence": lambda f, s: funding_divergence_rows(f, s.funding_divergence),
    "funding_spread": lambda f, s: funding_spread_rows(f, s.funding_spread),
    "oi_price_regime": lambda f, s: oi_price_regime_rows(f, s.oi_price_regime),
    "oi_divergence": lambda f, s: oi_divergence_rows(f, s.oi_divergence),
    "oi_spike": lambda f, s: oi_spike_rows(f, s.oi_spike),
    "trapped_traders": lambda f, s: trapped_traders_rows(f, s.trapped_traders),
    "cvd_divergence": lambda f, s: cvd_divergence_rows(f, s.cvd_divergence),
    "swing_failure": lambda f, s: swing_failure_rows(f, s.swing_failure),
    "spring": lambda f, s: spring_rows(f, s.spring),
    "break_of_structure": lambda f, s: break_of_structure_rows(f, s.break_of_structure),
    "volume_confirmation": lambda f, s: volume_confirmation_rows(f, s.volume_confirmation),
    "regime": lambda f, s: regime_rows(f, s.regime),
}


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


def armed(r: Readings, allowed=TRIGGERS) -> frozenset[Direction]:
    """The ways the structure triggers point now: no trade is possible in any other, so a
    strategy reads its positioning modules only when this is not empty. Once per reading
    and set of triggers (every strategy asks)."""
    ways = r._armed.get(allowed)
    if ways is None:
        ways = r._armed[allowed] = frozenset(
            r[name].direction for name in allowed
            if r[name].direction != Direction.FLAT and r[name].invalidation is not None)
    return ways


def _why(r: Readings, *modules: str) -> dict:
    return {m: dict(r[m].reasons) for m in (*modules, "regime")}


def _with_trigger(name: str, r: Readings, bias: Callable[[], Direction], s: SignalSet,
                  modules: tuple, allowed=TRIGGERS, is_fade: bool = True) -> TradePlan | None:
    if not armed(r, allowed):
        return None
    direction = Direction(bias())
    if direction == Direction.FLAT:
        return None
    trig = trigger(r, direction, allowed)
    if trig is None:
        return None
    return build_plan(name, r.view, direction, trig.invalidation, r.regime,
                      _why(r, *modules, trig.module), r.clusters, s.plan, is_fade=is_fade)


def fade_bias(r: Readings) -> Direction:
    """Extreme funding across exchanges, else by z-score: the crowd to fade."""
    return r["funding_extreme"].direction or r["funding_zscore"].direction


def confluence_bias(r: Readings) -> Direction:
    """The way three or more positioning modules agree with none against, else flat."""
    votes = [r[m].direction for m in VOTERS if r[m].direction != Direction.FLAT]
    return votes[0] if len(votes) >= 3 and len(set(votes)) == 1 else Direction.FLAT


def funding_fade(r: Readings, s: SignalSet) -> TradePlan | None:
    """Extreme funding (across exchanges, or by z-score) + a swing failure or spring."""
    return _with_trigger("funding_fade", r, lambda: fade_bias(r), s,
                         ("funding_extreme", "funding_zscore"), ("swing_failure", "spring"))


def oi_divergence_reversal(r: Readings, s: SignalSet) -> TradePlan | None:
    return _with_trigger("oi_divergence_reversal", r, lambda: r["oi_divergence"].direction, s,
                         ("oi_divergence",))


def trapped_trader(r: Readings, s: SignalSet) -> TradePlan | None:
    return _with_trigger("trapped_trader", r, lambda: r["trapped_traders"].direction, s,
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
    """Three or more positioning modules agree, none disagrees, and structure confirms.
    Voters are read in order and the count stops at the first that cannot be traded (one
    against a trigger's way, or too few left to reach three)."""
    ways = armed(r)
    if not ways:
        return None
    votes: list[Direction] = []
    for k, m in enumerate(VOTERS):
        if len(votes) + len(VOTERS) - k < 3:
            return None
        d = r[m].direction
        if d != Direction.FLAT:
            if d not in ways or (votes and d != votes[0]):
                return None
            votes.append(d)
    if len(votes) < 3:
        return None
    agreeing = tuple(m for m in VOTERS if r[m].direction == votes[0])
    return _with_trigger("triple_confluence", r, lambda: votes[0], s, agreeing)


def composite_strategy(r: Readings, s: SignalSet) -> TradePlan | None:
    """The composite score's way + a trigger; the score (and the liquidation map it reads)
    only when a trigger is armed and its funding and trapped terms leave it room to lean."""
    if not armed(r) or not composite_can_lean(r, s.composite):
        return None
    return _with_trigger("composite", r, lambda: r["composite"].direction, s, ("composite",))


def reversion(r: Readings, s: SignalSet) -> TradePlan | None:
    """The funding z-score alone (no trigger), a fixed ATR stop and a time exit."""
    z = r["funding_zscore"]
    if z.direction == Direction.FLAT:
        return None  # the regime (for the plan) is read only for a plan
    return funding_reversion(r.view, z, r.regime, s.funding_reversion)


STRATEGIES: dict[str, Callable[[Readings, SignalSet], TradePlan | None]] = {
    "funding_fade": funding_fade,
    "oi_divergence_reversal": oi_divergence_reversal,
    "trapped_trader": trapped_trader,
    "liquidation_magnet": magnet,
    "triple_confluence": triple_confluence,
    "composite": composite_strategy,
    "funding_reversion": reversion,
}

# Each strategy's positioning bias, without its trigger: a signal episode is a run of bars
# on which it points one way; it ends when the bias returns inside its band (flat) or turns.
BIAS: dict[str, Callable[[Readings], Direction]] = {
    "funding_fade": fade_bias,
    "oi_divergence_reversal": lambda r: r["oi_divergence"].direction,
    "trapped_trader": lambda r: r["trapped_traders"].direction,
    "liquidation_magnet": lambda r: r["liquidation_magnet"].direction,
    "triple_confluence": confluence_bias,
    "composite": lambda r: r["composite"].direction,
    "funding_reversion": lambda r: r["funding_zscore"].direction,
}
