"""SPEC §8 vectors through `derivbot size --json` and the risk API; the manager's rules."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.cli import main
from bot.markets import default_market
from risk.limits import RiskLimits
from risk.manager import Approved, OpenRisk, Portfolio, Refused, assess
from risk.sizing import liquidation_price, margin, position_size
from tests.helpers import BTC, ETH, plan

VECTORS = [  # equity, f, entry, stop, leverage, step -> size, margin
    (50_000, 0.015, 47_100, 47_600, 5, "0.001", "1.5", 14_130.0),
    (30_000, 0.015, 2_660, 2_590, 3, "0.001", "6.428", 5_699.49),
    (80_000, 0.015, 72_400, 73_400, 5, "0.001", "1.2", 17_376.0),
]


@pytest.mark.parametrize("equity, f, entry, stop, lev, step, size, mrg", VECTORS)
def test_spec_vectors_through_cli(capsys, equity, f, entry, stop, lev, step, size, mrg):
    code = main(["size", "--equity", str(equity), "--risk", str(f), "--entry", str(entry),
                 "--stop", str(stop), "--leverage", str(lev), "--step", step, "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["size"] == size
    assert out["margin"] == pytest.approx(mrg, abs=0.01)
    assert out["side"] == ("long" if stop < entry else "short")
    assert out["liquidation_beyond_stop"] is True


def test_eth_vector_reads_as_spec_rounding():
    size = position_size(30_000, 0.015, 2_660, 2_590, Decimal("0.001"))
    assert size == Decimal("6.428") and round(float(size), 2) == 6.43
    assert margin(float(size), 2_660, 3) == pytest.approx(5_700, abs=1)


@pytest.mark.parametrize("equity, f, entry, stop, lev, step, size, mrg", VECTORS)
def test_spec_vectors_through_risk_manager(equity, f, entry, stop, lev, step, size, mrg):
    direction = 1 if stop < entry else -1
    d = entry - stop
    p = plan(direction, entry, stop, (entry + d, entry + 2 * d, entry + 3 * d),
             symbol=BTC if entry > 10_000 else ETH)
    market = default_market(p.symbol, entry).rules()
    limits = RiskLimits(fraction=f, leverage=lev)
    out = assess(p, Portfolio(equity, equity), market, limits)
    assert isinstance(out, Approved), out
    assert out.size == Decimal(size)
    assert out.margin == pytest.approx(mrg, abs=0.01)


@pytest.mark.parametrize("equity, f, entry, stop, lev, step, size, mrg", VECTORS)
def test_the_calculator_and_the_risk_manager_give_one_liquidation_price(
        capsys, tmp_path, monkeypatch, equity, f, entry, stop, lev, step, size, mrg):
    """Both read the maintenance rate of the notional's tier (70 650 of BTC is in the
    0.5 % tier, not the first tier's 0.4 %)."""
    monkeypatch.chdir(tmp_path)  # no config.toml here: the built-in tiers
    assert main(["size", "--equity", str(equity), "--risk", str(f), "--entry", str(entry),
                 "--stop", str(stop), "--leverage", str(lev), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    direction = 1 if stop < entry else -1
    d = entry - stop
    p = plan(direction, entry, stop, (entry + d, entry + 2 * d, entry + 3 * d),
             symbol=BTC if entry > 10_000 else ETH)
    approved = assess(p, Portfolio(equity, equity), default_market(p.symbol, entry).rules(),
                      RiskLimits(fraction=f, leverage=lev))
    assert out["liquidation_price"] == round(approved.liquidation, 2)
    if entry == 47_100:
        assert out["liquidation_price"] == 56_284.5 and out["mmr"] == 0.005


def test_the_calculator_reads_the_configured_tiers_or_a_flat_rate(capsys, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[risk]\nmmr_tiers = [[1e18, 0.01]]\n")
    args = ["size", "--equity", "50000", "--risk", "0.015", "--entry", "47100", "--stop",
            "47600", "--leverage", "5", "--json"]
    assert main([*args, "--config", str(cfg)]) == 0
    assert json.loads(capsys.readouterr().out)["liquidation_price"] == round(
        47_100 * (1 + 1 / 5 - 0.01), 2)
    assert main([*args, "--mmr", "0.004"]) == 0
    assert json.loads(capsys.readouterr().out)["liquidation_price"] == 56_331.6
    assert main([*args, "--mmr", "1.5"]) == 2
    assert "--mmr is a rate between 0 and 1, got 1.5" in capsys.readouterr().err


def test_funding_carry_vector():
    from strategies.funding import annualised
    per_period = 100_000 * 0.0005
    assert per_period == 50
    assert per_period * 3 * 7 == 1_050
    assert annualised(0.0005) == pytest.approx(0.5475)


def test_liquidation_formulas():
    assert liquidation_price(100.0, 5, 0.004, 1) == pytest.approx(80.4)
    assert liquidation_price(100.0, 5, 0.004, -1) == pytest.approx(119.6)


def test_fifty_x_plan_with_liquidation_before_stop_is_refused_naming_both_prices():
    p = plan(1, 50_000, 48_500, (51_500, 53_000, 54_500))
    out = assess(p, Portfolio(100_000, 100_000), default_market(BTC, 50_000).rules(),
                 RiskLimits(leverage=50, max_leverage=50))
    assert isinstance(out, Refused) and out.rule == "liquidation"
    liq = liquidation_price(50_000, 50, 0.004, 1)
    assert f"{liq:.2f}" in out.reason and "48500.00" in out.reason


def test_trending_regime_halves_a_fade():
    p = plan(-1, 50_000, 50_500, (49_500, 49_000, 48_500), regime="trending")
    out = assess(p, Portfolio(100_000, 100_000), default_market(BTC, 50_000).rules(),
                 RiskLimits())
    assert isinstance(out, Approved)
    assert out.fraction == pytest.approx(0.0075)
    assert out.size == Decimal("1.5")  # 750 / 500
    assert any("trending" in c for c in out.cuts)
    skip = assess(p, Portfolio(100_000, 100_000), default_market(BTC, 50_000).rules(),
                  RiskLimits(trend_fade="skip"))
    assert isinstance(skip, Refused) and skip.rule == "regime"


def test_refusals_name_their_rule():
    market = default_market(BTC, 50_000).rules()
    p = plan(1, 50_000, 49_000, (51_000, 52_000, 53_000))
    limits = RiskLimits()
    cases = {
        "vacuum": (plan(1, 50_000, 49_000, (51_000, 52_000, 53_000), regime="vacuum"),
                   Portfolio(100_000, 100_000)),
        "one_per_symbol": (p, Portfolio(100_000, 100_000, (OpenRisk(BTC, 1000),))),
        "max_open_risk": (p, Portfolio(100_000, 100_000, tuple(OpenRisk(f"X{i}", 2000)
                                                               for i in range(3)))),
        "min_notional": (p, Portfolio(100, 100)),
        "halt": (p, Portfolio(90_000, 90_000, day_start_equity=100_000)),
    }
    rules = {k: assess(pl, pf, market, limits) for k, (pl, pf) in cases.items()}
    assert rules["vacuum"].rule == "regime" and "vacuum" in rules["vacuum"].reason
    assert rules["one_per_symbol"].rule == "one_per_symbol"
    assert rules["max_open_risk"].rule == "max_open_risk"
    assert rules["min_notional"].rule == "min_notional" and "below the market minimum 100" in rules["min_notional"].reason
    assert rules["halt"].rule == "halt" and "daily loss 10.00%" in rules["halt"].reason


@settings(max_examples=300, deadline=None)
@given(equity=st.floats(1_000, 10_000_000), f=st.floats(0.01, 0.02),
       entry=st.floats(1, 200_000), stop_pct=st.floats(0.001, 0.2),
       lev=st.floats(1, 20), side=st.sampled_from([1, -1]))
def test_properties_risk_and_leverage_caps_and_no_silent_refusal(equity, f, entry, stop_pct,
                                                                 lev, side):
    stop = entry * (1 - side * stop_pct)
    d = abs(entry - stop)
    p = plan(side, entry, stop, (entry + side * d, entry + 2 * side * d, entry + 3 * side * d))
    market = default_market(BTC, entry).rules()
    out = assess(p, Portfolio(equity, equity), market,
                 RiskLimits(fraction=f, leverage=lev, max_leverage=20))
    if isinstance(out, Refused):
        assert out.rule and out.reason
        return
    assert float(out.size) * d <= f * equity * (1 + 1e-9)
    assert float(out.size) <= lev * equity / entry * (1 + 1e-9)
    assert out.size % market.amount_step == 0
