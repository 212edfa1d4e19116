"""Bring outside history into the canonical layout: freqtrade feather/CSV candles and funding,
and Coinalyze-style daily tables (one column per venue): open interest (USD), funding (percent
per 8 h, that day's 16:00 UTC settlement) and liquidations (USD, `<venue>_long`/`_short`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bot.marketdata.layout import DataError, funding_interval_hours, read_table
from bot.markets import symbol_dir
from strategies.types import DAY_MS, HOUR_MS


class EmptyWindow(DataError):
    """A file with no row in the chosen window."""


def read_frame(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".feather":
            return pd.read_feather(path)
        return pd.read_csv(path)
    except Exception as err:  # noqa: BLE001 - any reader failure is a data error for the user
        raise DataError(f"{path}: cannot be read: {err}") from None


def _key(name: str) -> str:
    return str(name).lower().replace(" ", "").replace("_", "")


def _column(df: pd.DataFrame, *names: str) -> str | None:
    """The first of `names` the frame has, whatever its case, spaces or underscores."""
    have = {_key(c): c for c in df.columns}
    return next((have[_key(n)] for n in names if _key(n) in have), None)


def _ms(df: pd.DataFrame, path: Path, offset_hours: float = 0) -> np.ndarray:
    """ms UTC of each row; `offset_hours`: the file's clock is UTC+offset (subtracted)."""
    return _stamps(df, path) - int(offset_hours * 3_600_000)


def _stamps(df: pd.DataFrame, path: Path) -> np.ndarray:
    col = _column(df, "timestamp", "date", "t", "time")
    if col is None:
        raise DataError(f"{path}: no time column (timestamp, date or t)")
    raw = df[col]
    if pd.api.types.is_numeric_dtype(raw):
        return raw.to_numpy(np.int64)
    stamps = pd.to_datetime(raw, utc=True, errors="coerce")
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise DataError(f"{path}: row {row + 1}: {col} {raw.iloc[row]!r} is not a time")
    return (stamps.dt.as_unit("ms").astype("int64")).to_numpy(np.int64)


def _window(df: pd.DataFrame, since: int | None, until: int | None) -> pd.DataFrame:
    keep = np.ones(len(df), bool)
    if since is not None:
        keep &= df["timestamp"].to_numpy() >= since
    if until is not None:
        keep &= df["timestamp"].to_numpy() < until
    return df[keep].reset_index(drop=True)


def candles(path: Path, since: int | None = None, until: int | None = None,
            offset_hours: float = 0) -> tuple[pd.DataFrame, int]:
    """The file's candles and their span: 1 h or 4 h as they are, bars of a divisor of an
    hour (5 m, 15 m) summed into 1 h ones (a UTC hour missing some is the bars it has)."""
    frame = _candles(path, offset_hours)
    steps = np.diff(frame["timestamp"].to_numpy())
    span = int(np.median(steps)) if len(steps) else HOUR_MS
    if span < HOUR_MS and HOUR_MS % span == 0:
        frame, span = _hourly(frame), HOUR_MS
    if span not in (HOUR_MS, 4 * HOUR_MS):
        raise DataError(f"{path}: candles every {span / 60_000:g} min; the layout holds 1 h "
                        "and 4 h bars (or bars of a divisor of an hour, summed into 1 h)")
    return _window(frame, since, until), span


def _hourly(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby(frame["timestamp"] // HOUR_MS)
    out = pd.DataFrame({"timestamp": g["timestamp"].first() // HOUR_MS * HOUR_MS,
                        "open": g["open"].first(), "high": g["high"].max(),
                        "low": g["low"].min(), "close": g["close"].last(),
                        "volume": g["volume"].sum()})
    if "taker_buy_volume" in frame:
        out["taker_buy_volume"] = g["taker_buy_volume"].sum()
    return out.reset_index(drop=True)


def _candles(path: Path, offset_hours: float) -> pd.DataFrame:
    df = read_frame(path)
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    out = pd.DataFrame({"timestamp": _ms(df, path, offset_hours)})
    for col in ("open", "high", "low", "close", "volume", "taker_buy_volume"):
        if col in df.columns:
            out[col] = df[col].to_numpy(float)
    return out.sort_values("timestamp", kind="stable").reset_index(drop=True)


def funding(path: Path, since: int | None = None, until: int | None = None,
            offset_hours: float = 0) -> pd.DataFrame:
    """A rate column (rate, funding rate, fundingRate), or freqtrade's funding candles whose
    `open` holds the rate."""
    df = read_frame(path)
    col = _column(df, "rate", "funding rate", "open")
    if col is None:
        raise DataError(f"{path}: no rate column (rate, funding rate, or open in freqtrade "
                        "funding files)")
    out = pd.DataFrame({"timestamp": _ms(df, path, offset_hours),
                        "rate": df[col].to_numpy(float)})
    return _window(out.sort_values("timestamp", kind="stable"), since, until)


def daily_open_interest(path: Path, column: str, closes: pd.DataFrame,
                        since: int | None = None, until: int | None = None) -> pd.DataFrame:
    """Daily OI in USD from one venue column; stamped at the day's end (when it is known)
    and turned into contracts with the candle close of that moment."""
    ts, df = _venue_table(path, (column,))
    ts, value = ts + DAY_MS, df[column].to_numpy(float)
    ok = np.isfinite(value) & (value > 0)
    ts, value = ts[ok], value[ok]
    close_time = closes["timestamp"].to_numpy() + HOUR_MS
    i = np.searchsorted(close_time, ts, side="right") - 1
    known = i >= 0
    price = closes["close"].to_numpy()[np.maximum(i, 0)]
    out = pd.DataFrame({"timestamp": ts[known], "open_interest": (value / price)[known],
                        "open_interest_value": value[known]})
    return _window(out, since, until)


def import_symbol(out: Path, exchange: str, symbol: str, candles_file: Path | None,
                  funding_file: Path | None = None, oi_file: Path | None = None,
                  oi_column: str | None = None, since: int | None = None,
                  until: int | None = None, spot_file: Path | None = None,
                  offset_hours: float = 0) -> Path:
    """Perp candles, funding, daily OI and the spot market's candles (each optional, but
    candles or funding) into `out`/exchange/SYMBOL/, each file checked as the loader reads
    it. Funding merges with what the folder holds (the newer file wins a print both have),
    so a venue's history can come from several files; `offset_hours`: the files' clock is
    UTC+offset. Candles too merge (the newer file wins a bar both have): 4 h bars go to
    candles_4h.csv, bars shorter than an hour are summed into candles_1h.csv."""
    if candles_file is None and funding_file is None:
        raise DataError("nothing to import: give --candles, --funding or both")
    folder = out / exchange / symbol_dir(symbol)
    folder.mkdir(parents=True, exist_ok=True)

    def write_candles(source: Path, spot: bool = False) -> pd.DataFrame | None:
        frame, span = candles(source, since, until, offset_hours)
        if frame.empty:
            raise EmptyWindow(f"{source}: no candles in the chosen window")
        if span != HOUR_MS and spot:
            raise DataError(f"{source}: spot candles must be 1 h bars")
        name = ("spot_candles_1h.csv" if spot else
                "candles_1h.csv" if span == HOUR_MS else "candles_4h.csv")
        path = folder / name
        if path.exists():
            frame = pd.concat([read_table(path), frame]).drop_duplicates(
                "timestamp", keep="last").sort_values("timestamp")
        frame.to_csv(path, index=False)
        return frame if span == HOUR_MS else None

    c = None if candles_file is None else write_candles(candles_file)
    if funding_file is not None:
        merge_funding(folder, funding(funding_file, since, until, offset_hours))
    if spot_file is not None:
        write_candles(spot_file, spot=True)
    if oi_file is not None:
        if not oi_column:
            raise DataError("--oi-column is needed with --oi")
        if c is None:
            raise DataError("--oi needs 1 h --candles (daily OI is priced at the day's close)")
        daily_open_interest(oi_file, oi_column, c, since, until).to_csv(
            folder / "open_interest.csv", index=False)
    for f in folder.glob("*.csv"):
        read_table(f)  # what was written must load
    return folder


def merge_funding(folder: Path, new: pd.DataFrame) -> None:
    """Prints merged with the folder's funding.csv (the new one wins a print both have).
    When either side states each print's interval, both do: the other's from its spacing."""
    path = folder / "funding.csv"
    frames = [read_table(path), new] if path.exists() else [new]
    if any("interval_hours" in f for f in frames):
        frames = [f if "interval_hours" in f else f.assign(
            interval_hours=funding_interval_hours(f["timestamp"].to_numpy())) for f in frames]
    merged = pd.concat(frames).drop_duplicates("timestamp", keep="last")
    if len(merged):  # a file with no print in the window leaves no empty table behind
        merged.sort_values("timestamp").to_csv(path, index=False)


def _venue_table(path: Path, columns: tuple[str, ...]) -> tuple[np.ndarray, pd.DataFrame]:
    """A daily table's dates (ms, ascending: such files are not always in order) and the
    venue's columns; an error naming what the file has when one is missing."""
    df = read_frame(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r}; have "
                        f"{', '.join(map(str, df.columns))}")
    ts = _ms(df, path)
    order = np.argsort(ts, kind="stable")
    return ts[order], df[list(columns)].iloc[order].reset_index(drop=True)


def daily_funding(path: Path, column: str, since: int | None = None,
                  until: int | None = None) -> pd.DataFrame:
    """One venue's daily funding sample (percent per 8 h) as the 8 h print it is: the day's
    16:00 UTC settlement, a fraction, interval_hours 8. Days without a value are left out."""
    ts, df = _venue_table(path, (column,))
    rate = df[column].to_numpy(float) / 100.0
    ok = np.isfinite(rate)
    out = pd.DataFrame({"timestamp": ts[ok] + 16 * HOUR_MS, "rate": rate[ok],
                        "interval_hours": 8.0})
    return _window(out, since, until)


def daily_liquidations(path: Path, venue: str, since: int | None = None,
                       until: int | None = None) -> pd.DataFrame:
    """One venue's daily liquidations (`<venue>_long`, `<venue>_short`, USD), stamped at
    the day's end, when the total is known. Days missing either side are left out."""
    ts, df = _venue_table(path, (f"{venue}_long", f"{venue}_short"))
    lg, sh = (df[f"{venue}_{k}"].to_numpy(float) for k in ("long", "short"))
    ok = np.isfinite(lg) & np.isfinite(sh) & (lg >= 0) & (sh >= 0)
    out = pd.DataFrame({"timestamp": ts[ok] + DAY_MS, "long_usd": lg[ok],
                        "short_usd": sh[ok]})
    return _window(out, since, until)


def import_daily(out: Path, exchange: str, symbol: str, *, oi: Path | None = None,
                 funding_file: Path | None = None, liquidations: Path | None = None,
                 column: str, closes: pd.DataFrame | None = None, since: int | None = None,
                 until: int | None = None) -> Path:
    """A venue's column of Coinalyze-style daily tables into out/exchange/SYMBOL/: open
    interest (priced into contracts with `closes`, the 1 h candles of the same asset),
    funding (merged) and liquidations."""
    folder = out / exchange / symbol_dir(symbol)
    folder.mkdir(parents=True, exist_ok=True)
    if oi is not None:
        if closes is None:
            raise DataError("daily open interest needs 1 h candles of the asset to price it")
        daily_open_interest(oi, column, closes, since, until).to_csv(
            folder / "open_interest.csv", index=False)
    if funding_file is not None:
        merge_funding(folder, daily_funding(funding_file, column, since, until))
    if liquidations is not None:
        table = daily_liquidations(liquidations, column, since, until)
        if len(table):
            table.to_csv(folder / "liquidations.csv", index=False)
    for f in folder.glob("*.csv"):
        read_table(f)  # what was written must load
    return folder
