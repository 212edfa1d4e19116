"""Monte Carlo of a trade record: resample R-multiples into equity paths at a risk fraction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class MonteCarlo:
    fraction: float
    max_drawdown: np.ndarray  # per path, 0..1
    final_return: np.ndarray  # per path
    ruin: float  # share of paths whose drawdown reached the ruin level

    def summary(self) -> dict:
        dd, ret = self.max_drawdown, self.final_return
        return {
            "fraction": self.fraction,
            "max_drawdown_p50": float(np.percentile(dd, 50)),
            "max_drawdown_p95": float(np.percentile(dd, 95)),
            "final_return_p5": float(np.percentile(ret, 5)),
            "final_return_p50": float(np.percentile(ret, 50)),
            "final_return_p95": float(np.percentile(ret, 95)),
            "risk_of_ruin": self.ruin,
        }


def simulate(r_multiples: Sequence[float], fraction: float, paths: int = 10_000,
             trades: int | None = None, seed: int = 7, ruin_drawdown: float = 0.5) -> MonteCarlo:
    """Each path draws `trades` R-multiples with replacement; equity compounds by 1 + f·R."""
    r = np.asarray(r_multiples, dtype=float)
    if r.size == 0:
        raise ValueError("no R-multiples to resample")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be within (0, 1), got {fraction}")
    n = trades or r.size
    rng = np.random.default_rng(seed)
    draws = r[rng.integers(0, r.size, size=(paths, n))]
    growth = np.maximum(1 + fraction * draws, 0.0)
    equity = np.cumprod(growth, axis=1)
    equity = np.concatenate([np.ones((paths, 1)), equity], axis=1)
    peak = np.maximum.accumulate(equity, axis=1)
    dd = ((peak - equity) / peak).max(axis=1)
    return MonteCarlo(fraction, dd, equity[:, -1] - 1, float((dd >= ruin_drawdown).mean()))
