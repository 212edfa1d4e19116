"""Reference implementations of trading rules, written from the specification over whole
columns of history with pandas — apart from the bot's code — so that a replay of the bot
can be held to them trade for trade. A difference is a bug in one of the two."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd

HOUR = 3_600_000


def funding_z(funding: pd.DataFrame, window: int = 21, mult: int = 4) -> pd.Series:
    """z of the sum of the last `window` prints (per 8 h) against the last window·mult such
    sums (mean and population deviation), indexed by print time; NaN until it has them."""
    per_8h = funding["rate"] * 8.0 / funding.get("interval_hours", 8.0)
    sums = per_8h.rolling(window).sum()
    roll = sums.rolling(window * mult)
    z = (sums - roll.mean()) / roll.std(ddof=0)
    return pd.Series(z.to_numpy(), index=funding["timestamp"].to_numpy())


def atr_on(candles: pd.DataFrame, hours: int = 4, period: int = 14) -> pd.Series:
    """Wilder's ATR of `hours` bars built from 1 h candles (UTC-aligned), indexed by the
    time each such bar closes; the first `period` true ranges averaged, then smoothed."""
    span = hours * HOUR
    g = candles.groupby(candles["timestamp"] // span)
    bars = pd.DataFrame({"high": g["high"].max(), "low": g["low"].min(),
                         "close": g["close"].last()})
    prev = bars["close"].shift()
    tr = pd.concat([bars["high"] - bars["low"], (bars["high"] - prev).abs(),
                    (bars["low"] - prev).abs()], axis=1).max(axis=1)
    atr = np.full(len(tr), np.nan)
    if len(tr) >= period:
        atr[period - 1] = tr.iloc[:period].mean()
        for i in range(period, len(tr)):
            atr[i] = (atr[i - 1] * (period - 1) + tr.iloc[i]) / period
    return pd.Series(atr, index=(bars.index.to_numpy() + 1) * span)


def _on_tick(price: float, tick: Decimal) -> Decimal:
    """An order's price: on the market's tick."""
    return Decimal(str(price)).quantize(tick, rounding=ROUND_HALF_EVEN)


def _fill(price: float) -> Decimal:
    """A fill at a traded price, as the history printed it (no slippage)."""
    return Decimal(repr(float(price)))


def funding_reversion_trades(candles: pd.DataFrame, funding: pd.DataFrame, tick: Decimal,
                             threshold: float = 2.0, stop_atr: float = 3.0,
                             hold_hours: float = 77.0) -> list[tuple]:
    """Each trade as (entry time, side, entry price, stop, exit time, exit reason, exit
    price; fills at the printed prices, stops on the tick). Decided at each hourly close T: a position is first exited — at its stop if
    the bar reached it (at the open when it gapped through), else at the close once it was
    held `hold_hours`; then, flat, a z-score beyond ±threshold not already traded in its
    episode (the run of closes it stays beyond the band on that side) is entered at the
    close, its stop `stop_atr` ATR(4 h) away. A position still open at the end leaves at
    the last close."""
    z = funding_z(funding)
    atr = atr_on(candles)
    closes = candles["timestamp"].to_numpy() + HOUR
    z_at = z.reindex(closes, method="ffill").to_numpy()  # the last print at or before T
    atr_at = atr.reindex(closes, method="ffill").to_numpy()  # the last 4 h bar closed by T
    o, h, lo, c = (candles[k].to_numpy() for k in ("open", "high", "low", "close"))
    trades, pos, episode = [], None, 0
    for i, t in enumerate(closes):
        if pos is not None:
            side, entered, price, stop = pos
            gap = o[i] <= stop if side == "long" else o[i] >= stop
            hit = lo[i] <= stop if side == "long" else h[i] >= stop
            if gap or hit:
                trades.append((entered, side, price, stop, int(t), "stop",
                               _fill(o[i]) if gap else stop))
                pos = None
            elif t - entered >= hold_hours * HOUR:
                trades.append((entered, side, price, stop, int(t), "time exit", _fill(c[i])))
                pos = None
        way = 0 if not abs(z_at[i]) >= threshold else (-1 if z_at[i] > 0 else 1)
        if way != episode:
            episode = 0  # the episode traded is over once the bias leaves its way
        if pos is None and way != 0 and way != episode and np.isfinite(atr_at[i]):
            entry = float(c[i])
            stop = _on_tick(entry - way * stop_atr * float(atr_at[i]), tick)
            pos = ("long" if way > 0 else "short", int(t), _fill(entry), stop)
            episode = way
    if pos is not None:
        side, entered, price, stop = pos
        trades.append((entered, side, price, stop, int(closes[-1]), "end of replay",
                       _fill(c[-1])))
    return trades
