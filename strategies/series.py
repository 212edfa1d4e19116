"""Helpers over one view: changes over hours, the numbers several readers share, and
quantiles."""

from __future__ import annotations

import math

import numpy as np

from strategies import frame
from strategies.frame import Frame
from strategies.types import MarketView, Series
from strategies.venues import FRESH_HOURS, Crowd, crowd


def change(s: Series, now: int, hours: float) -> float:
    """Relative change of the series over the last `hours` (NaN without a start point)."""
    return float(frame.changes(s, np.array([len(s)]), np.array([now]), hours)[0])


class Numbers:
    """The numbers several readers share (confluence, the alert conditions, the dashboard)
    at row `row` of a frame — the view's one-row frame, or the whole history's where the
    modules were read over it: fresh funding and its OI weighting, the OI the modules read,
    and changes of OI and price over hours. Each is a column of the frame, made for every
    row the first time one row asks (kept in the frame's memo)."""

    __slots__ = ("frame", "row")

    def __init__(self, frame: Frame, row: int = 0) -> None:
        self.frame, self.row = frame, row

    @staticmethod
    def of(view: MarketView) -> Numbers:
        return Numbers(Frame.of(view))

    def _column(self, key, make) -> np.ndarray:
        memo = self.frame.memo
        if key not in memo:
            memo[key] = make()
        return memo[key]

    def crowd(self, max_age_hours: float = FRESH_HOURS) -> Crowd:
        return crowd(self.frame, max_age_hours)

    def weighted(self, max_age_hours: float = FRESH_HOURS) -> tuple[float, int]:
        """Σ rate_i × OI_i / Σ OI_i over exchanges with fresh funding; equal weights
        without OI. (rate, exchanges used); (NaN, 0) when nobody is fresh."""
        return self.crowd(max_age_hours).weighted(self.row)

    def fresh(self, max_age_hours: float = FRESH_HOURS) -> dict[str, float]:
        """Each exchange whose last print is recent enough to count, and that print."""
        return self.crowd(max_age_hours).fresh_rates(self.row)

    def oi(self) -> Series | None:
        """The open interest series the modules read: the venue's, or the first exchange's
        (None: no exchange has any yet)."""
        sources, which = self.frame.venue_oi()
        j = int(which[self.row])
        return None if j < 0 else sources[j][0]

    def oi_change(self, hours: float) -> float:
        """The relative change of that open interest over `hours` (NaN without)."""
        f = self.frame
        sources, pick = f.venue_oi()
        return float(self._column(("oi_change", hours), lambda: frame.per_source(
            sources, pick, lambda src: frame.changes(src[0], src[1], f.now, hours)))[self.row])

    def price_change(self, hours: int) -> float:
        return float(self._column(("price_change", hours),
                                  lambda: frame.price_changes(self.frame, hours))[self.row])


def price_change(view: MarketView, hours: int) -> float:
    return Numbers.of(view).price_change(hours)


def oi_weighted_funding(view: MarketView, max_age_hours: float = FRESH_HOURS
                        ) -> tuple[float, int]:
    """Numbers.weighted of the view."""
    return Numbers.of(view).weighted(max_age_hours)


def quantile(values: np.ndarray, q: float) -> float:
    """np.quantile(values, q) (linear interpolation, no NaNs), bit for bit, from a partial
    sort of the two neighbours only (a third of np.quantile's time on 2 000 values)."""
    n = len(values)
    if n == 0:
        return math.nan
    lo, hi = _neighbours(n, q)
    part = np.partition(values, (lo, hi)) if hi != lo else np.partition(values, lo)
    return _between(float(part[lo]), float(part[hi]), (n - 1) * q - lo)


def sorted_quantile(ordered: list[float], q: float) -> float:
    """quantile() of values already in ascending order (no NaNs), bit for bit."""
    n = len(ordered)
    if n == 0:
        return math.nan
    lo, hi = _neighbours(n, q)
    return _between(ordered[lo], ordered[hi], (n - 1) * q - lo)


def _neighbours(n: int, q: float) -> tuple[int, int]:
    """The order statistics numpy interpolates between for quantile q of n values."""
    lo = min(math.floor((n - 1) * q), n - 1)
    return lo, min(lo + 1, n - 1)


def _between(a: float, b: float, t: float) -> float:
    """numpy's linear interpolation from a towards b by t, in its own two forms."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t
