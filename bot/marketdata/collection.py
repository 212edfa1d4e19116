"""A whole folder of known history files into the layout in one go (`derivbot data import
--all DIR`): each file's venue, symbol and kind read from its name, funding of one venue
merged across files, a file stamped in local time brought to UTC. Running it again writes
the same files."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from bot.marketdata.importer import EmptyWindow, import_daily, import_symbol
from bot.marketdata.layout import read_table
from bot.markets import symbol_dir

DAILY = "daily"  # a table of daily values with a column per venue (Coinalyze)
# file name -> (venue, kind, the files' clock as UTC+hours); the base asset is named in it
RULES = (
    (r"binance_usdm_(?P<base>[A-Z]+)USDT_perp_ohlcv_1h_.*\.feather", "binanceusdm", "candles", 0),
    (r"binance_usdm_(?P<base>[A-Z]+)USDT_funding_8h_.*\.feather", "binanceusdm", "funding", 0),
    (r"binance_spot_(?P<base>[A-Z]+)USDT_ohlcv_1h_.*\.feather", "binanceusdm", "spot", 0),
    (r"coinalyze_(?P<base>[A-Z]+)_perp_open_interest_usd_daily_.*\.csv", DAILY, "oi", 0),
    (r"coinalyze_(?P<base>[A-Z]+)_perp_funding_pct_daily_multivenue_.*\.csv", DAILY, "funding",
     0),
    (r"coinalyze_(?P<base>[A-Z]+)_perp_liquidations_usd_daily_.*\.csv", DAILY, "liquidations",
     0),
    (r"bybit_(?P<base>[A-Z]+)USDT_perp_ohlcv_1h_.*\.feather", "bybit", "candles", 0),
    (r"bybit_(?P<base>[A-Z]+)USDT_funding_8h_.*_UTCplus3\.csv", "bybit", "funding", 3),
    (r"bybit_(?P<base>[A-Z]+)USDT_funding_8h_.*\.feather", "bybit", "funding", 0),
    (r"okx_(?P<base>[A-Z]+)USDT_funding_8h_.*\.feather", "okx", "funding", 0),
    # OKX's own 4 h bars, and its 5 m and 15 m ones summed into hours (no 1 h file exists)
    (r"okx_(?P<base>[A-Z]+)USDT_perp_ohlcv_(4h|15m|5m)_.*\.feather", "okx", "candles", 0),
)
# each venue's column in the daily tables
COLUMN = {"binanceusdm": "{base}/USDT - Binance", "bybit": "{base}/USDT - Bybit",
          "okx": "{base}/USDT - OKX"}
# venues whose funding is taken from the daily table: those without 8 h prints of their own
# over its span (OKX's prints start 2025-10); a daily sample is the 16:00 UTC print
DAILY_FUNDING = ("okx",)
PRICED_BY = "binanceusdm"  # whose 1 h closes turn daily OI in USD into contracts


def known(src: Path) -> dict[tuple[str, str], dict[str, list[tuple[Path, float]]]]:
    """(venue, base) -> kind -> [(file, utc offset)], funding files oldest name first."""
    found: dict = defaultdict(lambda: defaultdict(list))
    for path in sorted(src.iterdir()):
        for pattern, venue, kind, offset in RULES:
            if m := re.fullmatch(pattern, path.name):
                found[(venue, m["base"])][kind].append((path, offset))
                break
    return found


def import_all(src: Path, out: Path, since: int | None = None,
               until: int | None = None) -> list[str]:
    """Import every known file of `src` into `out`; the lines it did, for the person."""
    done = []
    found = known(src)
    for (venue, base), kinds in sorted(found.items()):
        if venue == DAILY:
            continue
        symbol = f"{base}/USDT:USDT"
        spot = kinds.get("spot", [(None, 0)])[0][0]
        for k, (candles, _) in enumerate(kinds.get("candles", [])):
            if k == 0:
                _fresh(out, venue, symbol)  # the venue's candles are rebuilt from its files
            try:
                import_symbol(out, venue, symbol, candles, None, since=since, until=until,
                              spot_file=spot if k == 0 else None)
            except EmptyWindow:  # e.g. OKX's 2022 5 m bars for a later window
                continue
            done.append(f"{venue} {symbol}: candles from {candles.name}"
                        + (", spot" if spot and k == 0 else ""))
        for path, offset in kinds.get("funding", []):
            import_symbol(out, venue, symbol, None, path, since=since, until=until,
                          offset_hours=offset)
            done.append(f"{venue} {symbol}: funding from {path.name}")
    for (venue, base), kinds in sorted(found.items()):
        if venue == DAILY:
            done += _daily(out, base, kinds, since, until)
    return done


def _fresh(out: Path, venue: str, symbol: str) -> None:
    """Candle files are merged across a venue's sources: a new run starts them over, so
    running it again writes the same files."""
    for name in ("candles_1h.csv", "candles_4h.csv", "spot_candles_1h.csv"):
        (out / venue / symbol_dir(symbol) / name).unlink(missing_ok=True)


def _daily(out: Path, base: str, kinds: dict, since: int | None, until: int | None
           ) -> list[str]:
    """The daily tables of one asset, each venue's column into that venue's folder."""
    symbol, done = f"{base}/USDT:USDT", []
    priced = out / PRICED_BY / symbol_dir(symbol) / "candles_1h.csv"
    closes = read_table(priced) if priced.exists() else None
    for venue, column in COLUMN.items():
        column = column.format(base=base)
        got = []
        for kind, arg in (("oi", "oi"), ("funding", "funding_file"),
                          ("liquidations", "liquidations")):
            if kind not in kinds or (kind == "oi" and closes is None) or (
                    kind == "funding" and venue not in DAILY_FUNDING):
                continue
            path = kinds[kind][0][0]
            import_daily(out, venue, symbol, column=column, closes=closes, since=since,
                         until=until, **{arg: path})
            got.append(f"daily {kind.replace('oi', 'open interest')} from {path.name}")
        if got:
            done.append(f"{venue} {symbol}: " + ", ".join(got))
    return done
