"""Signal modules on hand-built series: each rule's boundary pinned."""

import numpy as np
import pytest

from strategies.funding import (
    FundingExtremeParams,
    FundingZScoreParams,
    funding_extreme,
    funding_zscore,
    to_8h,
)
from strategies.indicators import WilderIndicators, atr_adx
from strategies.playbook import SignalSet, funding_fade, read_all
from strategies.regime import RegimeParams, regime
from strategies.structure import SwingFailureParams, swing_failure
from strategies.types import Direction, Series
from tests.helpers import BTC, HOUR, candles, view

P = FundingExtremeParams()


def test_funding_extreme_threshold_boundary():
    below = view({"binanceusdm": [0.000499] * 3, "bybit": [0.000499] * 3})
    at = view({"binanceusdm": [0.0005] * 3, "bybit": [0.0005] * 3})
    assert funding_extreme(below, P).direction == Direction.FLAT
    sig = funding_extreme(at, P)
    assert sig.direction == Direction.SHORT
    assert sig.reasons == {"funding_avg": 0.0005, "exchanges": 2, "periods": 3}
    neg = funding_extreme(view({"binanceusdm": [-0.0006] * 3, "okx": [-0.0007] * 3}), P)
    assert neg.direction == Direction.LONG


def test_funding_extreme_persistence_and_exchange_count():
    two_periods = view({"binanceusdm": [0.0001, 0.0006, 0.0006],
                        "bybit": [0.0001, 0.0006, 0.0006]})
    assert funding_extreme(two_periods, P).direction == Direction.FLAT
    one_exchange = view({"binanceusdm": [0.0006] * 3, "bybit": [0.0001] * 3})
    assert funding_extreme(one_exchange, P).direction == Direction.FLAT
    lone = funding_extreme(view({"binanceusdm": [0.0009] * 5}), P)
    assert lone.abstained and "needs funding from 2 exchanges" in lone.reasons["abstain"]
    relaxed = funding_extreme(view({"binanceusdm": [0.0009] * 5}),
                              FundingExtremeParams(min_exchanges=1))
    assert relaxed.direction == Direction.SHORT


def test_funding_extreme_strength_grows_with_distance_duration_breadth():
    base = funding_extreme(view({"a": [0.0005] * 3, "b": [0.0005] * 3, "c": [0.0] * 3}), P)
    further = funding_extreme(view({"a": [0.001] * 3, "b": [0.001] * 3, "c": [0.0] * 3}), P)
    longer = funding_extreme(view({"a": [0.0005] * 6, "b": [0.0005] * 6, "c": [0.0] * 6}), P)
    wider = funding_extreme(view({"a": [0.0005] * 3, "b": [0.0005] * 3, "c": [0.0005] * 3}), P)
    assert 0 < base.strength < min(further.strength, longer.strength, wider.strength) <= 1


def test_stale_funding_is_not_counted():
    v = view({"binanceusdm": [0.0009] * 3, "bybit": [0.0009] * 3})
    stale = {ex: Series(s.ts - 24 * HOUR, s.value) for ex, s in v.funding.items()}
    from dataclasses import replace
    sig = funding_extreme(replace(v, funding=stale), P)
    assert sig.abstained and "have 0 fresh" in sig.reasons["abstain"]


def test_funding_normalised_to_8h():
    assert to_8h(0.0001, 1) == pytest.approx(0.0008)
    assert to_8h(0.0002, 4) == pytest.approx(0.0004)
    assert to_8h(0.0005, 8) == 0.0005


def test_funding_zscore_extremes_and_annualised():
    p = FundingZScoreParams()
    calm = [0.0001 + 0.00001 * ((i % 5) - 2) for i in range(104)]
    assert funding_zscore(view({"binanceusdm": calm}), p).direction == Direction.FLAT
    hot = calm[:-21] + [0.0006] * 21
    sig = funding_zscore(view({"binanceusdm": hot}), p)
    assert sig.direction == Direction.SHORT and sig.reasons["z"] > 2
    assert sig.reasons["annualised"] == pytest.approx(0.0006 * 3 * 365)
    cold = calm[:-21] + [-0.0004] * 21
    assert funding_zscore(view({"binanceusdm": cold}), p).direction == Direction.LONG
    short = funding_zscore(view({"binanceusdm": calm[:50]}), p)
    assert short.abstained and "needs 104 funding periods" in short.reasons["abstain"]


def test_wilder_atr_matches_hand_computation():
    high, low, close = [10, 11, 12, 11], [9, 10, 10, 9], [9.5, 10.5, 11, 10]
    atr, _ = atr_adx(np.array(high, float), np.array(low, float), np.array(close, float), n=2)
    # TRs: 1.5, 2, 2 (bar 2: max(2, |12-10.5|, |10-10.5|)); ATR2 = (1.5+2)/2, then Wilder
    assert np.isnan(atr[:2]).all()
    assert atr[2] == pytest.approx(1.75)
    assert atr[3] == pytest.approx(1.75 + (2 - 1.75) / 2)
    ind = WilderIndicators(2)
    assert [ind.update(h, lo, c)[0] for h, lo, c in zip(high, low, close)][-1] == atr[3]


def test_regime_trending_volatile_ranging_and_vacuum():
    p = RegimeParams()
    trend = candles(100 * np.exp(np.linspace(0, 0.5, 200)), spread=0.001)
    sig = regime(view(c=trend), p)
    assert sig.reasons["regime"] == "trending" and sig.direction == Direction.LONG
    rng = np.random.default_rng(1)
    chop = 100 + 0.5 * np.sin(np.arange(400) * 2 * np.pi / 6) + rng.normal(0, 0.05, 400)
    quiet = candles(chop, spread=0.002)
    assert regime(view(c=quiet), p).reasons["regime"] == "ranging"
    spread = np.full(400, 0.002)
    spread[-1] = 0.05
    hi = np.maximum(chop, np.roll(chop, 1)) * (1 + spread)
    hi[0] = chop[0] * 1.002
    lo = np.minimum(chop, np.roll(chop, 1)) * (1 - 0.002)
    lo[0] = chop[0] * 0.998
    wild = candles(chop, high=list(hi), low=list(lo))
    assert regime(view(c=wild), p).reasons["regime"] == "volatile"
    oi = Series(quiet.ts, np.linspace(200, 100, len(quiet)))
    vac = regime(view({"binanceusdm": [0.00005] * 5}, c=quiet, oi={"binanceusdm": oi}), p)
    assert vac.reasons["regime"] == "vacuum"
    few = regime(view(c=candles([100, 101, 102])), p)
    assert few.abstained


def test_swing_failure_needs_a_close_back_inside():
    p = SwingFailureParams(lookback=5)
    base = [100, 101, 102, 101, 100, 101]
    highs = [100.5, 101.5, 103, 101.5, 100.5]
    lows = [99.5, 100.5, 101.5, 100.5, 99.5]
    sfp = candles(base, high=highs + [104], low=lows + [100.5])
    sig = swing_failure(view(c=sfp), p)
    assert sig.direction == Direction.SHORT and sig.invalidation == 104
    assert sig.reasons["swing_high"] == 103
    breakout = candles(base[:-1] + [103.5], high=highs + [104], low=lows + [101])
    assert swing_failure(view(c=breakout), p).direction == Direction.FLAT
    spring = candles(base[:-1] + [100], high=highs + [101], low=lows + [99])
    sig = swing_failure(view(c=spring), p)
    assert sig.direction == Direction.LONG and sig.invalidation == 99
    assert swing_failure(view(c=candles([1, 2])), p).abstained


def _fade_view(funding_rate: float):
    rng = np.random.default_rng(5)
    close = list(100 + np.cumsum(rng.normal(0, 0.2, 200)) * 0.05)
    c0 = candles(close)
    highs, lows = list(c0.high), list(c0.low)
    swing = max(highs[-25:-1])
    highs[-1] = swing * 1.004
    close[-1] = swing * 0.998
    lows[-1] = min(lows[-1], close[-1], close[-2]) * 0.999
    c = candles(close, high=highs, low=lows)
    return view({"binanceusdm": [funding_rate] * 4, "bybit": [funding_rate] * 4}, c=c)


def test_funding_fade_needs_both_the_extreme_and_the_trigger():
    sp = SignalSet()
    plan = funding_fade(read_all(_fade_view(0.0008), sp), sp)
    assert plan is not None and plan.direction == Direction.SHORT
    plan.check()
    assert plan.stop > plan.entry > plan.targets[0].price > plan.targets[2].price
    assert plan.targets[0].price == pytest.approx(plan.entry - plan.stop_distance)
    assert [t.fraction for t in plan.targets] == [0.4, 0.3, 0.3]
    assert plan.atr <= plan.stop_distance <= 2 * plan.atr + 1e-9
    assert set(plan.reasons) >= {"funding_extreme", "swing_failure", "regime"}
    assert plan.reasons["targets"]["t1"] == "1R"
    assert funding_fade(read_all(_fade_view(0.0001), sp), sp) is None  # the trigger alone


def test_swing_points_equal_the_plain_window_definition():
    """The shifted-view implementation against the definition: strictly above (below)
    every one of the n bars on each side (ties and NaN included)."""
    from strategies.structure import swing_points

    rng = np.random.default_rng(11)
    for _ in range(300):
        size, n = int(rng.integers(1, 60)), int(rng.integers(1, 4))
        high = np.round(rng.normal(100, 1, size), 1)
        low = high - np.round(abs(rng.normal(0, 1, size)), 1)
        if rng.random() < 0.2:  # a missing print is no swing, and no bar beside it is one
            high[rng.integers(size)] = low[rng.integers(size)] = np.nan
        want_h = [i for i in range(n, size - n)
                  if all(high[j] < high[i] for j in range(i - n, i + n + 1) if j != i)]
        want_l = [i for i in range(n, size - n)
                  if all(low[j] > low[i] for j in range(i - n, i + n + 1) if j != i)]
        assert swing_points(high, low, n) == (want_h, want_l)


def test_break_of_structure_over_the_whole_history_equals_the_window_definition():
    """Every bar's break-of-structure reading over the whole history (each bar's swing flag
    read once) is the reading of the definition on that bar's window: the last swing high
    (low) of bars[-lookback:-1] by swing_points, broken by the close (ties, NaN included)."""
    from strategies.frame import Frame
    from strategies.structure import BreakParams, break_of_structure_rows, swing_points
    from strategies.types import Candles, Direction

    rng = np.random.default_rng(5)
    for _ in range(30):
        size = 300
        close = np.round(100 + np.cumsum(rng.normal(0, 0.6, size)), 1)
        high = close + np.round(abs(rng.normal(0, 0.5, size)), 1)
        low = close - np.round(abs(rng.normal(0, 0.5, size)), 1)
        for i in rng.integers(0, size, 4):
            high[i] = low[i] = np.nan
        ts = np.arange(size, dtype=np.int64) * 3_600_000
        p = BreakParams(pivot=int(rng.integers(1, 4)), lookback=int(rng.integers(5, 60)))
        c = Candles(ts, close, high, low, close, np.ones(size), np.ones(size), np.ones(size))
        bars = np.arange(1, size + 1)
        rows = break_of_structure_rows(Frame(BTC, "binanceusdm", ts + HOUR, bars, c, {}, {}), p)
        for end in bars:
            got = rows.signal(end - 1)
            if end < p.lookback:
                assert got.abstained
                continue
            hi, lo = high[end - p.lookback:end - 1], low[end - p.lookback:end - 1]
            highs, lows = swing_points(hi, lo, p.pivot)
            want, level = Direction.FLAT, None
            if highs and close[end - 1] > hi[highs[-1]] >= close[end - 2]:
                want, level = Direction.LONG, lo[lows[-1]] if lows else low[end - 1]
            elif lows and close[end - 1] < lo[lows[-1]] <= close[end - 2]:
                want, level = Direction.SHORT, hi[highs[-1]] if highs else high[end - 1]
            assert got.direction == want, end
            if want == Direction.FLAT:
                assert got.reasons == {"swing_highs": len(highs), "swing_lows": len(lows)}
            else:
                assert got.invalidation == level or (np.isnan(level) and np.isnan(
                    got.invalidation))


@pytest.mark.parametrize("gap", [False, True])
def test_liquidation_map_reads_each_oi_point_against_the_bar_closed_at_its_time(gap):
    """With or without a missing hour, each OI point is paired with the last bar closed at
    its time (not the bar it opened in)."""
    from strategies.liquidation_map import LiquidationMapParams, clusters, map_view

    rng = np.random.default_rng(5)
    c = candles(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400))))
    ts = c.ts[-300:] + HOUR  # each bar's close time
    if gap:
        ts = np.delete(ts, 150)
    oi = Series(ts.astype(float), 1e6 * np.exp(np.cumsum(rng.normal(0, 0.02, len(ts)))))
    p = LiquidationMapParams(lookback_bars=200)
    found = map_view(view(c=c, oi={"binanceusdm": oi}), p)
    idx = np.searchsorted(c.ts + HOUR, oi.ts[-200:], side="right") - 1
    assert found and found == clusters(c.close[idx], c.high[idx], c.low[idx], oi.value[-200:], p)
    shifted = clusters(c.close[idx - 1], c.high[idx - 1], c.low[idx - 1], oi.value[-200:], p)
    assert found != shifted  # pairing one bar off would show


def _btc_views(synth_dir, days: int):
    """BTC's view at each of its bars over the synthetic market's first `days` days."""
    from bot.marketdata import layout as marketdata
    from bot.marketdata.history import History

    h = History("binanceusdm")
    for e in marketdata.load(synth_dir, symbols=("BTC/USDT:USDT",)).events():
        if e.seen > 1_735_689_600_000 + days * 24 * HOUR:
            return
        if h.ingest(e):
            yield h.view(e.symbol, e.seen)


def test_readings_reused_until_a_funding_print_equal_fresh_readings(synth_dir):
    """Over 60 days of three exchanges' data, readings with the per-symbol memo (funding
    modules reused until a print arrives) are the readings computed from scratch."""
    memo, s = {}, SignalSet()
    reused = checked = 0
    for v in _btc_views(synth_dir, 60):
        before = dict(memo)
        fast, fresh = read_all(v, s, memo), read_all(v, s)
        assert fast.signals == fresh.signals, v.now
        reused += sum(1 for k, hit in before.items() if memo[k] is hit)
        checked += 1
    assert checked > 1000 and reused > checked  # most bars reuse the funding readings


def test_funding_aggregate_is_not_reused_while_open_interest_lags_the_print():
    """An exchange's OI at the print's time arriving a bar late re-weights the aggregate:
    the reading taken before it arrived must not be reused after."""
    from dataclasses import replace

    from strategies.frame import Frame
    from strategies.venues import aggregate

    rates = {"binanceusdm": [0.0001, 0.0002, 0.0004, 0.0008], "bybit": [0.0001, 0.0, 0.0, 0.0]}
    base = view(rates)
    last = int(base.funding["binanceusdm"].ts[-1])
    ts = np.array([last - 16 * HOUR, last - 8 * HOUR, last - HOUR], dtype=float)

    def oi(late_bybit: float | None) -> dict[str, Series]:
        by = [1e6, 1e6, 1e6] + ([] if late_bybit is None else [late_bybit])
        by_ts = ts if late_bybit is None else np.append(ts, last)
        return {"binanceusdm": Series(np.append(ts, last), np.full(4, 1e6)),
                "bybit": Series(by_ts, np.array(by))}

    early = replace(base, open_interest=oi(None), funding_version=4)
    late = replace(base, open_interest=oi(9e6), funding_version=4)  # same prints
    memo, s = {}, SignalSet()
    before = read_all(early, s, memo).signals  # every reading taken (read on demand)
    got = read_all(late, s, memo)["funding_acceleration"].reasons["rates"]
    want = aggregate(Frame.of(late), 4)[0][0, -3:].tolist()
    assert got == want and want != before["funding_acceleration"].reasons["rates"]
