"""`derivbot signals`: every module's reading per symbol at one instant, as the playbook's table."""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.marketdata import layout as marketdata
from bot.marketdata.history import History
from bot.marketdata.layout import SPOT, DataError
from bot.markets import split_symbol
from strategies.flow import cvd
from strategies.playbook import SignalSet, read_all


def parse_time(text: str) -> int:
    """ms UTC from an ISO date/time or a number of ms."""
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise DataError(f"--at {text!r} is not an ISO date/time or ms timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def readings_at(folder: Path, venue: str, symbols: tuple[str, ...] | None, at: int | None,
                signals: SignalSet) -> tuple[int, dict]:
    data = marketdata.load(folder, symbols=symbols)
    history = History(venue)
    spot: dict[str, float] = {}
    last = None
    for e in data.events():
        if at is not None and e.seen > at:
            break
        history.ingest(e)
        if e.kind == SPOT and e.exchange == venue:
            spot[e.symbol] = e.close
        last = e.seen
    if last is None:
        raise DataError(f"{folder}: no data at or before the chosen time")
    now = at if at is not None else last
    out = {}
    for symbol in data.symbols:
        view = history.view(symbol, now)
        if len(view.candles) == 0:
            continue
        r = read_all(view, signals)
        base, quote, _ = split_symbol(symbol)
        out[symbol] = (view, r, spot.get(f"{base}/{quote}"))
    return now, out


def _fmt(x, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:+.4%}" if pct else f"{x:,.2f}"


def render(now: int, found: dict, console: Console | None = None) -> None:
    con = console or Console(width=max(shutil.get_terminal_size((180, 40)).columns, 180))
    when = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    dash = Table(title=f"positioning at {when}")
    for col in ("symbol", "price", "funding (OI-wtd)", "exchanges", "OI 24h", "long/short",
                "dense clusters", "liquidated 24h", "CVD", "basis", "put/call", "max pain",
                "regime"):
        dash.add_column(col, no_wrap=col == "liquidated 24h")
    for symbol, (view, r, spot) in found.items():
        price = float(view.candles.close[-1])
        numbers = r.numbers
        rate, n = numbers.weighted()
        oi24 = numbers.oi_change(24) if numbers.oi() is not None else None
        dense = [c for c in r.clusters if c.dense][:2]
        flow = cvd(view.candles)[-1] if view.candles.taker_buy is not None else None
        opts = r["options_positioning"].reasons
        printed = (r["liquidation_map"].reasons.get("reported") or {}).get("printed", [])
        dash.add_row(symbol, _fmt(price), _fmt(rate, True), str(n), _fmt(oi24, True),
                     _long_short(view),
                     ", ".join(f"{c.side} {c.price:,.0f}" for c in dense) or "none",
                     "\n".join(_printed(b) for b in printed[:2]) or "none",
                     _fmt(flow), _fmt(price / spot - 1 if spot else None, True),
                     _fmt(opts.get("put_call")), _fmt(opts.get("max_pain")), r.regime)
    con.print(dash)
    for symbol, (_view, r, _spot) in found.items():
        t = Table(title=f"{symbol}: every module")
        for col in ("module", "reading", "strength", "why"):
            t.add_column(col)
        for name, sig in r.signals.items():
            reading = "abstains" if sig.abstained else sig.direction.side
            why = sig.reasons.get("abstain") or ", ".join(
                f"{k}={_short(v)}" for k, v in list(sig.reasons.items())[:4])
            t.add_row(name, reading, f"{sig.strength:.2f}", why)
        con.print(t)


def _long_short(view) -> str:
    """Accounts long ÷ short: the venues' latest ratios averaged, and how many venues."""
    last = [float(x.value[-1]) for x in view.long_short.values() if len(x)]
    return f"{sum(last) / len(last):.2f} ({len(last)})" if last else "n/a"


def _printed(bucket: dict) -> str:
    """A bucket of liquidation prints: whose side mostly, its price and notional."""
    side = "long" if bucket["long_usd"] >= bucket["short_usd"] else "short"
    usd = bucket["long_usd"] + bucket["short_usd"]
    return f"{side} {bucket['price']:,.0f} ${usd / 1e6:,.2f}M"


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    text = str(v)
    return text if len(text) <= 40 else text[:37] + "..."
