"""Correlated risk buckets: symbols listed together or whose returns move together."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np


def correlated_groups(returns: Mapping[str, np.ndarray], threshold: float = 0.7
                      ) -> list[frozenset[str]]:
    """Symbols joined (transitively) where their return correlation exceeds the threshold.

    Series are aligned on their common tail; a series shorter than 2 points joins nobody.
    """
    symbols = sorted(returns)
    parent = {s: s for s in symbols}

    def find(s: str) -> str:
        while parent[s] != s:
            s = parent[s]
        return s

    lengths = {len(returns[s]) for s in symbols}
    if len(symbols) > 2 and len(lengths) == 1 and min(lengths) >= 2:
        # one correlation matrix instead of a call per pair (50 symbols: 1 225 pairs)
        m = np.vstack([returns[s] for s in symbols])
        moving = m.std(axis=1) != 0
        with np.errstate(invalid="ignore", divide="ignore"):
            close = np.triu(np.corrcoef(m) > threshold, 1) & moving[:, None] & moving[None, :]
        for i, j in np.argwhere(close).tolist():
            parent[find(symbols[j])] = find(symbols[i])
    else:
        for i, a in enumerate(symbols):
            for b in symbols[i + 1:]:
                n = min(len(returns[a]), len(returns[b]))
                if n < 2:
                    continue
                if pearson(returns[a][-n:], returns[b][-n:]) > threshold:
                    parent[find(b)] = find(a)
    groups: dict[str, set[str]] = {}
    for s in symbols:
        groups.setdefault(find(s), set()).add(s)
    return [frozenset(g) for g in groups.values()]


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """np.corrcoef(x, y)[0, 1] to the bit (its own steps: deviations from the means, one
    dot product, scaled by the two deviations), without its argument handling — half its
    time; NaN when either series does not move."""
    m = np.vstack((x, y))
    m -= m.mean(axis=1)[:, None]
    c = np.dot(m, m.T)
    c *= np.true_divide(1, m.shape[1] - 1)
    if c[0, 0] == 0 or c[1, 1] == 0:
        return math.nan
    s = np.sqrt(np.diag(c))
    c /= s[:, None]
    c /= s[None, :]
    np.clip(c, -1, 1, out=c)
    return float(c[0, 1])


def bucket_of(symbol: str, configured: Iterable[Iterable[str]],
              correlated: Iterable[frozenset[str]] = ()) -> frozenset[str]:
    """Every symbol sharing a risk budget with `symbol` (itself included)."""
    members = {symbol}
    for group in [*map(set, configured), *correlated]:
        if symbol in group:
            members |= set(group)
    return frozenset(members)
