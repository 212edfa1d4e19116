"""What the market-data plane receives, appended to the canonical data layout as it arrives,
so a paper or live session becomes history `derivbot replay` reads.

Each row is appended with one write of whole lines; a row at or before a file's last
timestamp is a duplicate and skipped (a back-fill or a restart re-reads what is there); a
line cut short by a crash is cut off when the file is next opened, so the file stays
readable and the recording resumes where it stopped."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from bot.marketdata.layout import (
    CANDLE,
    CANDLE_4H,
    FUNDING,
    LIQUIDATION,
    LONG_SHORT,
    OI,
    SPOT,
    CandleEvent,
    Event,
    FundingEvent,
    LiquidationEvent,
    OIEvent,
    RatioEvent,
)
from bot.markets import symbol_dir

log = logging.getLogger("derivbot.recorder")
NAMES = {CANDLE: "candles_1h.csv", SPOT: "spot_candles_1h.csv", CANDLE_4H: "candles_4h.csv",
         FUNDING: "funding.csv", OI: "open_interest.csv", LIQUIDATION: "liquidations.csv",
         LONG_SHORT: "long_short.csv"}


def _columns(e: Event) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The file's columns for this event, and its values in them (an optional column only
    when the event has a value for it)."""
    if isinstance(e, CandleEvent):
        cols = ("timestamp", "open", "high", "low", "close", "volume")
        vals = (e.ts, e.open, e.high, e.low, e.close, e.volume)
        if math.isfinite(e.taker_buy):
            return cols + ("taker_buy_volume",), vals + (e.taker_buy,)
        return cols, vals
    if isinstance(e, FundingEvent):
        return ("timestamp", "rate", "interval_hours"), (e.ts, e.rate, e.interval_hours)
    if isinstance(e, OIEvent):
        if math.isfinite(e.value):
            return (("timestamp", "open_interest", "open_interest_value"),
                    (e.ts, e.open_interest, e.value))
        return ("timestamp", "open_interest"), (e.ts, e.open_interest)
    if isinstance(e, RatioEvent):
        return ("timestamp", "ratio"), (e.ts, e.ratio)
    assert isinstance(e, LiquidationEvent)
    if math.isfinite(e.price):
        return (("timestamp", "long_usd", "short_usd", "price"),
                (e.ts, e.long_usd, e.short_usd, e.price))
    return ("timestamp", "long_usd", "short_usd"), (e.ts, e.long_usd, e.short_usd)


def _text(x: float) -> str:
    v = float(x)
    return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


class _File:
    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.last = -1
        if path.exists() and path.stat().st_size:
            self._repair()
        else:  # created whole (header and all) and moved into place: never seen empty
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".new")
            tmp.write_text(",".join(columns) + "\n")
            os.replace(tmp, path)
        with path.open() as f:
            self.columns = tuple(f.readline().strip().split(","))

    def _repair(self) -> None:
        """Cut a last line a crash left unfinished; read the last timestamp."""
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1
        if end < len(raw):
            with self.path.open("r+b") as f:
                f.truncate(end)
            raw = raw[:end]
        lines = raw.decode().splitlines()
        if len(lines) > 1:
            self.last = int(float(lines[-1].split(",")[0]))

    def append(self, rows: list[dict[str, float]]) -> int:
        lines = []
        for row in rows:
            if row["timestamp"] <= self.last:
                continue
            if any(c not in row for c in self.columns):
                log.warning("row_dropped", extra={"file": str(self.path),
                                                  "ts": row["timestamp"]})
                continue
            lines.append(",".join(_text(row[c]) for c in self.columns) + "\n")
            self.last = row["timestamp"]
        if lines:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                os.write(fd, "".join(lines).encode())
            finally:
                os.close(fd)
        return len(lines)


class Recorder:
    """Appends events to `root`/<venue>/<SYMBOL>/<file>."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.files: dict[Path, _File] = {}
        self.written = 0

    def __call__(self, events: list[Event]) -> int:
        grouped: dict[Path, tuple[tuple[str, ...], list[dict]]] = {}
        for e in sorted(events, key=lambda e: e.ts):
            cols, vals = _columns(e)
            path = self.root / e.exchange / symbol_dir(e.symbol) / NAMES[e.kind]
            grouped.setdefault(path, (cols, []))[1].append(dict(zip(cols, vals, strict=True)))
        n = 0
        for path, (cols, rows) in grouped.items():
            f = self.files.get(path)
            if f is None:
                f = self.files[path] = _File(path, cols)
            n += f.append(rows)
        self.written += n
        return n
