"""freqtrade's futures backtest of the same EMA cross (EMA 10 over EMA 20 long, under short,
out on the opposite cross) on Binance's BTC and ETH perpetual 1 h bars with their funding —
the strategy class and the user folder it needs. `make bench-peers` runs
`freqtrade backtesting` in the venv of its own (.bench/freqtrade) with the folder this
writes; freqtrade loads its markets through ccxt even to backtest, so its ccxt points at a
local exchange serving Binance's exchangeInfo instead of the network."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

STRATEGY = '''
from freqtrade.strategy import IStrategy


class EmaCross(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = True
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    startup_candle_count = 20

    def populate_indicators(self, df, metadata):
        df["fast"] = df["close"].ewm(span=10, adjust=False).mean()
        df["slow"] = df["close"].ewm(span=20, adjust=False).mean()
        above = df["fast"] >= df["slow"]
        df["up"] = above & ~above.shift(1, fill_value=True)
        df["down"] = ~above & above.shift(1, fill_value=False)
        return df

    def populate_entry_trend(self, df, metadata):
        df.loc[df["up"], "enter_long"] = 1
        df.loc[df["down"], "enter_short"] = 1
        return df

    def populate_exit_trend(self, df, metadata):
        df.loc[df["down"], "exit_long"] = 1
        df.loc[df["up"], "exit_short"] = 1
        return df
'''


def user_folder(shared: Path, out: Path, exchange_url: str) -> Path:
    """freqtrade's user folder: data in its futures layout, the strategy, a config whose
    ccxt reads markets from the local exchange at `exchange_url`."""
    data = out / "data" / "binance" / "futures"
    data.mkdir(parents=True, exist_ok=True)
    (out / "strategies").mkdir(exist_ok=True)
    for base in ("BTC", "ETH"):
        candles = shared / f"binance_usdm_{base}USDT_perp_ohlcv_1h_2019-2026.feather"
        shutil.copy(candles, data / f"{base}_USDT_USDT-1h-futures.feather")
        # no mark-price candles in the shared set: the last-price candles stand in
        shutil.copy(candles, data / f"{base}_USDT_USDT-1h-mark.feather")
        shutil.copy(shared / f"binance_usdm_{base}USDT_funding_8h_2019-2026.feather",
                    data / f"{base}_USDT_USDT-1h-funding_rate.feather")
    (out / "strategies" / "ema_cross.py").write_text(STRATEGY)
    api = {k: f"{exchange_url}/{p}" for k, p in (
        ("fapiPublic", "fapi/v1"), ("fapiPublicV2", "fapi/v2"), ("fapiPublicV3", "fapi/v3"),
        ("fapiPrivate", "fapi/v1"), ("fapiPrivateV2", "fapi/v2"), ("public", "api/v3"),
        ("private", "api/v3"), ("sapi", "sapi/v1"), ("fapiData", "futures/data"))}
    ccxt = {"urls": {"api": api}, "options": {"fetchMarkets": {"types": ["linear"]},
                                              "fetchCurrencies": False}}
    config = {
        "trading_mode": "futures", "margin_mode": "isolated", "stake_currency": "USDT",
        "stake_amount": 1000, "dry_run": True, "dry_run_wallet": 1_000_000,
        "max_open_trades": 2, "timeframe": "1h", "dataformat_ohlcv": "feather",
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exchange": {"name": "binance", "key": "", "secret": "",
                     "pair_whitelist": ["BTC/USDT:USDT", "ETH/USDT:USDT"],
                     "ccxt_config": ccxt, "ccxt_async_config": ccxt},
        "pairlists": [{"method": "StaticPairList"}],
        "user_data_dir": str(out), "datadir": str(out / "data" / "binance"),
    }
    (out / "config.json").write_text(json.dumps(config, indent=1))
    return out / "config.json"


if __name__ == "__main__":
    print(user_folder(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
