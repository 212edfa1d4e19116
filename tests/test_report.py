"""The replay report's figures a trader reads: a strategy's Sharpe counts its first day and
every idle day of the replay, so a strategy that lost money never shows a positive Sharpe."""

from decimal import Decimal

import numpy as np
import pytest

from bot.operator.report import curve_stats, trade_stats
from state.models import Trade, row

DAY = 86_400_000
T0 = 1_735_689_600_000  # 2025-01-01


def closed(day: float, pnl: str) -> Trade:
    at = T0 + int(day * DAY)
    return row(Trade, strategy="oi_divergence_reversal", symbol="BTC/USDT:USDT", side="long",
               state="closed", plan_entry=1.0, plan_stop=0.9, targets_json="[]",
               realised=Decimal(pnl), fees=Decimal(0), funding=Decimal(0), risk_cash=100.0,
               opened_at=at - DAY // 2, closed_at=at)


def test_a_big_first_day_loss_then_small_wins_is_a_negative_sharpe():
    trades = [closed(0.5, "-4314"), closed(2.5, "100"), closed(4.5, "120"), closed(6.5, "90")]
    stats = trade_stats(trades, 100_000.0, span=(T0, T0 + 7 * DAY))
    assert stats["net_pnl"] == -4004.0
    assert stats["sharpe"] < 0
    assert stats["max_drawdown"] == pytest.approx(0.04314)


def test_a_strategys_sharpe_is_its_daily_returns_over_the_whole_replay():
    trades = [closed(1.5, "500"), closed(3.5, "-200")]
    stats = trade_stats(trades, 10_000.0, span=(T0, T0 + 5 * DAY))
    daily = np.array([10_000, 10_000, 10_500, 10_500, 10_300, 10_300, 10_300], dtype=float)
    rets = np.diff(daily) / daily[:-1]
    assert stats["sharpe"] == round(rets.mean() / rets.std(ddof=1) * np.sqrt(365), 4)


def test_the_equity_curve_keeps_its_first_days_move():
    ts = np.array([T0, T0 + DAY // 2, T0 + DAY + 1, T0 + 2 * DAY + 1], dtype=np.int64)
    eq = np.array([100_000.0, 90_000.0, 90_100.0, 90_200.0])
    stats = curve_stats(ts, eq)
    assert stats["sharpe"] < 0  # −10 % on day one outweighs two small up days
    assert stats["max_drawdown"] == pytest.approx(0.1)
