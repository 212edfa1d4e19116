"""A seeded synthetic derivatives market written in the canonical layout.

Regimes (ranging, trending, volatile) switch as a Markov chain. Positioning builds
with momentum; crowded positioning lifts funding and open interest on every
exchange, and the more crowded it gets the likelier a squeeze that unwinds it:
a sharp move against the crowd, OI flushed, a volume spike.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bot.markets import default_market, symbol_dir
from strategies.types import HOUR_MS

EXCHANGES = ("binanceusdm", "bybit", "okx")
START_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
BASE_PRICE = {"BTC": 60_000.0, "ETH": 3_000.0, "SOL": 150.0}
REGIMES = ("ranging", "trending_up", "trending_down", "volatile")
DRIFT = {"ranging": 0.0, "trending_up": 0.0009, "trending_down": -0.0009, "volatile": 0.0}
VOL = {"ranging": 0.0045, "trending_up": 0.006, "trending_down": 0.0065, "volatile": 0.013}


@dataclass(frozen=True)
class SynthSpec:
    symbols: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    exchanges: tuple[str, ...] = EXCHANGES
    days: int = 365
    seed: int = 7
    start_ms: int = START_MS


def _regimes(rng: np.random.Generator, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.int64)
    state, left = 0, 0
    for i in range(n):
        if left == 0:
            state = int(rng.choice(4, p=(0.4, 0.22, 0.22, 0.16)))
            left = int(rng.integers(72, 240))
        out[i] = state
        left -= 1
    return out


def _market_path(rng: np.random.Generator, n: int, common: np.ndarray) -> dict[str, np.ndarray]:
    """Hourly log returns, crowding and squeeze flags for one symbol."""
    regimes = _regimes(rng, n)
    drift = np.array([DRIFT[REGIMES[r]] for r in regimes])
    vol = np.array([VOL[REGIMES[r]] for r in regimes])
    own = rng.standard_normal(n)
    shock = 0.75 * common + 0.66 * own
    ret = np.empty(n)
    crowd = np.empty(n)
    squeeze = np.zeros(n)
    x, unwind, unwind_dir = 0.0, 0, 0.0
    for i in range(n):
        r = drift[i] + vol[i] * shock[i]
        if unwind > 0:  # squeeze in progress: price runs against the crowd
            r = unwind_dir * vol[i] * (1.4 + 0.6 * abs(shock[i]))
            x *= 0.8
            unwind -= 1
            squeeze[i] = 1.0
        else:
            hazard = 0.0025 * max(abs(x) - 1.0, 0.0) ** 2
            if rng.random() < hazard:
                unwind, unwind_dir = int(rng.integers(3, 9)), -np.sign(x)
        x = 0.985 * x + 45.0 * r + 0.05 * rng.standard_normal()
        ret[i], crowd[i] = r, x
    return {"ret": ret, "crowd": crowd, "squeeze": squeeze, "vol": vol}


def _candles(rng: np.random.Generator, ts: np.ndarray, close: np.ndarray, vol: np.ndarray,
             ret: np.ndarray, squeeze: np.ndarray, tick: float, base_volume: float
             ) -> pd.DataFrame:
    open_ = np.concatenate([[close[0] / np.exp(ret[0])], close[:-1]])
    wick = np.abs(rng.standard_normal((2, len(ts)))) * vol * 0.6
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    activity = 1.0 + 2.0 * np.abs(ret) / vol + 4.0 * squeeze
    volume = base_volume * activity * rng.lognormal(0.0, 0.35, len(ts))
    buy_share = 1.0 / (1.0 + np.exp(-(ret / vol) * 1.2 - 0.3 * rng.standard_normal(len(ts))))

    def snap(x: np.ndarray) -> np.ndarray:
        return np.round(np.round(x / tick) * tick, 8)

    o, c = snap(open_), snap(close)
    return pd.DataFrame({
        "timestamp": ts, "open": o, "high": np.maximum(snap(high), np.maximum(o, c)),
        "low": np.minimum(snap(low), np.minimum(o, c)), "close": c,
        "volume": np.round(volume, 3), "taker_buy_volume": np.round(volume * buy_share, 3),
    })


def generate(spec: SynthSpec, out: str | Path) -> Path:
    """Write the market for every exchange and symbol; returns the folder."""
    out = Path(out)
    rng = np.random.default_rng(spec.seed)
    n = spec.days * 24
    ts = spec.start_ms + np.arange(n, dtype=np.int64) * HOUR_MS
    common = rng.standard_normal(n)
    for symbol in spec.symbols:
        base = symbol.split("/")[0]
        p0 = BASE_PRICE.get(base, float(rng.uniform(1, 500)))
        path = _market_path(rng, n, common)
        mid = p0 * np.exp(np.cumsum(path["ret"]))
        tick = float(default_market(symbol, p0).price_tick)
        crowd = path["crowd"]
        for k, ex in enumerate(spec.exchanges):
            ex_rng = np.random.default_rng((spec.seed, k, zlib.crc32(base.encode())))
            folder = out / ex / symbol_dir(symbol)
            folder.mkdir(parents=True, exist_ok=True)
            basis_noise = 1 + 0.0002 * ex_rng.standard_normal(n)
            close = mid * basis_noise
            candles = _candles(ex_rng, ts, close, path["vol"], path["ret"], path["squeeze"],
                               tick, base_volume=5e6 / p0 * (1.0 - 0.25 * k))
            candles.to_csv(folder / "candles_1h.csv", index=False)
            _funding(ex_rng, ts, crowd, k).to_csv(folder / "funding.csv", index=False)
            _open_interest(ex_rng, ts, close, crowd, path["squeeze"], p0, k).to_csv(
                folder / "open_interest.csv", index=False)
            premium = 1 - np.clip(crowd, -4, 4) * 0.0004
            spot = _candles(ex_rng, ts, close * premium, path["vol"], path["ret"],
                            path["squeeze"], tick, base_volume=3e6 / p0)
            spot.to_csv(folder / "spot_candles_1h.csv", index=False)
    return out


def _funding(rng: np.random.Generator, ts: np.ndarray, crowd: np.ndarray, k: int
             ) -> pd.DataFrame:
    """8-hourly funding: premium from crowding plus the clamped interest term (SPEC §6)."""
    idx = np.flatnonzero((ts % (8 * HOUR_MS)) == 0)
    idx = idx[idx >= 8]
    window = np.array([crowd[i - 8:i].mean() for i in idx])
    premium = 0.00032 * window + 0.00004 * rng.standard_normal(len(idx)) + 0.00002 * (k - 1)
    rate = premium + np.clip(0.0001 - premium, -0.0005, 0.0005)
    return pd.DataFrame({"timestamp": ts[idx], "rate": np.round(np.clip(rate, -0.003, 0.003), 8)})


def _open_interest(rng: np.random.Generator, ts: np.ndarray, close: np.ndarray,
                   crowd: np.ndarray, squeeze: np.ndarray, p0: float, k: int) -> pd.DataFrame:
    growth = 0.0015 * np.abs(crowd) + 0.002 * rng.standard_normal(len(ts)) - 0.03 * squeeze
    level = np.empty(len(ts))
    x = 0.0
    for i, g in enumerate(growth):  # log OI mean-reverts, so a year holds no runaway drift
        x = 0.996 * x + g
        level[i] = x
    oi = (2e9 / p0) * (1.0 - 0.3 * k) * np.exp(level - level.mean())
    return pd.DataFrame({"timestamp": ts, "open_interest": np.round(oi, 3),
                         "open_interest_value": np.round(oi * close, 2)})
