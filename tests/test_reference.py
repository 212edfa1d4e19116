"""funding_reversion on real Binance BTC and ETH history 2020–2025 trades exactly as its
vectorised reference (tests/reference.py, written from the rule, not from the bot): the
same entries (time, side, price, stop) and the same exits (time, reason, price)."""

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from bot.app.cli import main
from state.store import Store
from tests.reference import funding_reversion_trades

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {sym: (f"binance_usdm_{sym}USDT_perp_ohlcv_1h_2019-2026.feather",
               f"binance_usdm_{sym}USDT_funding_8h_2019-2026.feather") for sym in ("BTC", "ETH")}
TICKS = {"BTC": Decimal("0.1"), "ETH": Decimal("0.01")}
pytestmark = pytest.mark.skipif(
    not all((SHARED / f).exists() for pair in FILES.values() for f in pair),
    reason=f"real history not found in {SHARED} (the shared data folder is absent)")
OTHERS = ("funding_fade", "oi_divergence_reversal", "trapped_trader", "triple_confluence",
          "composite")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("reversion")
    data = root / "data"
    for sym, (candles, funding) in FILES.items():
        assert main(["data", "import", "--out", str(data), "--exchange", "binanceusdm",
                     "--symbol", f"{sym}/USDT:USDT", "--candles", str(SHARED / candles),
                     "--funding", str(SHARED / funding), "--since", "2020-01-01",
                     "--until", "2026-01-01"]) == 0
    cfg = root / "config.toml"
    cfg.write_text(
        f'[data]\ndir = "{data}"\n[sim]\nslippage_bps = 0\n'
        # sizes only: no halt, bucket or Kelly record may refuse or delay an entry here
        "[risk]\nleverage = 2\ndaily_loss_limit = 1.0\nmax_drawdown = 1.0\nkelly = false\n"
        "buckets = []\ncorrelation = 1.0\n"
        + "".join(f"[strategies.{s}]\nenabled = false\n" for s in OTHERS)
        + "[strategies.funding_reversion]\nenabled = true\n[basis]\nenabled = false\n")
    out = root / "out"
    assert main(["replay", "--config", str(cfg), "--out", str(out), "--quiet",
                 "--no-telemetry"]) == 0
    return data, Store(out / "derivbot.db")


@pytest.mark.parametrize("sym", ["BTC", "ETH"])
def test_funding_reversion_trades_as_its_reference_trade_for_trade(replayed, sym):
    data, store = replayed
    folder = data / "binanceusdm" / f"{sym}USDT"
    want = funding_reversion_trades(pd.read_csv(folder / "candles_1h.csv"),
                                    pd.read_csv(folder / "funding.csv"), TICKS[sym])
    got = [(t.created_at, t.side, t.entry_price, t.stop_price, t.closed_at, t.close_reason,
            t.exit_price) for t in store.trades() if t.symbol == f"{sym}/USDT:USDT"]
    assert len(want) > 20
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    assert first is None and len(got) == len(want), (
        f"trade {first}: bot {got[first] if first is not None and first < len(got) else None}"
        f" vs reference {want[first] if first is not None and first < len(want) else None}; "
        f"{len(got)} vs {len(want)} trades")
