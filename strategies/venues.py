"""Funding across exchanges, for every row of a frame: which exchanges' last prints are
fresh, their rates, the open interest that weights them, the OI-weighted rate, and the
venue's recent prints each replaced by the OI-weighted rate of all exchanges then."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from strategies.frame import Frame, at
from strategies.types import HOUR_MS, Series

FRESH_HOURS = 16.0  # a last funding print older than this is stale (the modules' default)


@dataclass(frozen=True, slots=True)
class Crowd:
    """Per row (axis 0) and exchange (axis 1, in the frame's order): the last rate known,
    whether it is fresh, and the exchange's last open interest (NaN without)."""

    exchanges: tuple[str, ...]
    rate: np.ndarray
    fresh: np.ndarray
    oi: np.ndarray

    def fresh_rates(self, i: int) -> dict[str, float]:
        """Row i's fresh exchanges and their last rates, in the frame's order."""
        return {ex: float(self.rate[i, j]) for j, ex in enumerate(self.exchanges)
                if self.fresh[i, j]}

    def weighted(self, i: int) -> tuple[float, int]:
        """Σ rate_i × OI_i / Σ OI_i over row i's fresh exchanges; equal weights when one of
        them has no OI. (NaN, 0) when nobody is fresh."""
        use = self.fresh[i]
        rates = self.rate[i][use]
        if len(rates) == 0:
            return math.nan, 0
        w = self.oi[i][use]
        if len(rates) == 1:
            w1 = float(w[0]) if w[0] > 0 else 1.0  # NaN compares False: equal weights
            return float(rates[0]) * w1 / w1, 1
        if np.isnan(w).any() or w.sum() <= 0:
            w = np.ones(len(rates))
        return float(np.dot(rates, w) / w.sum()), len(rates)


def crowd(f: Frame, max_age_hours: float = FRESH_HOURS) -> Crowd:
    """The frame's crowd (made once per frame and age: several modules read it)."""
    key = ("crowd", max_age_hours)
    if key not in f.memo:
        f.memo[key] = _crowd(f, max_age_hours)
    return f.memo[key]


def _crowd(f: Frame, max_age_hours: float) -> Crowd:
    exchanges = tuple(f.funding)
    rows, n = len(f), len(exchanges)
    rate, fresh, oi = np.full((rows, n), np.nan), np.zeros((rows, n), bool), np.full(
        (rows, n), np.nan)
    if rows == 1:  # a view's row: each exchange's last values, by plain indexing
        return _crowd_of_one(f, max_age_hours, Crowd(exchanges, rate, fresh, oi))
    for j, ex in enumerate(exchanges):
        s, k = f.funding[ex], f.funding_known(ex)
        rate[:, j] = at(s.value, k)
        fresh[:, j] = (k > 0) & (f.now - at(s.ts, k, fill=0) <= max_age_hours * HOUR_MS)
        o = f.open_interest.get(ex)
        if o is not None:
            oi[:, j] = at(o.value, f.oi_known(ex))
    return Crowd(exchanges, rate, fresh, oi)


def _crowd_of_one(f: Frame, max_age_hours: float, c: Crowd) -> Crowd:
    now = int(f.now[0])
    for j, ex in enumerate(c.exchanges):
        s, k = f.funding[ex], int(f.funding_known(ex)[0])
        if k > 0:
            c.rate[0, j] = s.value[k - 1]
            c.fresh[0, j] = now - int(s.ts[k - 1]) <= max_age_hours * HOUR_MS
        o = f.open_interest.get(ex)
        if o is not None and (ko := int(f.oi_known(ex)[0])) > 0:
            c.oi[0, j] = o.value[ko - 1]
    return c


def aggregate(f: Frame, last: int, max_age_hours: float = FRESH_HOURS
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the venue's last `last` funding prints (columns, oldest first), each the
    OI-weighted rate of all exchanges at that print's time (an exchange without a fresh
    print then is left out); and how many of the `last` each row has (0 without the venue)."""
    base = f.funding.get(f.venue)
    rows = len(f)
    if base is None or len(base) == 0:
        return np.full((rows, last), np.nan), np.zeros(rows, np.int64)
    if rows == 1:
        return _aggregate_one(f, base, last, max_age_hours)
    k = f.funding_known(f.venue)
    have = np.minimum(k, last)
    idx = k[:, None] - last + np.arange(last)  # the prints, oldest first
    valid = idx >= 0
    idx = np.where(valid, idx, 0)
    ts, own = base.ts[idx], base.value[idx]
    if len(f.funding) == 1:
        return np.where(valid, own, np.nan), have
    present = sum((f.funding_known(ex) > 0).astype(np.int64) for ex in f.funding)
    num, den = np.zeros(ts.shape), np.zeros(ts.shape)
    for ex, s in f.funding.items():
        if len(s) == 0:
            continue
        known = f.funding_known(ex)[:, None]
        i = np.minimum(np.searchsorted(s.ts, ts, side="right"), known) - 1
        ok = (i >= 0) & (ts - s.ts[np.maximum(i, 0)] <= max_age_hours * HOUR_MS)
        w = np.ones(ts.shape)
        o = f.open_interest.get(ex)
        if o is not None and len(o):
            j = np.minimum(np.searchsorted(o.ts, ts, side="right"),
                           f.oi_known(ex)[:, None]) - 1
            w = np.where(j >= 0, o.value[np.maximum(j, 0)], 1.0)
            w = np.where(np.isfinite(w) & (w > 0), w, 1.0)
        num += np.where(ok, s.value[np.maximum(i, 0)] * w, 0.0)
        den += np.where(ok, w, 0.0)
    out = np.where(den > 0, num / np.where(den > 0, den, 1.0), own)
    out = np.where(present[:, None] == 1, own, out)  # the venue alone: its own prints
    return np.where(valid, out, np.nan), have


def _aggregate_one(f: Frame, base: Series, last: int, max_age_hours: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """aggregate() of a view's row: the same sums, print by print."""
    k = int(f.funding_known(f.venue)[0])
    have = min(k, last)
    ts, rates = base.ts[k - have:k], base.value[k - have:k].tolist()
    if len(f.funding) > 1 and sum(int(f.funding_known(ex)[0]) > 0 for ex in f.funding) > 1:
        times, num, den = ts.tolist(), [0.0] * have, [0.0] * have
        for ex, s in f.funding.items():
            w = [1.0] * have
            o = f.open_interest.get(ex)
            if o is not None and len(o):
                known = int(f.oi_known(ex)[0])
                for n, j in enumerate(np.searchsorted(o.ts, ts, side="right").tolist()):
                    v = float(o.value[min(j, known) - 1]) if min(j, known) > 0 else 1.0
                    w[n] = v if math.isfinite(v) and v > 0 else 1.0
            known = int(f.funding_known(ex)[0])
            for n, i in enumerate(np.searchsorted(s.ts, ts, side="right").tolist()):
                i = min(i, known) - 1
                if i >= 0 and times[n] - int(s.ts[i]) <= max_age_hours * HOUR_MS:
                    num[n] += float(s.value[i]) * w[n]
                    den[n] += w[n]
        rates = [a / b if b > 0 else r for a, b, r in zip(num, den, rates, strict=True)]
    return np.array([[math.nan] * (last - have) + rates]), np.array([have])
