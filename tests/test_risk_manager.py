"""The risk rulebook: half-Kelly, buckets, halts that survive a restart, tiers, clusters."""

import json
from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest

from bot.app.cli import main
from bot.execution.riskdesk import RiskDesk
from bot.marketdata.history import History
from bot.marketdata.layout import CandleEvent
from bot.markets import default_market
from bot.operator.metrics import Metrics
from risk.basis import basis_capital
from risk.buckets import bucket_of, correlated_groups
from risk.kelly import half_kelly, kelly_fraction
from risk.limits import RiskLimits
from risk.manager import (
    Approved,
    Context,
    OpenRisk,
    Portfolio,
    Refused,
    assess,
    first_refusal,
)
from risk.montecarlo import simulate
from risk.sizing import mmr_for
from state.store import Store
from strategies.liquidation_map import Cluster
from tests.helpers import BTC, ETH, T0, plan, run

NO_RECORD = SimpleNamespace(finished={}, changed=[])  # no closed trades yet

BTC_RULES = default_market(BTC, 50_000).rules()
ETH_RULES = default_market(ETH, 3_000).rules()


def test_half_kelly_vector_and_clamp():
    assert half_kelly(0.6, 1.3) == pytest.approx(0.5 * (0.6 - 0.4 / 1.3))
    record = [1.3] * 18 + [-1.0] * 12  # p = 0.6, b = 1.3, 30 trades
    est = kelly_fraction(record, default=0.015)
    assert est.win_rate == pytest.approx(0.6) and est.payoff == pytest.approx(1.3)
    assert est.half_kelly == pytest.approx(0.14615, abs=1e-5)
    assert est.fraction == 0.02  # clamped to the band


def test_few_trades_stay_near_the_default():
    est = kelly_fraction([1.3, 1.3, 1.3, -1.0, -1.0], default=0.015)
    assert est.weight == pytest.approx(5 / 30)
    assert est.fraction == pytest.approx(0.015 + (0.02 - 0.015) * 5 / 30)
    assert abs(est.fraction - 0.015) < 0.001
    assert kelly_fraction([], 0.015).fraction == 0.015
    assert kelly_fraction([-1.0] * 40, 0.015).fraction == 0.01  # losing record: the floor


def test_bucket_second_fade_gets_what_is_left():
    limits = RiskLimits(fraction=0.015, bucket_risk=0.02, kelly=False)
    btc = plan(-1, 50_000, 50_500, (49_500, 49_000, 48_500))
    eth = plan(-1, 3_000, 3_030, (2_970, 2_940, 2_910), symbol=ETH)
    bucket = bucket_of(ETH, limits.buckets)
    assert bucket == {BTC, ETH}
    first = assess(btc, Portfolio(100_000, 100_000), BTC_RULES, limits, Context(bucket=bucket))
    assert isinstance(first, Approved) and first.risk_cash == pytest.approx(1_500)
    second = assess(eth, Portfolio(100_000, 90_000, (OpenRisk(BTC, first.risk_cash),)),
                    ETH_RULES, limits, Context(bucket=bucket))
    assert isinstance(second, Approved)
    assert second.fraction == pytest.approx(0.005, rel=1e-3)  # 2 % − 1.5 %
    assert any("bucket: risk cut from 1500.00 to 500.00" in c for c in second.cuts)
    third = assess(eth, Portfolio(100_000, 90_000, (OpenRisk(BTC, 2_000),)), ETH_RULES,
                   limits, Context(bucket=bucket))
    assert isinstance(third, Refused) and third.rule == "bucket"


def test_correlated_returns_join_a_bucket():
    rng = np.random.default_rng(0)
    common = rng.normal(0, 0.01, 720)
    returns = {BTC: common + rng.normal(0, 0.002, 720), ETH: common + rng.normal(0, 0.002, 720),
               "DOGE/USDT:USDT": rng.normal(0, 0.01, 720)}
    groups = correlated_groups(returns, 0.7)
    assert frozenset({BTC, ETH}) in groups and frozenset({"DOGE/USDT:USDT"}) in groups
    assert bucket_of(BTC, [], groups) == {BTC, ETH}


def test_volatile_regime_tightens_the_stop_to_one_atr():
    p = plan(1, 50_000, 48_800, (51_200, 52_400, 53_600), regime="volatile")  # atr 500
    out = assess(p, Portfolio(100_000, 100_000), BTC_RULES, RiskLimits(kelly=False))
    assert isinstance(out, Approved)
    assert out.plan.stop == 49_500 and out.size == Decimal(3)  # 1500 / 500
    assert any("1 ATR" in c for c in out.cuts)


def test_mmr_tiers_by_notional():
    tiers = RiskLimits().mmr_tiers
    assert mmr_for(10_000, tiers) == 0.004
    assert mmr_for(100_000, tiers) == 0.005
    assert mmr_for(5_000_000, tiers) == 0.025
    with pytest.raises(ValueError, match="mmr_tiers"):
        RiskLimits(mmr_tiers=((100, 0.01), (50, 0.02)))


def test_liquidation_inside_a_dense_cluster_is_refused():
    p = plan(1, 50_000, 49_000, (51_000, 52_000, 53_000))
    limits = RiskLimits(leverage=20, kelly=False)
    liq = 50_000 * (1 - 1 / 20 + 0.005)  # 47 750, beyond the stop
    dense = (Cluster(47_760, 5e7, "long", True),)
    out = assess(p, Portfolio(100_000, 100_000), BTC_RULES, limits, Context(clusters=dense))
    assert isinstance(out, Refused) and out.rule == "liquidation_cluster"
    assert f"{liq:.2f}" in out.reason and "47760.00" in out.reason
    thin = (Cluster(47_760, 5e5, "long", False),)
    assert assess(p, Portfolio(100_000, 100_000), BTC_RULES, limits,
                  Context(clusters=thin)).approved


def test_basis_capital_vector():
    assert basis_capital(100_000, 5, 10_000) == 130_000
    with pytest.raises(ValueError, match="leverage 0"):
        basis_capital(100_000, 0, 0)


def _history() -> History:
    h = History("binanceusdm")
    for i in range(50):
        for sym, px in ((BTC, 50_000 + i), (ETH, 3_000 + i * 0.1)):
            h.ingest(CandleEvent(0, "binanceusdm", sym, T0 + i * 3_600_000,
                                 T0 + (i + 1) * 3_600_000, px, px + 5, px - 5, px, 1.0, np.nan))
    return h


def test_daily_loss_halt_refuses_next_entry_and_survives_restart(tmp_path):
    db = tmp_path / "bot.db"
    limits = RiskLimits(daily_loss_limit=0.05, halt_release="manual", kelly=False)
    p = plan(-1, 50_000, 50_500, (49_500, 49_000, 48_500))
    now = T0 + 10 * 3_600_000
    store = Store(db)
    desk = RiskDesk(limits, store, Metrics())
    losing = Portfolio(94_000, 94_000, day_start_equity=100_000)
    decision = desk.decide(p, losing, BTC_RULES, _history(), now, NO_RECORD)
    assert isinstance(decision, Refused) and decision.rule == "halt"
    assert "daily loss 6.00% exceeds limit 5.00%" in decision.reason
    desk.record(p, decision, now, None)
    store.close()

    store = Store(db)  # a restart, with equity back above the limit
    desk = RiskDesk(limits, store, Metrics())
    fine = Portfolio(99_000, 99_000, day_start_equity=99_000)
    decision = desk.decide(p, fine, BTC_RULES, _history(), now + 86_400_000 * 3, NO_RECORD)
    assert isinstance(decision, Refused) and decision.rule == "halt"
    assert desk.metrics.halted._value.get() == 1
    stored = store.decisions()
    assert stored[0].rule == "halt" and "daily loss" in stored[0].reason
    store.close()

    assert main(["halt", "--db", str(db)]) == 0
    assert main(["halt", "--db", str(db), "--lift", "--by", "alice"]) == 0
    store = Store(db)
    desk = RiskDesk(limits, store, Metrics())
    decision = desk.decide(p, fine, BTC_RULES, _history(), now + 86_400_000 * 3, NO_RECORD)
    assert decision.approved
    assert store.get_meta("halt_lifted")["by"] == "alice"
    store.close()


def test_refusals_before_sizing_are_assess_own_and_the_desk_gathers_nothing_for_them(
        tmp_path):
    """first_refusal answers as assess does for a halt, a vacuum, a trade already on the
    symbol, the position count and the leverage, and nothing for a plan assess sizes; the
    desk refuses those without reading the correlation window (most plans end there)."""
    limits = RiskLimits(kelly=False, max_positions=2)
    btc = plan(-1, 50_000, 50_500, (49_500, 49_000, 48_500))
    flat = Portfolio(100_000, 100_000)
    cases = {
        "halt": (btc, Portfolio(50_000, 50_000, peak_equity=100_000), BTC_RULES),
        "regime": (plan(-1, 50_000, 50_500, (49_500,), regime="vacuum"), flat, BTC_RULES),
        "one_per_symbol": (btc, Portfolio(100_000, 99_000, (OpenRisk(BTC, 1_000),)),
                           BTC_RULES),
        "max_positions": (btc, Portfolio(100_000, 98_000, (OpenRisk(ETH, 1_000),
                                                            OpenRisk("SOL/USDT:USDT", 1_000))),
                          BTC_RULES),
        "max_leverage": (btc, flat, replace(BTC_RULES, max_leverage=3.0)),  # we run 5×
    }
    for rule, (pl, port, rules) in cases.items():
        early = first_refusal(pl, port, rules, limits)
        assert early == assess(pl, port, rules, limits) and early.rule == rule, rule
    assert first_refusal(btc, flat, BTC_RULES, limits) is None
    assert assess(btc, flat, BTC_RULES, limits).approved

    class NoWindow(History):
        def closes(self, symbol, n):
            raise AssertionError("the correlation window was read for a refused plan")

    desk = RiskDesk(limits, Store(tmp_path / "bot.db"), Metrics())
    held = Portfolio(100_000, 99_000, (OpenRisk(BTC, 1_000),))
    refused = desk.decide(btc, held, BTC_RULES, NoWindow("binanceusdm"), T0, NO_RECORD)
    assert refused.rule == "one_per_symbol"
    with pytest.raises(AssertionError, match="correlation window"):
        desk.decide(btc, flat, BTC_RULES, _nowindow_with_bars(NoWindow), T0, NO_RECORD)


def _nowindow_with_bars(cls, symbols=(BTC, ETH, "SOL/USDT:USDT")):
    h = cls("binanceusdm")
    for sym in symbols:
        h._of(sym)  # a symbol the desk would correlate (SOL: outside the BTC/ETH bucket)
    return h


def test_a_configured_bucket_holding_every_symbol_needs_no_correlation(tmp_path):
    """BTC and ETH configured as one bucket, and nothing else followed: correlation could
    join nobody, so the window is not read and the bucket is the configured one. A third
    symbol brings the correlation back, and its groups into the bucket."""
    rng = np.random.default_rng(4)
    common = rng.normal(0, 0.01, 800)

    def follow(h, symbols):
        for sym, noise in symbols:
            px = 100 * np.exp(np.cumsum(common + rng.normal(0, noise, 800)))
            for i, p in enumerate(px):
                h.ingest(CandleEvent(0, "binanceusdm", sym, T0 + i * 3_600_000,
                                     T0 + (i + 1) * 3_600_000, p, p, p, p, 1.0, np.nan))
        return h

    read = []

    class Counted(History):
        def closes(self, symbol, n):
            read.append(symbol)
            return super().closes(symbol, n)

    desk = RiskDesk(RiskLimits(kelly=False), Store(tmp_path / "bot.db"), Metrics())
    two = follow(Counted("binanceusdm"), ((BTC, 0.001), (ETH, 0.02)))
    assert desk.bucket(ETH, two, T0) == {BTC, ETH} and read == []
    sol = "SOL/USDT:USDT"
    three = follow(Counted("binanceusdm"), ((BTC, 0.001), (ETH, 0.02), (sol, 0.001)))
    assert desk.bucket(BTC, three, T0) == {BTC, ETH, sol}  # SOL moves with BTC
    assert sorted(read) == sorted((BTC, ETH, sol))
    assert desk.bucket(ETH, three, T0) == {BTC, ETH}  # ETH does not; its bucket is BTC's


def test_next_day_halt_lifts_by_itself(tmp_path):
    store = Store(tmp_path / "bot.db")
    desk = RiskDesk(RiskLimits(max_drawdown=0.1, halt_release="next_day"), store, Metrics())
    deep = Portfolio(85_000, 85_000, peak_equity=100_000)
    assert desk.check_halt(deep, T0 + 1000) is not None
    assert desk.halt(T0 + 1000 + 3_600_000) is not None
    assert desk.halt(T0 + 86_400_000) is None
    store.close()


def test_a_drawdown_halt_that_lifts_next_day_does_not_halt_again_at_once(tmp_path):
    """Lifted, the drawdown is measured from the equity at the lift: the old peak would halt
    the bot again on the same loss (a replay once took no entry for three years)."""
    store = Store(tmp_path / "bot.db")
    desk = RiskDesk(RiskLimits(max_drawdown=0.2, halt_release="next_day"), store, Metrics())
    day = 86_400_000
    assert desk.check_halt(Portfolio(79_000, 79_000, peak_equity=100_000), T0) is not None
    assert desk.check_halt(Portfolio(79_000, 79_000, peak_equity=100_000), T0 + 5) is not None
    # the next day the halt lifts (at midnight, seen at the first look after it): the same
    # 21 % below the old peak is now the new start
    seen = T0 + day + 7 * 3_600_000
    assert desk.check_halt(Portfolio(78_500, 78_500, peak_equity=100_000), seen) is None
    assert store.get_meta("halt_lifted") == {"at": T0 + day, "by": "next day",
                                             "equity": 78_500, "seen": seen}
    # a fresh 20 % from there halts again
    assert desk.check_halt(Portfolio(62_000, 62_000, peak_equity=78_500),
                           seen + 9) is not None
    desk.lift(seen + 99, "alice")
    halts = [(h.since, h.reason[:8], h.lifted_at, h.lifted_by) for h in store.halts()]
    assert halts == [(T0, "drawdown", T0 + day, "next day"),
                     (seen + 9, "drawdown", seen + 99, "alice")]
    store.close()


def test_the_accounts_peak_restarts_at_a_lift_and_survives_a_restart(tmp_path):
    from bot.execution.account import Account
    from bot.marketdata.history import History

    class Wallet:
        equity = Decimal(79_000)

        async def fetch_balance(self):
            return SimpleNamespace(equity=self.equity, available=self.equity, spot={})

    store = Store(tmp_path / "bot.db")
    account = Account(Wallet(), store, History("binanceusdm"), None)
    account.mark(100_000.0)
    assert run(account.portfolio(T0, ())).peak_equity == 100_000.0
    RiskDesk(RiskLimits(), store, Metrics()).lift(T0 + 1, "alice")  # no halt on: no lift
    assert run(account.portfolio(T0 + 2, ())).peak_equity == 100_000.0
    store.set_meta("halt", {"reason": "drawdown", "since": T0, "release": "manual"})
    RiskDesk(RiskLimits(), store, Metrics()).lift(T0 + 3, "alice")  # a person, from the CLI
    assert run(account.portfolio(T0 + 4, ())).peak_equity == 79_000.0
    again = Account(Wallet(), store, History("binanceusdm"), None)  # a restart
    assert run(again.portfolio(T0 + 5, ())).peak_equity == 79_000.0
    store.close()


def test_monte_carlo_is_seeded_and_orders_risk_by_fraction():
    r = [1.5, -1, 2, -1, -1, 3, -1, 0.5]
    a, b = simulate(r, 0.02, paths=2_000, seed=3), simulate(r, 0.02, paths=2_000, seed=3)
    assert np.array_equal(a.max_drawdown, b.max_drawdown)
    big = simulate(r, 0.2, paths=2_000, seed=3, trades=100)
    small = simulate(r, 0.01, paths=2_000, seed=3, trades=100)
    assert np.median(big.max_drawdown) > np.median(small.max_drawdown)
    assert big.ruin >= small.ruin
    with pytest.raises(ValueError, match="no R-multiples"):
        simulate([], 0.01)


def test_montecarlo_cli_from_file(tmp_path, capsys):
    f = tmp_path / "r.txt"
    f.write_text("1.3\n-1\n1.3\n-1\n1.3\n")
    png = tmp_path / "mc.png"
    assert main(["risk", "montecarlo", "--r-multiples", str(f), "--png", str(png), "--json",
                 "--paths", "500"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["trades"] == 5 and len([r for r in out["rows"] if r["half_kelly"]]) == 1
    assert png.stat().st_size > 5_000
    f.write_text("1.3\nabc\n")
    assert main(["risk", "montecarlo", "--r-multiples", str(f)]) == 2
    assert "line 2: 'abc' is not a number" in capsys.readouterr().err


def test_correlated_groups_of_many_symbols_are_the_pairwise_groups():
    """Three or more symbols go through one correlation matrix: the groups must be those
    of pair-by-pair correlation (a flat series joins nobody)."""
    rng = np.random.default_rng(2)
    joined = 0
    for trial in range(60):
        common = rng.normal(0, 1, 300)
        rets = {f"S{i:02d}": rng.uniform(0, 1.5) * common + rng.normal(0, 1, 300)
                for i in range(int(rng.integers(3, 25)))}
        rets["S00"] = np.zeros(300) if trial % 5 == 0 else rets["S00"]
        want = {s: {s} for s in rets}
        names = sorted(rets)
        for i, a in enumerate(names):  # connected components of the pairwise relation
            for b in names[i + 1:]:
                x, y = rets[a], rets[b]
                if x.std() and y.std() and float(np.corrcoef(x, y)[0, 1]) > 0.7:
                    merged = want[a] | want[b]
                    for s in merged:
                        want[s] = merged
        got = correlated_groups(rets, 0.7)
        assert sorted(map(sorted, got)) == sorted(map(sorted, {frozenset(g) for g in
                                                               want.values()}))
        joined += any(len(g) > 1 for g in got)
    assert 10 < joined < 60  # both joined and separate symbols were met


def test_pearson_is_numpys_corrcoef_to_the_bit_and_a_flat_series_joins_nobody():
    from risk.buckets import correlated_groups, pearson

    rng = np.random.default_rng(4)
    for k in range(3000):
        n = int(rng.integers(2, 800))
        x = rng.normal(0, 0.01, n)
        y = {0: x.copy(), 1: -3 * x}.get(k % 9, 0.5 * x + rng.normal(0, 0.01, n))
        assert pearson(x, y) == float(np.corrcoef(x, y)[0, 1]), k
    flat = np.zeros(50)
    assert np.isnan(pearson(rng.normal(0, 0.01, 50), flat))
    moving = rng.normal(0, 0.01, 50)
    def groups(returns):
        return sorted(map(sorted, correlated_groups(returns)))

    assert groups({"A": moving, "B": flat}) == [["A"], ["B"]]  # two symbols: pairwise
    assert groups({"A": moving, "C": moving * 2}) == [["A", "C"]]
