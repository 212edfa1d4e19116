"""A whole folder of known history files into the layout in one go (`derivbot data import
--all DIR`): each file's venue, symbol and kind read from its name, funding of one venue
merged across files, a file stamped in local time brought to UTC. Running it again writes
the same files."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from bot.marketdata.importer import import_symbol

# file name -> (venue, kind, the files' clock as UTC+hours); the base asset is named in it
RULES = (
    (r"binance_usdm_(?P<base>[A-Z]+)USDT_perp_ohlcv_1h_.*\.feather", "binanceusdm", "candles", 0),
    (r"binance_usdm_(?P<base>[A-Z]+)USDT_funding_8h_.*\.feather", "binanceusdm", "funding", 0),
    (r"binance_spot_(?P<base>[A-Z]+)USDT_ohlcv_1h_.*\.feather", "binanceusdm", "spot", 0),
    (r"coinalyze_(?P<base>[A-Z]+)_perp_open_interest_usd_daily_.*\.csv", "binanceusdm", "oi", 0),
    (r"bybit_(?P<base>[A-Z]+)USDT_perp_ohlcv_1h_.*\.feather", "bybit", "candles", 0),
    (r"bybit_(?P<base>[A-Z]+)USDT_funding_8h_.*_UTCplus3\.csv", "bybit", "funding", 3),
    (r"bybit_(?P<base>[A-Z]+)USDT_funding_8h_.*\.feather", "bybit", "funding", 0),
    (r"okx_(?P<base>[A-Z]+)USDT_funding_8h_.*\.feather", "okx", "funding", 0),
)
OI_COLUMN = {"binanceusdm": "{base}/USDT - Binance"}


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
    for (venue, base), kinds in sorted(known(src).items()):
        symbol = f"{base}/USDT:USDT"
        candles = kinds.get("candles", [(None, 0)])[0][0]
        spot = kinds.get("spot", [(None, 0)])[0][0]
        oi = kinds.get("oi", [(None, 0)])[0][0] if candles is not None else None
        if candles is not None:
            import_symbol(out, venue, symbol, candles, None, oi,
                          OI_COLUMN.get(venue, "").format(base=base) or None, since, until,
                          spot)
            done.append(f"{venue} {symbol}: candles" + (", spot" if spot else "")
                        + (", open interest" if oi else ""))
        for path, offset in kinds.get("funding", []):
            import_symbol(out, venue, symbol, None, path, since=since, until=until,
                          offset_hours=offset)
            done.append(f"{venue} {symbol}: funding from {path.name}")
    return done
