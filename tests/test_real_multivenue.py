"""Several venues of funding on real history: Bybit's prints (a CSV stamped in UTC+3, brought
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
    # OKX: its 8 h prints start 2025-10; here the daily table's funding, OI and liquidations
    assert set(data.exchanges) == {"binanceusdm", "bybit", "okx"}
    okx = pd.read_csv(out / "okx" / "BTCUSDT" / "funding.csv")
    assert set((okx["timestamp"] // 3_600_000) % 24) == {16} and set(okx["interval_hours"]) == {8}
    assert {(v, f) for v in ("binanceusdm", "bybit", "okx")
            for f in ("open_interest.csv", "liquidations.csv")} <= {
        (p.parent.parent.name, p.name) for p in out.rglob("*.csv")}
    assert not filecmp.cmp(out / "binanceusdm/BTCUSDT/funding.csv",
                           out / "bybit/BTCUSDT/funding.csv", shallow=False)


def test_the_multi_venue_set_makes_every_cross_venue_reading_speak(tmp_path):
    """Binance and Bybit 8 h prints, OKX's daily settlement, each venue's daily OI and
    liquidations: around the March 2024 high, longs crowded on two venues at once."""
    from bot.marketdata import layout
    from bot.marketdata.history import History
    from strategies.liquidation import liquidation_map
    from strategies.liquidation_map import LiquidationMapParams
    from strategies.series import oi_weighted_funding

    out = tmp_path / "real"
    assert main(["data", "import", "--all", str(SHARED), "--out", str(out),
                 "--since", "2024-01-01", "--until", "2024-04-01"]) == 0
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{out}"\nsymbols = ["BTC/USDT:USDT"]\n'
                   "[basis]\nenabled = false\n")
    assert main(["replay", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    store = Store(tmp_path / "o" / "derivbot.db")
    extreme = [s for s in store.signals("funding_extreme") if s.direction != 0]
    assert extreme and {s.direction for s in extreme} == {-1}  # crowded longs, faded
    assert all(json.loads(s.reasons_json)["exchanges"] >= 2 for s in extreme)
    assert any(a.kind == "funding_spread" for a in store.alerts())

    history = History("binanceusdm")
    at = 1_709_654_400_000  # 2024-03-05 16:00 UTC: the day's prints and OI are in
    for e in layout.load(out, ("BTC/USDT:USDT",)).events():
        if e.seen > at:
            break
        history.ingest(e)
    view = history.view("BTC/USDT:USDT", at)
    rate, venues = oi_weighted_funding(view)
    last = {ex: float(f.value[-1]) for ex, f in view.funding.items()}
    assert venues == 3 and min(last.values()) < rate < max(last.values())
    assert rate not in last.values()  # weighted by each venue's open interest
    # the last day's totals (4 March, known at its end), summed over the three venues
    reported = liquidation_map(view, [], LiquidationMapParams()).reasons["reported"]
    rows = [pd.read_csv(f).set_index("timestamp").loc[at - 16 * 3_600_000]
            for f in out.glob("*/BTCUSDT/liquidations.csv")]
    assert reported == {"long_usd": round(sum(r["long_usd"] for r in rows), 2),
                        "short_usd": round(sum(r["short_usd"] for r in rows), 2),
                        "long_share": pytest.approx(0.2475, abs=1e-4), "exchanges": 3}


def test_okx_trades_on_its_own_candles_and_a_4h_strategy_on_its_4h_file(tmp_path):
    """OKX has no 1 h file: its 15 m bars summed into hours are its 1 h candles, and its
    own 4 h file (which those hours rebuild bar for bar) feeds a strategy asking for 4 h."""
    from tests.reference import bars_of

    out = tmp_path / "real"
    assert main(["data", "import", "--all", str(SHARED), "--out", str(out),
                 "--since", "2023-01-01", "--until", "2024-09-01"]) == 0
    folder = out / "okx" / "BTCUSDT"
    hours, own = pd.read_csv(folder / "candles_1h.csv"), pd.read_csv(folder / "candles_4h.csv")
    assert len(hours) == 14_616 and hours["timestamp"].diff().max() == 3_600_000
    rebuilt = bars_of(hours, 4).set_index("timestamp")
    cols = ["open", "high", "low", "close"]
    pd.testing.assert_frame_equal(rebuilt.loc[own["timestamp"], cols],
                                  own.set_index("timestamp")[cols])
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[exchange]\nvenue = "okx"\n[data]\ndir = "{out}"\n'
                   'symbols = ["BTC/USDT:USDT"]\n[basis]\nenabled = false\n'
                   '[strategies.funding_fade]\ntimeframe = "4h"\n')
    assert main(["replay", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet",
                 "--no-telemetry"]) == 0
    trades = Store(tmp_path / "o" / "derivbot.db").trades()
    fades = [t for t in trades if t.strategy == "funding_fade"]
    assert fades and all(t.created_at % (4 * 3_600_000) == 0 for t in fades)
    assert any(t.created_at % (4 * 3_600_000) for t in trades)  # the others read 1 h
