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


def wilder(x: np.ndarray, n: int) -> np.ndarray:
    """Wilder's smoothing of x: the mean of its first n values, then y += (x − y) / n each
    value after; NaN before the first n."""
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        seeded = pd.Series(np.concatenate([[x[:n].mean()], x[n:]]))
        out[n - 1:] = seeded.ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()
    return out


def atr_adx_1h(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int = 14
               ) -> tuple[np.ndarray, np.ndarray]:
    """Wilder's ATR(n) and ADX(n) of each bar (true range and directional moves from the
    second bar on; ADX the smoothed DX once n of them are known)."""
    pc, ph, pl = c[:-1], h[:-1], lo[:-1]
    tr = np.maximum.reduce([h[1:] - lo[1:], np.abs(h[1:] - pc), np.abs(lo[1:] - pc)])
    up, down = h[1:] - ph, pl - lo[1:]
    pdm = np.where((up > down) & (up > 0), up, 0.0)
    ndm = np.where((down > up) & (down > 0), down, 0.0)
    atr, sp, sn = (np.concatenate([[np.nan], wilder(x, n)]) for x in (tr, pdm, ndm))
    with np.errstate(invalid="ignore", divide="ignore"):
        pdi, ndi = sp / atr, sn / atr
        dx = np.where(atr > 0, np.nan_to_num(100 * np.abs(pdi - ndi) / (pdi + ndi)), 0.0)
    adx = np.full(len(c), np.nan)
    adx[n:] = wilder(dx[n:], n)
    return atr, adx


def regimes(atr: np.ndarray, adx: np.ndarray, trending: float = 30.0, days: int = 90,
            q: float = 0.8) -> np.ndarray:
    """SPEC's regime of each bar without open interest (so never a vacuum): trending when
    ADX > 30, else volatile when ATR is above the 80th percentile of its last 90 days (at
    least 20 values known), else ranging; ranging while ADX is unknown."""
    cut = pd.Series(atr).rolling(days * 24, min_periods=20).quantile(q).to_numpy()
    out = np.where(adx > trending, "trending", np.where(atr > cut, "volatile", "ranging"))
    return np.where(np.isnan(adx), "ranging", out)


def _structure(d: pd.DataFrame, lookback: int = 24, reclaim: int = 3) -> dict:
    """The fade's triggers on each bar, each with its invalidation (NaN where it is not
    there): a swing failure (beyond the prior `lookback` bars' extreme, closing back
    inside — the high side read first), else a spring / upthrust (the last `reclaim` bars
    swept the range of the `lookback` bars before them and the bar closes back inside it,
    up for a spring, down for an upthrust — the spring read first)."""
    h, lo, c, o = d["high"], d["low"], d["close"], d["open"]
    hh, ll = h.shift().rolling(lookback).max(), lo.shift().rolling(lookback).min()
    sfp_short = (h > hh) & (c < hh)
    sfp_long = (lo < ll) & (c > ll) & ~sfp_short
    rh, rl = h.shift(reclaim).rolling(lookback).max(), lo.shift(reclaim).rolling(lookback).min()
    sweep_hi, sweep_lo = h.rolling(reclaim).max(), lo.rolling(reclaim).min()
    up = c > o
    spring_long = (sweep_lo < rl) & (c > rl) & up
    spring_short = (sweep_hi > rh) & (c < rh) & ~up & ~spring_long
    return {1: np.where(sfp_long, lo, np.where(spring_long, sweep_lo, np.nan)),
            -1: np.where(sfp_short, h, np.where(spring_short, sweep_hi, np.nan))}


def _poc(h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, bins: int = 50
         ) -> float:
    """The point of control: the middle of the bin (of `bins` from the lowest low to the
    highest high) holding the most volume, each bar's volume at its typical price."""
    if v.sum() <= 0:
        return np.nan
    if h.max() <= lo.min():
        return float(c[-1])
    counts, edges = np.histogram((h + lo + c) / 3, bins=bins, range=(lo.min(), h.max()),
                                 weights=v)
    i = int(counts.argmax())
    return float((edges[i] + edges[i + 1]) / 2)


def _fade_plan(d: pd.DataFrame, i: int, way: int, inv: float, atr: float, regime: str,
               tick: Decimal) -> tuple[Decimal, list[Decimal]]:
    """SPEC §3's stop and targets for an entry at bar i's close, on the tick: the stop at
    the structure plus 0.1 ATR within 1–2 ATR (1 ATR when volatile); T1 at 1R; T2 the
    nearest of VWAP(24), point of control (72) and the last 24 bars' opposite extreme
    beyond T1 by a quarter R (else 2R); T3 the next of them beyond T2 (else T2 + 1R)."""
    h, lo, c, v = (d[k].to_numpy()[max(0, i - 71):i + 1] for k in ("high", "low", "close",
                                                                 "volume"))
    entry = float(c[-1])
    dist = atr if regime == "volatile" else min(max(abs(entry - inv) + 0.1 * atr, atr),
                                                2 * atr)
    t1 = entry + way * dist
    tail = slice(-24, None)
    typical = (h[tail] + lo[tail] + c[tail]) / 3
    levels = {"vwap": float((typical * v[tail]).sum() / v[tail].sum()) if v[tail].sum() > 0
              else np.nan,
              "poc": _poc(h, lo, c, v),
              "opposite_extreme": float(h[tail].max() if way > 0 else lo[tail].min())}
    ahead = sorted(((px - entry) * way, name, px) for name, px in levels.items()
                   if np.isfinite(px) and (px - t1) * way > 0.25 * dist)
    t2 = ahead[0][2] if ahead else entry + 2 * way * dist
    beyond = [px for _, _, px in ahead if (px - t2) * way > 0.25 * dist]
    t3 = beyond[0] if beyond else t2 + way * dist
    return _on_tick(entry - way * dist, tick), [_on_tick(t, tick) for t in (t1, t2, t3)]


def bars_of(candles: pd.DataFrame, hours: int) -> pd.DataFrame:
    """`hours` bars built from 1 h candles (UTC-aligned; a bucket with a missing hour is the
    hours it has), stamped with their open time."""
    if hours == 1:
        return candles.reset_index(drop=True)
    g = candles.groupby(candles["timestamp"] // (hours * HOUR))
    return pd.DataFrame({"timestamp": g["timestamp"].first() // (hours * HOUR) * hours * HOUR,
                         "open": g["open"].first(), "high": g["high"].max(),
                         "low": g["low"].min(), "close": g["close"].last(),
                         "volume": g["volume"].sum()}).reset_index(drop=True)


def funding_fade_trades(candles: pd.DataFrame, funding: pd.DataFrame, tick: Decimal,
                        threshold: float = 2.0, hours: int = 1) -> list[tuple]:
    """Each trade of the funding fade on one venue's history as (entry time, side, entry
    price, stop, targets, exit time, exit reason). The bias is the funding z-score beyond
    ±threshold (one venue: the multi-exchange extreme cannot speak); an entry needs the
    trigger the same way, once per episode, flat, at the bar's close. Each bar walks open →
    the extreme against the position → the one for it → close: the stop fills on the first
    leg (at the open on a gap), targets on the second (40/30/30). At the close the stop
    moves to breakeven after T1 and to T1 after T2 — or, if the close is already through
    that level, the rest leaves at the close. With `hours` > 1 the signals, stop and targets
    read `hours` bars and an entry is made only at such a bar's close; exits still walk
    the hourly bars."""
    d = candles.reset_index(drop=True)
    closes = d["timestamp"].to_numpy() + HOUR
    z_at = funding_z(funding).reindex(closes, method="ffill").to_numpy()
    o, h, lo, c = (d[k].to_numpy() for k in ("open", "high", "low", "close"))
    frame = bars_of(d, hours)
    atr, adx = atr_adx_1h(*(frame[k].to_numpy() for k in ("high", "low", "close")))
    regime = regimes(atr, adx)
    triggers = _structure(frame)
    ends = frame["timestamp"].to_numpy() + hours * HOUR
    at = np.searchsorted(ends, closes)  # the frame's bar that closes with each hour, if any
    at = np.where((at < len(ends)) & (ends[np.minimum(at, len(ends) - 1)] == closes), at, -1)
    trades, pos, episode = [], None, 0
    for i, t in enumerate(closes):
        if pos is not None:
            way, entered, price, stop, targets, hit, moved = pos
            adverse = lo[i] if way > 0 else h[i]
            gap = (o[i] - float(moved)) * way <= 0
            done = None
            if gap or (adverse - float(moved)) * way <= 0:
                done = "stop"
            else:
                for k, tp in enumerate(targets):
                    if k >= hit and ((h[i] if way > 0 else lo[i]) - float(tp)) * way >= 0:
                        hit = k + 1
                if hit == 3:
                    done = "t3"
                else:
                    for k in range(pos[5], hit):  # the reactions, in order of the fills
                        level = price if k == 0 else targets[0]
                        if (c[i] - float(level)) * way <= 0:
                            done = "stop already crossed"
                            break
                        moved = level
            if done:
                trades.append((entered, "long" if way > 0 else "short", price, stop,
                               tuple(targets), int(t), done))
                pos = None
            else:
                pos = (way, entered, price, stop, targets, hit, moved)
        z = z_at[i]
        bias = 0 if not abs(z) >= threshold else (-1 if z > 0 else 1)
        if bias != episode:
            episode = 0
        j = at[i]
        if pos is None and bias != 0 and bias != episode and j >= 0 and np.isfinite(
                atr[j]) and np.isfinite(triggers[bias][j]):
            stop, targets = _fade_plan(frame, j, bias, float(triggers[bias][j]), float(atr[j]),
                                       str(regime[j]), tick)
            pos = (bias, int(t), _fill(c[i]), stop, targets, 0, stop)
            episode = bias
    if pos is not None:
        way, entered, price, stop, targets = pos[:5]
        trades.append((entered, "long" if way > 0 else "short", price, stop, tuple(targets),
                       int(closes[-1]), "end of replay"))
    return trades
