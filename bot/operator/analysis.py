"""The replay report's deeper figures: returns a year, downside-only Sharpe, return over the
worst drawdown and when that drawdown began, bottomed and recovered; expectancy, the best
and worst trade, the longest losing streak; and the same trade figures per pair, per exit
reason and per month."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from state.models import Trade
from strategies.types import DAY_MS

YEAR_DAYS = 365.0


def iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def net(t: Trade) -> Decimal:
    """A trade's PnL after fees and funding."""
    return t.realised - t.fees + t.funding


def _net(t: Trade) -> float:
    return float(net(t))


def daily(ts: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the index of each UTC day's last row, the equity before the first day followed by
    each day's last): the series every daily figure is read from."""
    days = ts // DAY_MS
    last = np.flatnonzero(np.diff(days, append=days[-1] + 1) != 0)
    return last, np.concatenate([equity[:1], equity[last]])


def curve_details(ts: np.ndarray, equity: np.ndarray) -> dict:
    """CAGR, Sortino (daily, 365 a year), Calmar (CAGR / max drawdown), the worst drawdown's
    peak, trough and recovery (None while under water), and the best and worst day."""
    out = {"cagr": 0.0, "sortino": 0.0, "calmar": None, "drawdown_start": None,
           "drawdown_trough": None, "drawdown_recovered": None, "best_day": None,
           "worst_day": None}
    if len(equity) < 2:
        return out
    years = max((ts[-1] - ts[0]) / DAY_MS / YEAR_DAYS, 1 / YEAR_DAYS)
    growth = equity[-1] / equity[0]
    out["cagr"] = round(float(growth ** (1 / years) - 1), 6) if growth > 0 else -1.0
    peak = np.maximum.accumulate(equity)
    dd = (peak - equity) / peak
    trough = int(dd.argmax())
    if dd[trough] > 0:
        start = int(np.flatnonzero(equity[:trough + 1] == peak[trough])[-1])
        back = np.flatnonzero(equity[trough:] >= peak[trough])
        out["drawdown_start"], out["drawdown_trough"] = iso(ts[start]), iso(ts[trough])
        out["drawdown_recovered"] = iso(ts[trough + back[0]]) if len(back) else None
        out["calmar"] = round(out["cagr"] / float(dd[trough]), 4)
    last, closes = daily(ts, equity)
    rets = np.diff(closes) / closes[:-1]
    down = rets[rets < 0]
    downside = math.sqrt(float((down ** 2).sum()) / len(rets)) if len(rets) else 0.0
    if downside > 0:
        out["sortino"] = round(float(rets.mean()) / downside * math.sqrt(YEAR_DAYS), 4)
    if len(rets):
        best, worst = int(rets.argmax()), int(rets.argmin())
        out["best_day"] = {"day": iso(int(ts[last[best]]))[:10],
                           "return": round(float(rets[best]), 6)}
        out["worst_day"] = {"day": iso(int(ts[last[worst]]))[:10],
                            "return": round(float(rets[worst]), 6)}
    return out


def trade_details(trades: list[Trade]) -> dict:
    """Expectancy in R, the best and worst trade, the longest run of losing trades."""
    done = sorted(trades, key=lambda t: t.closed_at or 0)
    rs = [_net(t) / t.risk_cash for t in done if t.risk_cash > 0]
    streak = longest = 0
    for t in done:
        streak = streak + 1 if _net(t) <= 0 else 0
        longest = max(longest, streak)
    best = max(done, key=_net, default=None)
    worst = min(done, key=_net, default=None)
    return {"expectancy_r": round(float(np.mean(rs)), 4) if rs else 0.0,
            "best_trade": None if best is None else {"id": best.id, "net": round(_net(best), 2)},
            "worst_trade": None if worst is None else {"id": worst.id,
                                                       "net": round(_net(worst), 2)},
            "longest_losing_streak": longest}


def by(trades: Iterable[Trade], key: Callable[[Trade], str]) -> dict[str, dict]:
    """Trades, win rate, profit factor, net PnL and its price, fees and funding parts, per
    value of `key`."""
    groups: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        groups[key(t)].append(t)
    out = {}
    for name in sorted(groups):
        ts = groups[name]
        nets = [_net(t) for t in ts]
        won, lost = sum(x for x in nets if x > 0), -sum(x for x in nets if x <= 0)
        out[name] = {"trades": len(ts), "win_rate": round(sum(x > 0 for x in nets) / len(ts), 4),
                     "profit_factor": round(won / lost, 4) if lost > 0 else None,
                     "net_pnl": round(sum(nets), 2),
                     "price": str(sum((t.realised for t in ts), Decimal(0))),
                     "fees": str(sum((t.fees for t in ts), Decimal(0))),
                     "funding": str(sum((t.funding for t in ts), Decimal(0)))}
    return out


def month(t: Trade) -> str:
    return (iso(t.closed_at) or "")[:7]


def buy_and_hold(first_last: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Each pair's return from the first to the last close of the replay's span."""
    return {sym: round(last / first - 1, 6) for sym, (first, last) in first_last.items()
            if first > 0}
