"""nautilus_trader's backtest of an EMA cross (its own example strategy: EMA 10 over EMA 20
long, under short, market orders) on Binance's BTC and ETH perpetual 1 h bars — run in the venv of its own
(.bench/nautilus) by `make bench-peers`. Prints one JSON line: the engine's version, bars,
positions, the time the backtest ran and the time the whole script took."""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from pathlib import Path

STARTED = time.perf_counter()

import pandas as pd
from nautilus_trader import __version__
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.examples.strategies.ema_cross import EMACross, EMACrossConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider

SIZES = {"BTCUSDT": Decimal("0.010"), "ETHUSDT": Decimal("0.100")}


def main(shared: Path) -> None:
    engine = BacktestEngine(config=BacktestEngineConfig(
        trader_id=TraderId("BENCH-001"), logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(venue=Venue("BINANCE"), oms_type=OmsType.NETTING,
                     account_type=AccountType.MARGIN, base_currency=None,
                     starting_balances=[Money(1_000_000, USDT)])
    bars = 0
    for name, instrument in (("BTCUSDT", TestInstrumentProvider.btcusdt_perp_binance()),
                             ("ETHUSDT", TestInstrumentProvider.ethusdt_perp_binance())):
        df = pd.read_feather(shared / f"binance_usdm_{name}_perp_ohlcv_1h_2019-2026.feather")
        df = df.rename(columns={"date": "timestamp"}).set_index("timestamp")
        bar_type = BarType.from_str(f"{instrument.id}-1-HOUR-LAST-EXTERNAL")
        data = BarDataWrangler(bar_type, instrument).process(
            df[["open", "high", "low", "close", "volume"]])
        engine.add_instrument(instrument)
        engine.add_data(data)
        bars += len(data)
        engine.add_strategy(EMACross(EMACrossConfig(
            instrument_id=instrument.id, bar_type=bar_type, trade_size=SIZES[name],
            fast_ema_period=10, slow_ema_period=20)))
    t0 = time.perf_counter()
    engine.run()
    ran = time.perf_counter() - t0
    positions = len(engine.trader.generate_positions_report())
    engine.dispose()
    print(json.dumps({"engine": "nautilus_trader", "version": __version__, "bars": bars,
                      "trades": positions, "run_s": round(ran, 3),
                      "total_s": round(time.perf_counter() - STARTED, 3)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
