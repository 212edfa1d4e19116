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


def test_half_kelly_counts_a_break_even_as_a_loss_of_nothing_and_blends_by_record():
    from risk.kelly import kelly_fraction
    empty = kelly_fraction([], 0.015)
    assert (empty.fraction, empty.half_kelly, empty.trades, empty.weight) == (0.015, None, 0,
                                                                               0.0)
    # 0.5 R wins count as wins; a 0 R trade is a loss of nothing (it lowers p, not b)
    est = kelly_fraction([0.5, 0.5, -0.5, 0.0] * 15, 0.015)
    assert (est.trades, est.win_rate, est.weight) == (60, 0.5, 1.0)
    assert est.payoff == pytest.approx(2.0)  # mean win 0.5 / mean loss 0.25
    assert est.half_kelly == pytest.approx(0.5 * (0.5 - 0.5 / 2.0))  # 0.125: clamped to 2 %
    assert est.fraction == 0.02
    only_breakevens = kelly_fraction([0.0] * 30, 0.015)  # no edge shown: the floor
    assert only_breakevens.fraction == 0.01 and only_breakevens.payoff is None
    only_wins = kelly_fraction([1.0] * 15, 0.015)  # half the record's weight toward 2 %
    assert (only_wins.weight, only_wins.fraction) == (0.5, pytest.approx(0.0175))


def test_basis_notional_inverts_basis_capital_at_its_edges():
    from risk.basis import basis_notional
    assert basis_notional(130_000, 5, 0.1) == pytest.approx(100_000)
    assert basis_notional(0, 5, 0) == 0
    assert basis_notional(300_000, 0.5, 0) == pytest.approx(100_000)  # below 1×
    assert basis_notional(200_000, 1, 0) == pytest.approx(100_000)
    for bad in ((-1, 5, 0), (100, 0, 0), (100, -1, 0), (100, 5, -0.1)):
        with pytest.raises(ValueError, match="need budget ≥ 0, leverage > 0, buffer ≥ 0"):
            basis_notional(*bad)


def test_transfers_between_wallets_move_exactly_what_is_there_and_no_more():
    from ccxt.base.errors import InsufficientFunds, InvalidOrder

    from tests.helpers import sim
    ex = sim(balance=1_000)
    ex.transfer("USDT", D("0.5"), True)  # below one unit is still a transfer
    ex.transfer("USDT", D("999.5"), True)  # all that is available
    assert (ex.wallet, ex.spot["USDT"], ex.transferred) == (D(0), D(1000), D(1000))
    with pytest.raises(InsufficientFunds, match="-5013 futures balance 0.0 is below transfer"):
        ex.transfer("USDT", D("0.01"), True)
    ex.transfer("USDT", D(1000), False)  # back: every unit
    assert (ex.wallet, ex.spot["USDT"], ex.transferred) == (D(1000), D(0), D(0))
    with pytest.raises(InsufficientFunds, match="-5013 spot USDT is below transfer 1"):
        ex.transfer("USDT", D(1), False)
    with pytest.raises(InsufficientFunds, match="-5013 spot BTC is below transfer 1"):
        ex.transfer("BTC", D(1), False)  # an asset never held
    for bad in ("0", "-1"):
        with pytest.raises(InvalidOrder, match=f"transfer amount must be positive, got {bad}"):
            ex.transfer("USDT", D(bad), True)


def test_a_spot_buy_needs_its_cost_and_taker_fee_and_a_sell_needs_the_coin():
    from ccxt.base.errors import InsufficientFunds, InvalidOrder

    from bot.types import OrderRequest, OrderType
    from tests.helpers import T0, sim
    ex = sim(balance=10_000, taker=0.001)
    ex.on_candle("BTC/USDT", T0, 5_000, 5_000, 5_000, 5_000)
    ex.transfer("USDT", D("500.5"), True)  # 0.1 BTC × 5 000 × 1.001: just enough

    def spot(cid, side, amount):
        return ex.create_order(OrderRequest(cid, "BTC/USDT", side, OrderType.MARKET,
                                            D(amount)))

    with pytest.raises(InsufficientFunds, match=r"-2010 .*: USDT 500.5 < 505.50500000"):
        spot("b0", "buy", "0.101")
    assert spot("b1", "buy", "0.1").filled == D("0.1")
    with pytest.raises(InsufficientFunds, match=r"-2010 .*: BTC 0.1 < 0.20000000"):
        spot("s0", "sell", "0.2")
    assert spot("s1", "sell", "0.001").filled == D("0.001")  # 5 USDT: the minimum itself
    ex.on_candle("BTC/USDT", T0 + 1, 4_000, 4_000, 4_000, 4_000)
    with pytest.raises(InvalidOrder, match=r"-1013 Filter failure: NOTIONAL 4.000 < 5"):
        spot("s2", "sell", "0.001")
