"""trades.html: an interactive chart a person can read a replay from — per symbol, the price
with every entry, exit, stop and target drawn, and the equity and its drawdown below.
Written offline: plotly.js is inside the file, no CDN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from state.models import Trade
from state.store import Store

HOUR_MS = 3_600_000


def _dates(ms) -> np.ndarray:
    """Times as plotly's date axes take them: ms since the epoch, a plain number array (not
    datetime objects, which plotly deep-copies one by one: seconds for a long replay)."""
    return np.asarray(ms, dtype=np.int64)


def _segments(trades: list[Trade], level) -> tuple[list, list]:
    """x, y of one horizontal segment a trade (from its entry to its exit), None between."""
    xs, ys = [], []
    for t in trades:
        y = level(t)
        if y is None or t.opened_at is None:
            continue
        xs += [t.opened_at, t.closed_at or t.opened_at, None]
        ys += [float(y), float(y), None]
    return xs, ys


def trades_figure(store: Store, closes: dict[str, pd.DataFrame]) -> go.Figure:
    """`closes`: per symbol, the replay's candles (timestamp = open time, close)."""
    symbols = list(closes)
    fig = make_subplots(rows=len(symbols) + 2, cols=1, shared_xaxes=True,
                        vertical_spacing=0.03, subplot_titles=[*symbols, "equity", "drawdown"])
    trades = [t for t in store.trades() if t.opened_at is not None]
    for row, sym in enumerate(symbols, start=1):
        df = closes[sym]
        fig.add_trace(go.Scattergl(x=_dates(df["timestamp"] + HOUR_MS), y=df["close"],
                                   name=f"{sym} close", line={"width": 1}), row=row, col=1)
        mine = [t for t in trades if t.symbol == sym]
        for side, symbol_, color in (("long", "triangle-up", "green"),
                                     ("short", "triangle-down", "red")):
            these = [t for t in mine if t.side == side]
            fig.add_trace(go.Scatter(
                x=_dates([t.opened_at for t in these]),
                y=[float(t.entry_price) for t in these], mode="markers",
                marker={"symbol": symbol_, "size": 10, "color": color},
                name=f"{sym} {side} entries",
                text=[f"#{t.id} {t.strategy} size {t.size}" for t in these]), row=row, col=1)
        done = [t for t in mine if t.closed_at is not None and t.exit_price is not None]
        fig.add_trace(go.Scatter(
            x=_dates([t.closed_at for t in done]), y=[float(t.exit_price) for t in done],
            mode="markers", marker={"symbol": "x", "size": 9, "color": "black"},
            name=f"{sym} exits", text=[f"#{t.id} {t.close_reason}" for t in done]),
            row=row, col=1)
        xs, ys = _segments(mine, lambda t: t.stop_price or t.plan_stop)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{sym} stops",
                                 line={"color": "red", "dash": "dot", "width": 1}), row=row, col=1)
        targets = {t.id: [px for px, _ in json.loads(t.targets_json)] for t in mine}
        for k in range(3):
            xs, ys = _segments(mine, lambda t, k=k, of=targets: (
                of[t.id][k] if len(of[t.id]) > k else None))
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"{sym} T{k + 1}",
                                     line={"color": "green", "dash": "dot", "width": 1}),
                          row=row, col=1)
    ts, eq = store.equity_points()
    peak = np.maximum.accumulate(eq) if len(eq) else eq
    fig.add_trace(go.Scattergl(x=ts, y=eq, name="equity"), row=len(symbols) + 1, col=1)
    fig.add_trace(go.Scattergl(x=ts, y=-(peak - eq) / np.where(peak > 0, peak, 1),
                               name="drawdown", fill="tozeroy"), row=len(symbols) + 2, col=1)
    fig.update_layout(height=320 * (len(symbols) + 2), title="derivbot replay: trades",
                      hovermode="x unified")
    fig.update_xaxes(type="date")
    return fig


def write_trades_html(store: Store, closes: dict[str, pd.DataFrame], path: Path) -> None:
    trades_figure(store, closes).write_html(path, include_plotlyjs=True, full_html=True)
