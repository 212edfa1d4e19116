"""The signal modules on hand-built series: each rule's boundary pinned, abstentions named."""

import numpy as np
import pytest

from strategies.confluence import CompositeParams, ConfluenceParams, composite, confluence
from strategies.flow import CVDParams, cvd_divergence
from strategies.funding import (
    FundingAccelerationParams,
    FundingDivergenceParams,
    FundingSpreadParams,
    funding_acceleration,
    funding_divergence,
    funding_spread,
)
from strategies.liquidation import ClimaxParams, MagnetParams, cascade_climax, liquidation_magnet
from strategies.liquidation_map import Cluster, LiquidationMapParams, clusters
from strategies.oi import (
    OIDivergenceParams,
    OIPriceRegimeParams,
    OISpikeParams,
    TrappedParams,
    divergence_ratio,
    oi_divergence,
    oi_price_regime,
    oi_spike,
    trapped_traders,
)
from strategies.options import OptionsParams, max_pain, options_positioning
from strategies.playbook import STRATEGIES, SignalSet, read_all
from strategies.series import oi_weighted_funding
from strategies.structure import (
    BreakParams,
    SpringParams,
    VolumeParams,
    break_of_structure,
    spring,
    volume_confirmation,
)
from strategies.types import Candles, Direction, OptionQuote, OptionsChain, Series, Signal
from tests.helpers import HOUR, T0, candles, view

VENUE = "binanceusdm"


def oi_view(price: list[float], oi: list[float], funding=None, taker=None):
    """Hourly candles and hourly OI ending at the same instant."""
    c = candles(price)
    if taker is not None:
        c = Candles(c.ts, c.open, c.high, c.low, c.close, np.full(len(c), 100.0), c.atr, c.adx,
                    np.asarray(taker, float))
    oi_ts = c.ts + HOUR
    s = Series(oi_ts, np.asarray(oi, float))
    return view(funding or {VENUE: [0.0001] * 4}, c=c, oi={VENUE: s})


# ---- funding -------------------------------------------------------------------------
def test_acceleration_levels_and_parabolic_vector():
    p = FundingAccelerationParams()
    para = funding_acceleration(view({VENUE: [0.0003, 0.0006, 0.0010]}), p)
    assert para.direction == Direction.SHORT and para.reasons["level"] == "parabolic"
    strong = funding_acceleration(view({VENUE: [0.0001, 0.0001, 0.0004]}), p)
    assert strong.reasons["level"] == "strong"
    moderate = funding_acceleration(view({VENUE: [0.0001, 0.0001, 0.0003]}), p)
    assert moderate.reasons["level"] == "moderate"
    below = funding_acceleration(view({VENUE: [0.0001, 0.0001, 0.000299]}), p)
    assert below.direction == Direction.FLAT
    neg = funding_acceleration(view({VENUE: [-0.0003, -0.0006, -0.0010]}), p)
    assert neg.direction == Direction.LONG and neg.reasons["level"] == "parabolic"
    assert funding_acceleration(view({VENUE: [0.0001, 0.0002]}), p).abstained


def test_funding_divergence_new_high_with_falling_funding():
    p = FundingDivergenceParams(lookback_bars=10, funding_periods=3)
    up = list(np.linspace(100, 101, 30)) + [102.0]
    bear = funding_divergence(view({VENUE: [0.0008, 0.0007, 0.0006, 0.0004]}, c=candles(up)), p)
    assert bear.direction == Direction.SHORT
    same = funding_divergence(view({VENUE: [0.0004, 0.0005, 0.0006, 0.0008]}, c=candles(up)), p)
    assert same.direction == Direction.FLAT
    down = list(np.linspace(101, 100, 30)) + [99.0]
    bull = funding_divergence(view({VENUE: [-0.0008, -0.0006, -0.0005, -0.0002]},
                                   c=candles(down)), p)
    assert bull.direction == Direction.LONG


def test_oi_weighted_funding_of_one_exchange_is_the_weighted_formula_to_the_bit():
    """One exchange's rate through its own weight (NaN, zero, negative or missing OI:
    equal weights) is what the formula over arrays gives, bit for bit."""
    rng = np.random.default_rng(2)
    c = candles(np.linspace(100, 101, 30))
    end = int(c.ts[-1]) + HOUR
    for _ in range(3000):
        rate = float(rng.normal(0, 3e-4)) * float(rng.choice([1.0, 1e-3, 7.0]))
        w = float(rng.choice([np.nan, 0.0, -5.0, np.inf, float(rng.lognormal(18, 3))]))
        oi = {} if rng.random() < 0.2 else {"a": Series(np.array([end]), np.array([w]))}
        got, n = oi_weighted_funding(view({"a": [rate]}, c=c, oi=oi))
        weights = np.array([w if oi else np.nan])
        if np.isnan(weights).any() or weights.sum() <= 0:
            weights = np.ones(1)
        with np.errstate(invalid="ignore"):  # inf / inf
            want = float(np.dot([rate], weights) / weights.sum())
        assert n == 1 and (got == want or (np.isnan(got) and np.isnan(want))), (rate, w)


def test_funding_spread_and_oi_weighted_funding():
    p = FundingSpreadParams()
    c = candles(np.linspace(100, 101, 30))
    end = int(c.ts[-1]) + HOUR
    oi = {"a": Series(np.array([end]), np.array([300.0])),
          "b": Series(np.array([end]), np.array([100.0]))}
    v = view({"a": [0.0001], "b": [0.0005]}, c=c, oi=oi)
    rate, n = oi_weighted_funding(v)
    assert n == 2 and rate == pytest.approx((0.0001 * 300 + 0.0005 * 100) / 400)
    sig = funding_spread(v, p)
    assert sig.reasons["spread"] == pytest.approx(0.0004) and sig.reasons["alert"] is True
    calm = funding_spread(view({"a": [0.0001], "b": [0.0003]}, c=c), p)
    assert calm.reasons["alert"] is False  # 0.02 % < 0.03 %
    assert funding_spread(view({"a": [0.0001]}, c=c), p).abstained


# ---- open interest ---------------------------------------------------------------------
def test_divergence_ratio_vector():
    assert divergence_ratio(0.16, -0.12) == pytest.approx(0.75)
    assert divergence_ratio(0.16, 0.12) == 0.0


def test_oi_divergence_sustained_three_days():
    p = OIDivergenceParams()
    n = 24 * 4
    price = list(100 * np.linspace(1.0, 1.16, n + 1) ** 1)
    price = [100.0] * 24 + list(np.geomspace(100, 116, 73))
    oi = [1000.0] * 24 + list(np.geomspace(1000, 880, 73))
    sig = oi_divergence(oi_view(price, oi), p)
    assert sig.direction == Direction.SHORT
    assert sig.reasons["ratio"] == pytest.approx(0.75, abs=0.01)
    small = [1000.0] * 24 + list(np.geomspace(1000, 950, 73))  # OI −5 % < 8 %
    assert oi_divergence(oi_view(price, small), p).direction == Direction.FLAT
    agree = [1000.0] * 24 + list(np.geomspace(1000, 1120, 73))
    assert oi_divergence(oi_view(price, agree), p).direction == Direction.FLAT
    assert oi_divergence(view({VENUE: [0.0001]}), p).abstained  # no OI feed


def test_oi_price_regime_four_cases():
    p = OIPriceRegimeParams()
    up, down = list(np.linspace(100, 102, 30)), list(np.linspace(102, 100, 30))
    oi_up, oi_down = list(np.linspace(100, 105, 30)), list(np.linspace(105, 100, 30))
    cases = {(True, True): ("new_longs", Direction.LONG),
             (True, False): ("short_covering", Direction.FLAT),
             (False, True): ("new_shorts", Direction.SHORT),
             (False, False): ("long_capitulation", Direction.LONG)}
    for (pu, ou), (case, d) in cases.items():
        sig = oi_price_regime(oi_view(up if pu else down, oi_up if ou else oi_down), p)
        assert (sig.reasons["case"], sig.direction) == (case, d)


def test_oi_spike_side_from_funding():
    p = OISpikeParams()
    oi = [100.0] * 200 + list(np.linspace(100, 112, 25))
    price = list(np.full(225, 100.0))
    hot = oi_spike(oi_view(price, oi, {VENUE: [0.0003] * 3}), p)
    assert hot.direction == Direction.SHORT and hot.reasons["fragile"]
    cold = oi_spike(oi_view(price, oi, {VENUE: [-0.0003] * 3}), p)
    assert cold.direction == Direction.LONG
    drift = list(np.geomspace(100, 100 * 1.01 ** (200 / 24), 200))  # +1 % a day ...
    jump = drift + list(np.geomspace(drift[-1], drift[-1] * 1.05, 25))  # ... then +5 % in 24 h
    sig = oi_spike(oi_view(price, jump), p)
    assert sig.direction == Direction.SHORT  # 5 % ≥ 3 × the 1 % average
    assert sig.reasons["avg_abs_change_24h"] == pytest.approx(0.01, rel=0.05)
    steady = list(np.geomspace(100, 100 * 1.04 ** (225 / 24), 225))  # +4 % every day
    assert oi_spike(oi_view(price, steady), p).direction == Direction.FLAT


def test_trapped_traders_both_sides():
    p = TrappedParams()
    oi = list(np.linspace(100, 108, 30))
    longs = trapped_traders(oi_view(list(np.linspace(102, 100, 30)), oi,
                                    {VENUE: [0.0002] * 3}), p)
    assert longs.direction == Direction.SHORT and longs.reasons["trapped"] == "longs"
    shorts = trapped_traders(oi_view(list(np.linspace(100, 102, 30)), oi,
                                     {VENUE: [-0.0002] * 3}), p)
    assert shorts.direction == Direction.LONG
    cheap = trapped_traders(oi_view(list(np.linspace(102, 100, 30)), oi,
                                    {VENUE: [0.0001] * 3}), p)  # funding at, not above
    assert cheap.direction == Direction.FLAT


# ---- flow, options ---------------------------------------------------------------------
def test_cvd_lower_high_against_price_higher_high():
    p = CVDParams(window=20, recent=5)
    price = list(np.linspace(100, 104, 15)) + [103, 103.5, 104.2, 104.6, 104.3]
    strong_buying = [80.0] * 15 + [55.0] * 5  # CVD still rises, but less ...
    flow = [80.0] * 10 + [20.0] * 5 + [60.0] * 5  # ... here it peaks before price
    sig = cvd_divergence(oi_view(price, [1.0] * 20, taker=flow), p)
    assert sig.direction == Direction.SHORT and sig.reasons["cvd_shape"] == "lower high"
    same = cvd_divergence(oi_view(price, [1.0] * 20, taker=strong_buying), p)
    assert same.direction == Direction.FLAT
    assert cvd_divergence(view(c=candles(price)), p).abstained  # no taker volume


def test_max_pain_on_a_hand_computed_chain():
    chain = OptionsChain(T0, (
        OptionQuote(90, "put", 100), OptionQuote(100, "put", 50), OptionQuote(100, "call", 50),
        OptionQuote(110, "call", 100),
    ))
    # payout at 90: calls 0 + puts 50×10 = 500; at 100: 0; at 110: calls 50×10 = 500
    assert max_pain(chain) == 100
    sig = options_positioning(OptionsChain(T0, (
        OptionQuote(100, "put", 10, volume=130), OptionQuote(100, "call", 10, volume=100))),
        OptionsParams())
    assert sig.direction == Direction.LONG and sig.reasons["put_call"] == pytest.approx(1.3)
    assert options_positioning(None, OptionsParams()).abstained


# ---- liquidations --------------------------------------------------------------------
def test_liquidation_map_places_known_oi_at_known_prices():
    p = LiquidationMapParams(mix=((5, 0.5), (10, 0.5)))
    price = np.array([100.0, 100.0, 100.0])
    oi = np.array([0.0, 1000.0, 1000.0])  # 1000 contracts opened at 100: 100 000 notional
    found = {(round(c.price, 6), c.side): c.notional
             for c in clusters(price, price + 0.5, price - 0.5, oi, p)}
    assert found == {(82.0, "long"): 50_000, (91.0, "long"): 50_000,
                     (118.0, "short"): 50_000, (109.0, "short"): 50_000}
    crossed = clusters(np.array([100.0, 100.0, 100.0]), np.array([100, 100, 100.0]),
                       np.array([100, 100, 90.0]), oi, p)  # price later traded down to 90
    assert all(c.price != 91.0 for c in crossed)
    halved = clusters(price, price + 0.5, price - 0.5, np.array([0.0, 1000.0, 500.0]), p)
    assert {c.notional for c in halved} == {25_000}


def test_liquidation_magnet_and_climax():
    p = MagnetParams()
    price = [100.0] * 30 + list(np.linspace(100, 103, 20))  # came from 4 % away to 0.9 %
    v = oi_view(price, [1.0] * 50)
    sig = liquidation_magnet(v, [Cluster(103.9, 5e7, "short", True)], p)
    assert sig.direction == Direction.LONG and sig.reasons["target"] == pytest.approx(
        103.9 * 1.002)
    assert liquidation_magnet(v, [Cluster(103.9, 5e7, "short", False)], p).direction == 0
    assert liquidation_magnet(v, [], p).abstained
    vol = np.full(30, 10.0)
    vol[-1] = 60.0
    c = candles(list(np.linspace(100, 110, 29)) + [109.0])
    c = Candles(c.ts, c.open, c.high, c.low, c.close, vol, c.atr, c.adx)
    assert cascade_climax(view(c=c), 1, ClimaxParams())
    assert not cascade_climax(view(c=c), -1, ClimaxParams())


# ---- structure ---------------------------------------------------------------------
def test_spring_break_of_structure_and_volume():
    base = [100.0, 100.5, 101, 100.5, 100, 100.5, 101, 100.5, 100, 100.5]
    sprung = candles(base + [99.7, 100.4], low=[99.8] * 10 + [99.0, 99.9],
                     high=[101.2] * 10 + [100.0, 100.6])
    sig = spring(view(c=sprung), SpringParams(lookback=8, reclaim_bars=2))
    assert sig.direction == Direction.LONG and sig.invalidation == 99.0
    zig = [100, 102, 104, 103, 101, 103, 105, 104, 102, 104, 106, 105, 103, 104, 107]
    hl = candles(zig, high=[z + 0.5 for z in zig], low=[z - 0.5 for z in zig])
    bos = break_of_structure(view(c=hl), BreakParams(pivot=1, lookback=15))
    assert bos.direction == Direction.LONG and bos.reasons["swing_high"] == 106.5
    assert bos.invalidation == 102.5  # the last swing low
    assert break_of_structure(view(c=candles(zig[:-1] + [106])), BreakParams(pivot=1, lookback=15)
                              ).direction == Direction.FLAT
    vol = np.full(25, 10.0)
    vol[-1] = 30.0
    c = candles(np.linspace(100, 101, 25))
    loud = Candles(c.ts, c.open, c.high, c.low, c.close, vol, c.atr, c.adx)
    assert volume_confirmation(view(c=loud), VolumeParams()).direction == Direction.LONG
    vol[-1] = 29.9
    assert volume_confirmation(view(c=loud), VolumeParams()).direction == Direction.FLAT


# ---- confluence and composite ----------------------------------------------------------
def _scenario(dp_up: bool, oi_change: float, funding: float, hours: int = 49):
    price = list(np.linspace(100, 102 if dp_up else 98, hours))
    oi = list(np.linspace(100, 100 * (1 + oi_change), hours))
    return oi_view(price, oi, {VENUE: [funding] * 3})


@pytest.mark.parametrize("args, scenario, direction", [
    ((False, 0.12, 0.0006), "long_squeeze", Direction.SHORT),
    ((True, 0.12, -0.0006), "short_squeeze", Direction.LONG),
    ((True, 0.04, 0.0001), "healthy_trend", Direction.LONG),
    ((True, -0.05, 0.0004), "exhaustion", Direction.SHORT),
])
def test_confluence_scenarios(args, scenario, direction):
    sig = confluence(_scenario(*args), {}, [], ConfluenceParams())
    assert sig.reasons["scenario"] == scenario and sig.direction == direction


def test_confluence_vacuum_and_pre_event_build():
    v = _scenario(True, 0.2, 0.0001)
    both = [Cluster(97.0, 1e8, "long", True), Cluster(104.0, 1e8, "short", True)]
    assert confluence(v, {}, both, ConfluenceParams()).reasons["scenario"] == "pre_event_build"
    vac = {"regime": Signal(
        "regime", Direction.FLAT, 0.0, {"regime": "vacuum"})}
    assert confluence(v, vac, [], ConfluenceParams()).reasons["scenario"] == "vacuum"
    assert confluence(view({VENUE: [0.0001]}), {}, [], ConfluenceParams()).abstained


def test_composite_score_formula():
    v = view(c=candles(np.linspace(100, 101, 40)))
    price, atr = float(v.candles.close[-1]), float(v.candles.atr[-1])
    readings = {"funding_zscore": Signal("funding_zscore", Direction.SHORT, 1, {"z": 2.5}),
                "trapped_traders": Signal("trapped_traders", Direction.SHORT, 1, {})}
    cluster = Cluster(price - atr, 1e8, "long", True)  # 1 ATR below: half the weight
    sig = composite(v, readings, [cluster], CompositeParams())
    assert sig.reasons["score"] == pytest.approx(-0.3 - 0.4 - 0.3 * 0.5)
    assert sig.direction == Direction.SHORT and sig.strength == 1.0
    weak = composite(v, {"funding_zscore": readings["funding_zscore"]}, [], CompositeParams())
    assert weak.reasons["confidence"] == pytest.approx(0.3 / 0.7, abs=1e-6)
    assert weak.direction == Direction.FLAT  # below the confidence floor



def test_a_composite_that_cannot_lean_is_flat_whatever_the_map_holds():
    """composite_can_lean (the decision's shortcut past the liquidation map) says False only
    when the composite is flat for every cluster set; and it does say it, and True too."""
    from strategies.confluence import composite_can_lean

    rng = np.random.default_rng(9)
    v = view(c=candles(np.linspace(100, 101, 40)))
    price, atr = float(v.candles.close[-1]), float(v.candles.atr[-1])
    said = {True: 0, False: 0}
    for _ in range(3000):
        p = CompositeParams(w_funding=float(rng.choice([0.3, rng.uniform(0, 1)])),
                            w_trapped=float(rng.choice([0.4, rng.uniform(0, 1)])),
                            w_cluster=float(rng.choice([0.3, rng.uniform(0, 1)])),
                            full_confidence=float(rng.choice([0.7, rng.uniform(0.1, 1)])),
                            min_confidence=float(rng.choice([0.5, rng.uniform(0, 1)])))
        readings = {"funding_zscore": Signal("funding_zscore", Direction.FLAT, 0,
                                             {"z": float(rng.choice([0, 1.5, 2.5, -3]))}),
                    "trapped_traders": Signal("trapped_traders",
                                              Direction(int(rng.integers(-1, 2))), 1, {})}
        lean = composite_can_lean(readings, p)
        said[lean] += 1
        if lean:
            continue
        for _ in range(5):
            found = [Cluster(price + float(rng.uniform(-3, 3)) * atr, 1e6,
                             str(rng.choice(["long", "short"])), bool(rng.random() < 0.8))
                     for _ in range(int(rng.integers(0, 4)))]
            found.append(Cluster(price + atr * 1e-9, 1e6, "short", True))  # the most it adds
            assert composite(v, readings, found, p).direction == Direction.FLAT, (p, readings)
    assert said[True] > 100 and said[False] > 100

def test_missing_inputs_make_every_module_abstain_never_crash():
    bare = view({VENUE: [0.0001] * 3}, c=candles(np.linspace(100, 101, 30)))
    r = read_all(bare, SignalSet())
    for name in ("oi_price_regime", "oi_divergence", "oi_spike", "trapped_traders",
                 "liquidation_map", "liquidation_magnet", "cvd_divergence",
                 "options_positioning", "funding_extreme", "funding_spread", "confluence"):
        assert r[name].abstained, name
        assert r[name].direction == Direction.FLAT
    assert all(build(r, SignalSet()) is None for build in STRATEGIES.values())


def _oi_view(closes: np.ndarray):
    c = candles(closes)
    oi = Series(c.ts + HOUR, np.linspace(1e9, 1.2e9, len(closes)))
    return view({VENUE: [0.0009] * 4, "bybit": [0.0009] * 4}, c=c, oi={VENUE: oi})


def test_without_a_trigger_deciding_reads_the_triggers_only():
    """Each strategy looks at its structure trigger first: with none armed, the decision
    reads three modules, and the rest are read afterwards (for the signal rows and alerts)
    with the same values as read all at once."""
    from strategies.playbook import MODULES, TRIGGERS, armed

    v = _oi_view(100 + np.cumsum(np.random.default_rng(0).normal(0, 0.5, 200)))
    s = SignalSet()
    r = read_all(v, s)
    assert not armed(r)  # no sweep, spring or break on the last bar
    assert all(build(r, s) is None for name, build in STRATEGIES.items()
               if name not in ("liquidation_magnet", "funding_reversion"))
    assert set(r) == set(TRIGGERS)  # (those two need no trigger; both are off by default)
    later = r.signals
    assert list(later) == list(MODULES) and later == read_all(v, s).signals


@pytest.mark.parametrize("first", [("swing_failure", "spring"), None])
def test_armed_answers_for_the_triggers_asked_whatever_was_asked_before(first):
    """A break of structure alone arms the strategies that read it and not funding_fade,
    which reads the swing failure and the spring only — in either order of asking."""
    from strategies.playbook import TRIGGERS, Readings, armed

    r = Readings(_oi_view(np.linspace(100, 110, 200)), SignalSet())
    r["swing_failure"], r["spring"] = Signal.flat("swing_failure"), Signal.flat("spring")
    r["break_of_structure"] = Signal("break_of_structure", Direction.SHORT, 0.6,
                                     {"swing_low": 99.0}, invalidation=101.0)
    if first is not None:
        assert armed(r, first) == set()
    assert armed(r) == armed(r, TRIGGERS) == {Direction.SHORT}
    assert armed(r, ("break_of_structure", "swing_failure")) == {Direction.SHORT}
    assert armed(r, ("swing_failure", "spring")) == set()
    assert STRATEGIES["funding_fade"](r, SignalSet()) is None


def test_triple_confluence_stops_counting_early_but_decides_as_the_plain_rule():
    """Three or more voters agree, none disagrees, and a trigger points their way — on 2 000
    random boards, against the rule written plainly."""
    from strategies.playbook import TRIGGERS, VOTERS, triple_confluence

    v = _oi_view(100 + np.cumsum(np.random.default_rng(1).normal(0, 0.5, 200)))
    close, s = float(v.candles.close[-1]), SignalSet()
    rng = np.random.default_rng(8)
    made = 0
    for _ in range(2000):
        r = read_all(v, s)
        board = {m: Direction(int(rng.choice([-1, 0, 0, 0, 1]))) for m in (*VOTERS, *TRIGGERS)}
        for m, d in board.items():
            inval = None if m not in TRIGGERS or d == 0 else close * (1 - 0.01 * d)
            r[m] = Signal(m, d, 0.5, {}, invalidation=inval)
        votes = [board[m] for m in VOTERS if board[m] != Direction.FLAT]
        want = None
        if len(votes) >= 3 and len(set(votes)) == 1 and votes[0] in {board[t] for t in TRIGGERS}:
            want = votes[0]
        plan = triple_confluence(r, s)
        assert (plan.direction if plan else None) == want, board
        made += plan is not None
    assert made > 20
