"""The arithmetic of where orders go and what they cost, at its edges: an IOC exit's band
and a post-only entry's tick for both sides, the size when the stop is within a price unit
of the entry, the capital a basis pair ties up, return correlation with a flat series
(NaN: it joins no bucket), and the Monte Carlo of a trade record."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from bot.config import OrdersConfig
from bot.execution.pricing import ioc_exit_price, post_only_price
from bot.markets import default_market
from risk.basis import basis_capital
from risk.buckets import correlated_groups, pearson
from risk.sizing import position_size

M = default_market("BTC/USDT:USDT", 50_000)  # tick 0.1


@pytest.mark.parametrize(("side", "band", "want"), [
    ("long", 20, "49900.0"), ("short", 20, "50100.0"),
    ("long", 1000, "45000.0"), ("short", 1000, "55000.0")])
def test_an_ioc_exit_goes_its_band_through_the_last_price(side, band, want):
    cfg = OrdersConfig(exit_type="ioc", exit_band_bps=band)
    assert ioc_exit_price(cfg, M, side, 50_000.0) == D(want)


@pytest.mark.parametrize(("side", "ticks", "want"), [
    ("long", 1, "49999.9"), ("short", 1, "50000.1"), ("long", 5, "49999.5"),
    ("short", 0, "50000.0")])
def test_a_post_only_entry_sits_its_ticks_on_the_passive_side(side, ticks, want):
    cfg = OrdersConfig(entry_type="post_only", post_only_ticks=ticks)
    assert post_only_price(cfg, M, side, 50_000.0) == D(want)


def test_a_stop_within_a_price_unit_still_sizes_and_one_at_the_entry_is_refused():
    # 1 % of 100 000 = 1 000 at risk over 0.5 of distance: 2 000 units, not an error
    assert position_size(100_000, 0.01, 100.0, 99.5, D("0.001")) == D(2000)
    with pytest.raises(ValueError, match="stop 100.0 equals entry 100.0"):
        position_size(100_000, 0.01, 100.0, 100.0, D("0.001"))


def test_basis_capital_at_its_edges():
    assert basis_capital(0, 5, 0) == 0  # nothing to hedge ties up nothing
    assert basis_capital(100_000, 0.5, 0.5) == 300_000.5  # below 1×: margin above notional
    for bad in ((-1, 5, 0), (100, 0, 0), (100, 5, -0.1)):
        with pytest.raises(ValueError, match="need notional ≥ 0, leverage > 0, buffer ≥ 0"):
            basis_capital(*bad)


def test_a_flat_series_correlates_with_nothing():
    moving = np.array([0.01, -0.02, 0.015, 0.0, -0.01])
    flat = np.zeros(5)
    assert np.isnan(pearson(moving, flat)) and np.isnan(pearson(flat, moving))
    assert pearson(moving, moving * 2) == pytest.approx(1.0)
    assert correlated_groups({"A": moving, "B": flat}) == [frozenset({"A"}),
                                                          frozenset({"B"})]
    other = moving[::-1].copy()  # three series: the matrix path, the flat one still alone
    assert sorted(map(sorted, correlated_groups({"A": moving, "B": flat, "C": moving * 3,
                                                 "D": other}))) == [["A", "C"], ["B"], ["D"]]


def test_monte_carlo_compounds_each_path_and_measures_its_own_drawdown():
    from risk.montecarlo import simulate
    up = simulate([1.0], 0.02, paths=4, trades=3)  # every path: three wins of 2 %
    assert up.final_return.shape == (4,) and up.max_drawdown.shape == (4,)
    assert np.allclose(up.final_return, 1.02 ** 3 - 1) and not up.max_drawdown.any()
    assert up.ruin == 0.0
    down = simulate([-1.0], 0.5, paths=3, trades=2)  # 1 → 0.5 → 0.25
    assert np.allclose(down.max_drawdown, 0.75) and np.allclose(down.final_return, -0.75)
    assert simulate([-1.0], 0.5, paths=3, trades=2, ruin_drawdown=0.75).ruin == 1.0  # reached
    assert simulate([-1.0], 0.5, paths=3, trades=2, ruin_drawdown=0.76).ruin == 0.0
    mixed = simulate([5.0, -1.0], 0.1, paths=200, trades=4)  # both outcomes are drawn
    assert mixed.final_return.max() > 0 > mixed.final_return.min()
    # a path's drawdown is its own: one that only won has none, whatever the others did
    assert (mixed.max_drawdown[mixed.final_return == mixed.final_return.max()] == 0).all()
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=f"fraction must be within \\(0, 1\\), got {bad}"):
            simulate([1.0], bad)
    with pytest.raises(ValueError, match="no R-multiples to resample"):
        simulate([], 0.01)


def test_monte_carlo_summary_reads_the_percentiles_a_trader_asks_for():
    from risk.montecarlo import MonteCarlo
    spread = np.arange(101) / 100  # 0.00 … 1.00: the p-th percentile is p / 100
    assert MonteCarlo(0.015, spread, spread - 0.5, 0.25).summary() == pytest.approx({
        "fraction": 0.015, "max_drawdown_p50": 0.5, "max_drawdown_p95": 0.95,
        "final_return_p5": -0.45, "final_return_p50": 0.0, "final_return_p95": 0.45,
        "risk_of_ruin": 0.25}, abs=1e-12)
