"""Two venues of funding on real history: Bybit's prints (a CSV stamped in UTC+3, brought
to UTC with --utc-offset) beside Binance's, so funding_extreme and funding_spread — which
need two exchanges — speak on real data: an episode of each in early 2021."""

import json
from pathlib import Path

import pandas as pd
import pytest

from bot.app.cli import main
from state.store import Store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BINANCE = ("binance_usdm_BTCUSDT_perp_ohlcv_1h_2019-2026.feather",
           "binance_usdm_BTCUSDT_funding_8h_2019-2026.feather")
BYBIT = ("bybit_BTCUSDT_funding_8h_2021-2023_UTCplus3.csv",
         "bybit_BTCUSDT_funding_8h_2023-2026.feather")
pytestmark = pytest.mark.skipif(
    not all((SHARED / f).exists() for f in (*BINANCE, *BYBIT)),
    reason=f"real history not found in {SHARED} (the shared data folder is absent)")
WINDOW = ["--since", "2021-01-01", "--until", "2021-04-01"]


def _import(data: Path, *args: str) -> None:
    assert main(["data", "import", "--out", str(data), "--symbol", "BTC/USDT:USDT", *args,
                 *WINDOW]) == 0


def test_bybit_funding_beside_binance_makes_the_two_venue_modules_speak(tmp_path):
    data = tmp_path / "data"
    _import(data, "--exchange", "binanceusdm", "--candles", str(SHARED / BINANCE[0]),
            "--funding", str(SHARED / BINANCE[1]))
    _import(data, "--exchange", "bybit", "--funding", str(SHARED / BYBIT[0]),
            "--utc-offset", "3")
    _import(data, "--exchange", "bybit", "--funding", str(SHARED / BYBIT[1]))  # merges
    bybit = pd.read_csv(data / "bybit" / "BTCUSDT" / "funding.csv")
    assert set((bybit["timestamp"] // 3_600_000) % 24) == {0, 8, 16}  # UTC prints
    assert len(bybit) == 90 * 3 and bybit["timestamp"].is_unique
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{data}"\nsymbols = ["BTC/USDT:USDT"]\n'
                   "[basis]\nenabled = false\n")
    out = tmp_path / "out"
    assert main(["replay", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    store = Store(out / "derivbot.db")
    extreme = [s for s in store.signals("funding_extreme") if s.direction != 0]
    assert extreme and all(s.direction == -1 for s in extreme)  # crowded longs, faded
    assert any(a.kind == "funding_spread" for a in store.alerts())
    abstained = json.loads((out / "report.json").read_text())["abstentions"]
    assert "funding_extreme" not in abstained and "funding_spread" not in abstained


def test_import_all_builds_the_multi_venue_set_and_a_second_run_changes_nothing(tmp_path,
                                                                                capsys):
    import filecmp

    from bot.marketdata import layout

    out = tmp_path / "real"
    assert main(["data", "import", "--all", str(SHARED), "--out", str(out),
                 "--since", "2023-11-01", "--until", "2024-02-01"]) == 0
    said = capsys.readouterr().out
    assert "bybit BTC/USDT:USDT: funding from bybit_BTCUSDT_funding_8h_2021-2023" in said
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.csv")}
    assert {Path("binanceusdm/BTCUSDT") / f for f in (
        "candles_1h.csv", "funding.csv", "spot_candles_1h.csv", "open_interest.csv")} <= set(first)
    bybit = pd.read_csv(out / "bybit" / "BTCUSDT" / "funding.csv")
    assert bybit["timestamp"].is_unique and len(bybit) == 92 * 3  # both files, merged
    assert main(["data", "import", "--all", str(SHARED), "--out", str(out),
                 "--since", "2023-11-01", "--until", "2024-02-01"]) == 0
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*.csv")} == first
    data = layout.load(out)
    assert set(data.exchanges) == {"binanceusdm", "bybit"}  # OKX's prints start 2025-10
    assert not filecmp.cmp(out / "binanceusdm/BTCUSDT/funding.csv",
                           out / "bybit/BTCUSDT/funding.csv", shallow=False)
