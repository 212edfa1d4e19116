"""funding_reversion and funding_fade on real Binance BTC and ETH history 2020–2025 trade
exactly as their vectorised references (tests/reference.py, written from the rules, not
from the bot): the same entries (time, side, price, stop, targets) and the same exits
(time, reason, price)."""

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from bot.app.cli import main
from state.store import Store
from tests.reference import _on_tick, funding_fade_trades, funding_reversion_trades

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = {sym: (f"binance_usdm_{sym}USDT_perp_ohlcv_1h_2019-2026.feather",
               f"binance_usdm_{sym}USDT_funding_8h_2019-2026.feather") for sym in ("BTC", "ETH")}
TICKS = {"BTC": Decimal("0.1"), "ETH": Decimal("0.01")}
pytestmark = pytest.mark.skipif(
    not all((SHARED / f).exists() for pair in FILES.values() for f in pair),
    reason=f"real history not found in {SHARED} (the shared data folder is absent)")
STRATEGIES = ("funding_fade", "oi_divergence_reversal", "trapped_trader", "triple_confluence",
              "composite", "funding_reversion")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("history") / "data"
    for sym, (candles, funding) in FILES.items():
        assert main(["data", "import", "--out", str(out), "--exchange", "binanceusdm",
                     "--symbol", f"{sym}/USDT:USDT", "--candles", str(SHARED / candles),
                     "--funding", str(SHARED / funding), "--since", "2020-01-01",
                     "--until", "2026-01-01"]) == 0
    return out


def replay(data: Path, root: Path, strategy: str, symbols: list[str],
           timeframe: str = "1h") -> Store:
    """The bot's replay of one strategy alone (on `timeframe`), sized only: no halt, bucket
    or Kelly record may refuse or delay an entry, no basis pair holds a perp."""
    cfg = root / "config.toml"
    cfg.write_text(
        f'[data]\ndir = "{data}"\nsymbols = {json.dumps(symbols)}\n[sim]\nslippage_bps = 0\n'
        "[risk]\nleverage = 2\ndaily_loss_limit = 1.0\nmax_drawdown = 1.0\nkelly = false\n"
        "buckets = []\ncorrelation = 1.0\n"
        + "".join(f"[strategies.{s}]\nenabled = {str(s == strategy).lower()}\n"
                  for s in STRATEGIES if s != strategy)
        + f'[strategies.{strategy}]\nenabled = true\ntimeframe = "{timeframe}"\n'
        + "[basis]\nenabled = false\n")
    out = root / "out"
    assert main(["replay", "--config", str(cfg), "--out", str(out), "--quiet",
                 "--no-telemetry"]) == 0
    return Store(out / "derivbot.db")


def history(data: Path, sym: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = data / "binanceusdm" / f"{sym}USDT"
    return pd.read_csv(folder / "candles_1h.csv"), pd.read_csv(folder / "funding.csv")


def same(got: list[tuple], want: list[tuple]) -> None:
    assert len(want) > 20
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    assert first is None and len(got) == len(want), (
        f"trade {first}: bot {got[first] if first is not None and first < len(got) else None}"
        f" vs reference {want[first] if first is not None and first < len(want) else None}; "
        f"{len(got)} vs {len(want)} trades")


@pytest.fixture(scope="module")
def reversion(data, tmp_path_factory):
    return replay(data, tmp_path_factory.mktemp("reversion"), "funding_reversion",
                  [f"{sym}/USDT:USDT" for sym in FILES])


@pytest.mark.parametrize("sym", ["BTC", "ETH"])
def test_funding_reversion_trades_as_its_reference_trade_for_trade(data, reversion, sym):
    want = funding_reversion_trades(*history(data, sym), TICKS[sym])
    same([(t.created_at, t.side, t.entry_price, t.stop_price, t.closed_at, t.close_reason,
           t.exit_price) for t in reversion.trades() if t.symbol == f"{sym}/USDT:USDT"], want)


@pytest.mark.parametrize("sym, hours", [("BTC", 1), ("ETH", 1), ("BTC", 4), ("ETH", 4)])
def test_funding_fade_trades_as_its_reference_trade_for_trade(data, tmp_path, sym, hours):
    """On 1 h bars, and on 4 h bars built from them (decided at each 4 h close, exits on
    the hourly walk). One symbol a replay: the other's margin may not refuse an entry."""
    store = replay(data, tmp_path, "funding_fade", [f"{sym}/USDT:USDT"], f"{hours}h")
    tick = TICKS[sym]
    want = funding_fade_trades(*history(data, sym), tick, hours=hours)
    same([(t.created_at, t.side, t.entry_price, _on_tick(t.plan_stop, tick),
           tuple(_on_tick(px, tick) for px, _ in json.loads(t.targets_json)), t.closed_at,
           t.close_reason) for t in store.trades()], want)
