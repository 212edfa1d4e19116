"""Real Binance BTC/ETH history from ../shared/data: import, read every module, replay."""

import json
from pathlib import Path

import pytest

from bot.app.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {
    "btc_candles": "binance_usdm_BTCUSDT_perp_ohlcv_1h_2019-2026.feather",
    "btc_funding": "binance_usdm_BTCUSDT_funding_8h_2019-2026.feather",
    "eth_candles": "binance_usdm_ETHUSDT_perp_ohlcv_1h_2019-2026.feather",
    "eth_funding": "binance_usdm_ETHUSDT_funding_8h_2019-2026.feather",
    "btc_oi": "coinalyze_BTC_perp_open_interest_usd_daily_2022-2024.csv",
}
pytestmark = pytest.mark.skipif(
    not all((SHARED / f).exists() for f in FILES.values()),
    reason=f"real history not found in {SHARED} (the shared data folder is absent)")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Aug 2022 – Jan 2023 (the FTX collapse), BTC with daily OI, ETH without."""
    out = tmp_path_factory.mktemp("real")
    window = ["--since", "2022-08-01", "--until", "2023-01-15"]
    assert main(["data", "import", "--out", str(out), "--exchange", "binanceusdm",
                 "--symbol", "BTC/USDT:USDT", "--candles", str(SHARED / FILES["btc_candles"]),
                 "--funding", str(SHARED / FILES["btc_funding"]),
                 "--oi", str(SHARED / FILES["btc_oi"]), "--oi-column", "BTC/USDT - Binance",
                 *window]) == 0
    assert main(["data", "import", "--out", str(out), "--exchange", "binanceusdm",
                 "--symbol", "ETH/USDT:USDT", "--candles", str(SHARED / FILES["eth_candles"]),
                 "--funding", str(SHARED / FILES["eth_funding"]), *window]) == 0
    cfg = out / "config.toml"
    cfg.write_text(f'[data]\ndir = "{out}"\n[signals.funding_extreme]\nmin_exchanges = 1\n'
                   "[strategies.liquidation_magnet]\nenabled = true\n")
    return out, cfg


def test_imported_history_is_in_the_layout(real):
    out, _ = real
    btc = out / "binanceusdm" / "BTCUSDT"
    assert (btc / "open_interest.csv").read_text().startswith(
        "timestamp,open_interest,open_interest_value")
    assert not (out / "binanceusdm" / "ETHUSDT" / "open_interest.csv").exists()


def test_signals_dashboard_on_the_ftx_week(real, capsys):
    _, cfg = real
    assert main(["signals", "--config", str(cfg), "--at", "2022-11-10T00:00"]) == 0
    text = capsys.readouterr().out
    assert "positioning at 2022-11-10 00:00 UTC" in text
    assert "no open interest feed" in text  # ETH abstains, never fabricates
    assert "no taker buy volume" in text


def test_replay_runs_every_strategy_with_per_strategy_stats(real):
    out, cfg = real
    rep = out / "replay"
    assert main(["replay", "--config", str(cfg), "--out", str(rep), "--quiet"]) == 0
    report = json.loads((rep / "report.json").read_text())
    assert set(report["per_strategy"]) == {"funding_fade", "oi_divergence_reversal",
                                           "trapped_trader", "liquidation_magnet",
                                           "triple_confluence", "composite"}
    for stats in report["per_strategy"].values():
        assert {"trades", "win_rate", "profit_factor", "avg_r", "sharpe", "max_drawdown",
                "avg_hold_hours", "plans"} <= set(stats)
    assert report["trades"] > 0
