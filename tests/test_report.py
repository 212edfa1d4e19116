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


def test_every_halt_is_in_the_report_with_its_length_and_who_lifted_it(tmp_path):
    from bot.operator.report import build_report
    from state.store import Store

    store = Store(tmp_path / "r.db")
    store.add_equity(T0, Decimal(100_000), Decimal(100_000), 0)
    store.add_halt(T0 + DAY // 2, "drawdown 21.00% from peak exceeds limit 20.00%", "next_day")
    store.lift_halts(T0 + DAY, "next day")
    store.add_halt(T0 + 2 * DAY, "daily loss 5.10% exceeds limit 5.00%", "manual")
    store.add_equity(T0 + 3 * DAY, Decimal(90_000), Decimal(90_000), 0)
    store.flush()
    halts = build_report(store, 100_000.0)["halts"]
    assert halts == [
        {"since": "2025-01-01T12:00:00+00:00",
         "reason": "drawdown 21.00% from peak exceeds limit 20.00%", "release": "next_day",
         "lifted_at": "2025-01-02T00:00:00+00:00", "lifted_by": "next day", "hours": 12.0},
        {"since": "2025-01-03T00:00:00+00:00", "reason": "daily loss 5.10% exceeds limit 5.00%",
         "release": "manual", "lifted_at": "", "lifted_by": "", "hours": 24.0}]


def test_trades_csv_has_prices_on_the_tick_money_in_cents_and_no_json(tmp_path):
    import csv

    from bot.operator.report import write_trades_csv
    from state.store import Store

    store = Store(tmp_path / "t.db")
    t = closed(0.5, "123.456789")
    t.entry_price, t.exit_price = Decimal("47100.123456789"), Decimal("47350.87")
    t.plan_stop, t.fees = 46_599.999999999996, Decimal("0.0499")
    t.targets_json = "[[47600.30000000001, 0.4], [48100.1, 0.3], [48600.2, 0.3]]"
    t.symbol, t.risk_cash = "BTC/USDT:USDT", 300.0
    store.add(t)
    store.commit()
    write_trades_csv(store, tmp_path / "trades.csv", {"BTC/USDT:USDT": Decimal("0.1")})
    text = (tmp_path / "trades.csv").read_text()
    assert "[" not in text and "{" not in text
    row = next(csv.DictReader(text.splitlines()))
    assert (row["entry_price"], row["plan_stop"], row["exit_price"]) == (
        "47100.1", "46600.0", "47350.9")
    assert (row["t1"], row["t2"], row["t3"]) == ("47600.3", "48100.1", "48600.2")
    assert (row["realised"], row["fees"], row["net"]) == ("123.46", "0.05", "123.41")
    assert row["r_multiple"] == "0.411"


def test_cagr_sortino_calmar_and_the_worst_drawdowns_dates_from_a_hand_made_curve():
    from bot.operator.analysis import curve_details

    ts = np.array([T0, *(T0 + DAY * np.arange(1, 5) - 1)])  # the start, then each day's end
    eq = np.array([100.0, 120.0, 90.0, 100.0, 130.0])
    d = curve_details(ts, eq)
    years = (ts[-1] - ts[0]) / DAY / 365
    assert d["cagr"] == round(1.3 ** (1 / years) - 1, 6)
    assert (d["drawdown_start"][:10], d["drawdown_trough"][:10],
            d["drawdown_recovered"][:10]) == ("2025-01-01", "2025-01-02", "2025-01-04")
    assert d["calmar"] == round(d["cagr"] / 0.25, 4)
    rets = np.array([0.2, -0.25, 1 / 9, 0.3])
    assert d["sortino"] == round(rets.mean() / np.sqrt(0.25 ** 2 / 4) * np.sqrt(365), 4)
    assert d["best_day"] == {"day": "2025-01-04", "return": 0.3}
    assert d["worst_day"] == {"day": "2025-01-02", "return": -0.25}
    under = curve_details(ts[:3], eq[:3])
    assert under["drawdown_recovered"] is None  # still under water at the end


def test_expectancy_streak_best_worst_and_groups_by_pair_exit_and_month():
    from bot.operator.analysis import buy_and_hold, by, month, trade_details

    trades = [closed(i + 0.5, pnl) for i, pnl in enumerate(["-1", "-2", "3", "-1", "-1", "-1",
                                                            "2"])]
    for i, t in enumerate(trades):
        t.id, t.risk_cash, t.close_reason = i + 1, 1.0, "stop" if t.realised < 0 else "t1"
    trades[-1].symbol = "ETH/USDT:USDT"
    d = trade_details(trades)
    assert d["longest_losing_streak"] == 3 and d["expectancy_r"] == round(-1 / 7, 4)
    assert d["best_trade"] == {"id": 3, "net": 3.0} and d["worst_trade"] == {"id": 2, "net": -2.0}
    pairs = by(trades, lambda t: t.symbol)
    assert pairs["BTC/USDT:USDT"]["trades"] == 6 and pairs["ETH/USDT:USDT"]["net_pnl"] == 2.0
    exits = by(trades, lambda t: t.close_reason)
    assert exits["stop"]["win_rate"] == 0.0 and exits["t1"]["profit_factor"] is None
    assert list(by(trades, month)) == ["2025-01"]
    assert buy_and_hold({"BTC/USDT:USDT": (100.0, 50.0)}) == {"BTC/USDT:USDT": -0.5}


def test_status_shows_money_to_the_cent_and_json_keeps_every_digit(tmp_path, capsys):
    import json as js

    from bot.operator.status import print_status
    from state.store import Store

    db = tmp_path / "s.db"
    store = Store(db)
    store.add_equity(T0, Decimal("97342.4443108619944"), Decimal("97000.1"), 0)
    t = closed(0.5, "-2401.87274")
    t.fees, t.funding = Decimal("329.898611110"), Decimal("74.2156619719944")
    store.add(t)
    store.commit()
    store.close()
    print_status(str(db))
    text = capsys.readouterr().out
    assert "equity 97,342.44" in text and "fees -329.90" in text and "funding 74.22" in text
    assert "4443108619944" not in text
    print_status(str(db), as_json=True)
    assert js.loads(capsys.readouterr().out)["equity"] == "97342.4443108619944"
