"""Computations carried bar to bar (or done the quick way) equal the plain definition they
stand for: quantiles, the regime's ATR window, the point of control, the liquidation book,
OI survival and the history's rings."""

import numpy as np
import pytest

from strategies.regime import RegimeParams, regime
from strategies.types import Series
from tests.helpers import BTC, HOUR, T0, candles, view


def test_quantile_is_numpys_to_the_bit():
    from strategies.series import quantile

    rng = np.random.default_rng(3)
    for _ in range(3000):
        x = rng.lognormal(0, 1, int(rng.integers(1, 2500))) * rng.choice([1e-3, 1.0, 1e4])
        if rng.random() < 0.3:
            x = np.round(x, 1)  # ties
        q = float(rng.choice([0.8, 0.5, 0.01, 0.99, rng.random()]))
        assert quantile(x, q) == float(np.quantile(x, q)), (len(x), q)


def test_sorted_quantile_is_numpys_to_the_bit():
    from strategies.series import sorted_quantile

    rng = np.random.default_rng(4)
    for _ in range(2000):
        x = np.round(rng.lognormal(0, 1, int(rng.integers(1, 2500))), int(rng.integers(1, 6)))
        q = float(rng.choice([0.8, 0.5, 0.01, 0.99, rng.random()]))
        assert sorted_quantile(sorted(x.tolist()), q) == float(np.quantile(x, q)), (len(x), q)


def test_regime_over_many_rows_equals_each_window_gathered_alone():
    """regime over a frame of many rows (the ATR window carried in order from row to row:
    NaN ATRs, ties, trending bars, rows skipped, rows far apart) reads each row as the
    one-row frame of that bar's window gathers it."""
    from strategies.frame import Frame
    from strategies.regime import regime_rows
    from strategies.types import Candles, MarketView

    rng = np.random.default_rng(9)
    for _ in range(12):
        size = 900
        close = 100 + np.cumsum(rng.normal(0, 0.5, size))
        atr = np.round(abs(rng.normal(1, 0.4, size)), 2)  # ties
        atr[:14] = np.nan
        atr[rng.integers(14, size, 5)] = np.nan
        adx = np.round(rng.uniform(5, 45, size), 1)  # above 30: trending, no quantile
        adx[:20] = np.nan
        ts = np.arange(size, dtype=np.int64) * 3_600_000
        p = RegimeParams(vol_lookback_bars=int(rng.integers(20, 400)))
        c = Candles(ts, close, close + 1, close - 1, close, np.ones(size), atr, adx)
        ends = np.sort(rng.choice(np.arange(1, size + 1), int(rng.integers(300, 800)),
                                  replace=False))
        rows = regime_rows(Frame(BTC, "binanceusdm", ts[ends - 1] + HOUR, ends, c, {}, {}), p)
        moved = 0
        for i, end in enumerate(ends.tolist()):
            one = Candles(ts[:end], close[:end], close[:end] + 1, close[:end] - 1,
                          close[:end], np.ones(end), atr[:end], adx[:end])
            view = MarketView(BTC, "binanceusdm", int(ts[end - 1]) + HOUR, one, {}, {})
            assert repr(rows.signal(i)) == repr(regime(view, p)), end
            moved += rows.signal(i).reasons.get("regime") == "volatile"
        assert moved > 10  # the window's quantile decided some bars


def test_point_of_control_bins_are_numpys_histogram_to_the_bit():
    """The volume profile's bins, edge cases included (flat bars whose typical price rounds
    past the range, prices on the edges), are np.histogram's."""
    from strategies.indicators import point_of_control

    def by_histogram(h, lo, c, v, bins=50):
        typical = (h + lo + c) / 3.0
        counts, edges = np.histogram(typical, bins=bins, range=(lo.min(), h.max()), weights=v)
        i = int(counts.argmax())
        return float((edges[i] + edges[i + 1]) / 2)

    rng = np.random.default_rng(5)
    for k in range(4000):
        n = int(rng.integers(2, 100))
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        h, lo = c * (1 + np.abs(rng.normal(0, 0.005, n))), c * (1 - np.abs(rng.normal(0, 0.005, n)))
        if k % 4 == 0:
            h = lo = c  # flat bars: (3 × c) / 3 may round past c
        if k % 5 == 0:
            h, lo = np.ceil(h), np.floor(lo)  # prices on whole numbers: on the edges
            c = np.clip(np.round(c), lo, h)
        v = rng.exponential(10, n)
        if h.max() > lo.min():
            assert point_of_control(h, lo, c, v) == by_histogram(h, lo, c, v), k
    # prices on an edge whose index rounds one bin low, and just below an edge whose index
    # rounds one bin high: the edges decide, as in np.histogram
    for lo, hi, below in ((637.3247256341328, 772.2188127293542, False),
                          (29.2913514743175, 91.43386544082298, True)):
        edges = np.linspace(lo, hi, 51)[1:-1]
        near = np.nextafter(edges, -np.inf) if below else edges
        index = ((near - lo) / (hi - lo) * 50).astype(np.intp)
        tricky = [x for x, i, right in zip(near, index, range(1, 50))
                  if (i != right - 1 if below else i != right) and (x + x + x) / 3.0 == x]
        assert tricky
        for x in tricky:
            px, v = np.array([lo, x, hi]), np.array([1.0, 100.0, 1.0])
            assert point_of_control(px, px, px, v) == by_histogram(px, px, px, v), x
    flat = np.full(5, 7.0)
    assert point_of_control(flat, flat, flat, np.ones(5)) == 7.0  # one price: that price
    assert np.isnan(point_of_control(flat, flat, flat, np.zeros(5)))  # no volume


@pytest.mark.parametrize("stamp", ["bar close", "bar open"])
def test_liquidation_book_follows_the_map_bar_by_bar_through_gaps_and_wipeouts(stamp):
    """Fed views in time order, the book gives map_view's clusters exactly; across a
    missing OI hour it steps aside (None) and rebuilds once the window is hourly again.
    OI stamped at a bar's open time reads the bar before (the first point: none)."""
    from strategies.liquidation_map import LiquidationBook, LiquidationMapParams, map_view

    rng = np.random.default_rng(9)
    c = candles(100 * np.exp(np.cumsum(rng.normal(0, 0.012, 700))))
    oi_all = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.03, 700)))
    oi_all[300:303] = [0.0, 0.0, 5e5]  # open interest wiped out, then back
    ts_all = (c.ts + (HOUR if stamp == "bar close" else 0)).astype(float)
    keep = np.ones(700, bool)
    keep[450] = False  # one OI print missing
    p = LiquidationMapParams(lookback_bars=120)
    book, followed, stepped_aside, t = LiquidationBook(p), 0, 0, 50
    while t < 700:
        bars = slice(0, t + 1)
        cs = type(c)(*(getattr(c, f)[bars] for f in ("ts", "open", "high", "low", "close",
                                                     "volume", "atr", "adx")))
        k = keep[:t + 1]
        v = view(c=cs, oi={"binanceusdm": Series(ts_all[:t + 1][k], oi_all[:t + 1][k])})
        got = book.read(v)
        hourly = bool((np.diff(ts_all[:t + 1][k][-120:]) == HOUR).all())
        assert (got is None) == (not hourly), t
        if got is not None:
            assert got == map_view(v, p), t
            followed += 1
        stepped_aside += got is None
        t += int(rng.choice([0, 1, 1, 1, 2, 3]))  # the same bar again, or several at once
    assert followed > 300 and stepped_aside > 30


def test_liquidation_map_on_daily_open_interest_is_computed_again_only_when_its_points_change():
    """Daily OI the book cannot follow: each hour's map equals map_view, and is computed
    once per new OI point (or a bar leaving the candles' reach), not on every bar."""
    from strategies.liquidation_map import LiquidationMapParams, kept_map, map_view

    rng = np.random.default_rng(11)
    c = candles(100 * np.exp(np.cumsum(rng.normal(0, 0.012, 24 * 60))))
    days = c.ts[::24] + 24 * HOUR  # a point at each day's end
    oi_days = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.05, len(days))))
    p, memo, computed, t = LiquidationMapParams(lookback_bars=45), {}, 0, 30 * 24
    ring = 24 * 20  # the history keeps 20 days of bars: older points read no bar
    while t < len(c):
        cs = type(c)(*(getattr(c, f)[max(0, t + 1 - ring):t + 1] for f in (
            "ts", "open", "high", "low", "close", "volume", "atr", "adx")))
        seen = days <= c.ts[t] + HOUR
        v = view(c=cs, oi={"binanceusdm": Series(days[seen].astype(float), oi_days[seen])})
        before = memo.get("liquidation_inputs")
        assert kept_map(v, p, memo) == map_view(v, p), t
        computed += memo.get("liquidation_inputs") is not before
        t += 1
    hours = len(c) - 30 * 24
    assert hours / 24 - 2 <= computed <= 2 * hours / 24 + 2, computed


def test_open_interest_survival_is_each_later_steps_kept_share_multiplied_from_the_end():
    """A slice opened at step i keeps the product of every later step's kept share (OI
    after / before, at most 1; a step from zero OI keeps all): the newest slice all of it."""
    from itertools import pairwise

    from strategies.liquidation_map import _survival

    oi = np.array([100.0, 120.0, 90.0, 0.0, 50.0, 40.0, 45.0])
    kept = [min(b / a, 1.0) if a > 0 else 1.0 for a, b in pairwise(oi.tolist())]
    want = []
    for i in range(len(kept)):
        share = 1.0
        for k in reversed(kept[i + 1:]):  # the newest step first, as the book multiplies
            share *= k
        want.append(share)
    assert _survival(oi).tolist() == want
    assert want == [0.0, 0.0, 0.8, 0.8, 1.0, 1.0]  # the wipe-out ends the first two slices
    assert _survival(oi[-2:]).tolist() == [1.0]  # one step: nothing after it
    assert _survival(oi[-3:]).tolist() == [1.0, 1.0]  # 40 → 45 grew: kept whole


def test_history_views_keep_bar_times_and_prices_together_past_the_ring_wrapping():
    """A view's bar times are the candles' open times as integers, aligned with their prices,
    bar after bar — also once the kept window has wrapped round its buffer several times."""
    from bot.marketdata.history import History
    from bot.marketdata.layout import CANDLE, CandleEvent

    h, keep = History("binanceusdm", bars=50), 50
    opened: list[int] = []
    for i in range(180):
        ts = T0 + i * HOUR + (7 if i == 120 else 0)  # one odd open time, kept exactly
        opened.append(ts)
        px = 100.0 + i
        assert h.ingest(CandleEvent(CANDLE, "binanceusdm", BTC, ts, ts + HOUR, px, px + 1,
                                    px - 1, px + 0.5, 1.0, float("nan")))
        c = h.view(BTC, ts + HOUR).candles
        assert c.ts.dtype == np.int64 and c.ts.tolist() == opened[-keep:]
        assert c.close.tolist() == [100.5 + (t - T0) // HOUR for t in opened[-keep:]]


def test_basis_funding_window_kept_between_prints_equals_should_open_every_hour():
    """The basis desk asks each hour whether funding pays; the answer is kept until a print
    arrives or leaves the window, and equals should_open asked afresh, hour by hour, through
    gaps, a ring that drops its oldest prints and a print restated at its own time. Asked
    by the version of the prints (`at`), the series is not even made in between."""
    from strategies.basis import FundingWindows, should_open

    rng = np.random.default_rng(8)
    made = asked = 0
    for _ in range(40):
        days, rate = float(rng.choice([1, 3, 7.5, 2.3])), float(rng.uniform(0, 4e-4))
        kept, by_version = FundingWindows(days, rate), FundingWindows(days, rate)
        ts = T0 + 8 * HOUR * np.cumsum(rng.choice([1, 1, 1, 2, 5], size=60))
        values = rng.normal(2e-4, 2e-4, size=60)
        ring, restated = int(rng.integers(10, 80)), 0
        for now in range(int(ts[0]) - 5 * HOUR, int(ts[-1]) + 48 * HOUR, HOUR):
            seen = ts <= now
            f = Series(ts[seen][-ring:], values[seen][-ring:].copy())
            changed = bool(len(f) and rng.random() < 0.02)
            if changed:  # restated this hour: a new version of the prints
                f.value[-1] *= 1.5
                restated += 1
            want = should_open(f, now, days, rate)
            assert kept(BTC, f, now) == want, (now, days)

            def series(f=f):
                nonlocal made
                made += 1
                return f
            assert by_version.at(BTC, (int(seen.sum()), changed, restated), now, series) == want, (
                now, days)
            asked += 1
    assert made < asked / 3, (made, asked)
