"""The basis trade on real history: Binance's spot candles imported beside the perp's
(`data import --spot-candles`), both legs priced, so pairs open and collect funding — in
the bull market of early 2021, when funding paid most."""

import json
from pathlib import Path

import pytest

from bot.app.cli import main
from state.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PERP = "binance_usdm_BTCUSDT_perp_ohlcv_1h_2019-2026.feather"
FUNDING = "binance_usdm_BTCUSDT_funding_8h_2019-2026.feather"
SPOT = "binance_spot_BTCUSDT_ohlcv_1h_2018-2026.feather"
pytestmark = pytest.mark.skipif(
    not all((SHARED / f).exists() for f in (PERP, FUNDING, SPOT)),
    reason=f"real history not found in {SHARED} (the shared data folder is absent)")


def test_real_spot_prices_let_basis_pairs_open_and_collect_funding(tmp_path):
    data = tmp_path / "data"
    assert main(["data", "import", "--out", str(data), "--exchange", "binanceusdm",
                 "--symbol", "BTC/USDT:USDT", "--candles", str(SHARED / PERP),
                 "--funding", str(SHARED / FUNDING), "--spot-candles", str(SHARED / SPOT),
                 "--since", "2021-01-01", "--until", "2021-04-01"]) == 0
    assert (data / "binanceusdm" / "BTCUSDT" / "spot_candles_1h.csv").exists()
    cfg = tmp_path / "config.toml"
    off = "".join(f"[strategies.{s}]\nenabled = false\n" for s in (
        "funding_fade", "oi_divergence_reversal", "trapped_trader", "triple_confluence",
        "composite"))
    cfg.write_text(f'[data]\ndir = "{data}"\nsymbols = ["BTC/USDT:USDT"]\n{off}'
                   "[basis]\nenabled = true\n")
    out = tmp_path / "out"
    assert main(["replay", "--config", str(cfg), "--out", str(out), "--quiet",
                 "--no-telemetry"]) == 0
    basis = json.loads((out / "report.json").read_text())["basis"]
    assert basis["pairs"] >= 1 and basis["failed"] == 0
    # the short at 2×: the February 2021 rally (+20 % within hours) no longer liquidates it
    assert all(p.close_reason != "perp leg liquidated"
               for p in Store(out / "derivbot.db").basis_trades())
    assert float(basis["funding"]) > 0
    pairs = Store(out / "derivbot.db").basis_trades()
    assert all(p.spot_filled == p.perp_filled for p in pairs if p.state == "open")
