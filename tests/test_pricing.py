"""The arithmetic of where orders go and what they cost, at its edges: an IOC exit's band
and a post-only entry's tick for both sides, the size when the stop is within a price unit
of the entry, the capital a basis pair ties up, and return correlation with a flat series
(NaN: it joins no bucket)."""

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
