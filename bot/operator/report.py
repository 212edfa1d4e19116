"""Replay statistics from the database: overall and per strategy; trades.csv and equity.png."""

from __future__ import annotations

import csv
import json
import math
from decimal import Decimal
from pathlib import Path

import numpy as np

from bot.operator.analysis import (
    buy_and_hold,
    by,
    curve_details,
    daily,
    iso,
    month,
    net,
    trade_details,
)
from state.models import Trade
from state.store import Store
from strategies.types import DAY_MS, HOUR_MS


def r_multiples(trades: list[Trade]) -> list[float]:
    """Closed trades' net PnL in units of the risk they were sized for."""
    return [float(net(t)) / t.risk_cash for t in trades
            if t.state == "closed" and t.risk_cash > 0]


def _iso(ms: int | None) -> str:
    return iso(ms) or ""


def sharpe(daily: np.ndarray) -> float:
    """Annualised Sharpe (365 days) of the returns between consecutive daily equities; the
    first entry is the equity before the first day, so the first day's move counts."""
    rets = np.diff(daily) / daily[:-1]
    sd = float(rets.std(ddof=1)) if len(rets) > 1 else 0.0
    return 0.0 if sd == 0 else round(float(rets.mean() / sd * math.sqrt(365)), 4)


def max_drawdown(equity: np.ndarray) -> float:
    if len(equity) < 2:
        return 0.0
    peak = np.maximum.accumulate(equity)
    return round(float(((peak - equity) / peak).max()), 6)


def curve_stats(ts: np.ndarray, equity: np.ndarray) -> dict:
    """Max drawdown and the Sharpe of daily returns, from the first row's equity (the start)
    to each day's last."""
    if len(equity) < 2:
        return {"max_drawdown": 0.0, "sharpe": 0.0}
    return {"max_drawdown": max_drawdown(equity), "sharpe": sharpe(daily(ts, equity)[1])}


def trade_stats(trades: list[Trade], start_equity: float,
                span: tuple[int, int] | None = None) -> dict:
    """Counts, win rate, profit factor, R, holds and net PnL of closed trades, and the curve
    of their net PnL booked at each close: its drawdown, and its Sharpe over every day of
    `span` (first and last ms of the replay; else the trades' own days), idle days too."""
    nets = np.array([float(net(t)) for t in trades])
    wins, losses = nets[nets > 0], nets[nets <= 0]
    gross_loss = float(-losses.sum())
    r = r_multiples(trades)
    holds = [(t.closed_at - t.opened_at) / HOUR_MS for t in trades
             if t.closed_at is not None and t.opened_at is not None]
    order = sorted(trades, key=lambda t: t.closed_at or 0)
    booked = np.array([float(net(t)) for t in order])
    path = np.concatenate([[start_equity], start_equity + np.cumsum(booked)])
    curve = {"max_drawdown": max_drawdown(path), "sharpe": 0.0}
    if order:
        closed_day = np.array([(t.closed_at or 0) // DAY_MS for t in order], dtype=np.int64)
        first, last = (span[0] // DAY_MS, span[1] // DAY_MS) if span else (
            int(closed_day[0]), int(closed_day[-1]))
        days = np.arange(min(first, closed_day[0]), max(last, closed_day[-1]) + 1)
        by_day = np.searchsorted(closed_day, days, side="right")  # trades closed by each day
        curve["sharpe"] = sharpe(np.concatenate([[start_equity], path[by_day]]))
    return {
        "trades": len(trades),
        "win_rate": round(len(wins) / len(trades), 4) if trades else 0.0,
        "profit_factor": (round(float(wins.sum()) / gross_loss, 4) if gross_loss > 0
                          else None if len(wins) else 0.0),
        "avg_r": round(float(np.mean(r)), 4) if r else 0.0,
        "avg_hold_hours": round(float(np.mean(holds)), 2) if holds else 0.0,
        "net_pnl": round(float(nets.sum()), 2) if len(nets) else 0.0,
        "price": str(sum((t.realised for t in trades), Decimal(0))),
        "fees": str(sum((t.fees for t in trades), Decimal(0))),
        "funding": str(sum((t.funding for t in trades), Decimal(0))),
        **curve,
    }


def build_report(store: Store, start_equity: float, strategies: tuple[str, ...] = (),
                 prices: dict[str, tuple[float, float]] | None = None) -> dict:
    """Overall statistics, and per strategy for every strategy that ran (traded or not), per
    pair, exit reason and month; `prices`: each pair's first and last close in the span, for
    its buy-and-hold return."""
    closed = [t for t in store.trades() if t.state == "closed"]
    ts, eq = store.equity_points()
    final = float(eq[-1]) if len(eq) else start_equity
    overall = trade_stats(closed, start_equity)
    overall.update(curve_stats(ts, eq))
    overall.update(curve_details(ts, eq))
    overall.update(trade_details(closed))
    decisions = store.decisions()
    per = {}
    span = (int(ts[0]), int(ts[-1])) if len(ts) else None
    for name in sorted(set(strategies) | {t.strategy for t in closed}):
        per[name] = trade_stats([t for t in closed if t.strategy == name], start_equity, span)
        mine = [d for d in decisions if d.strategy == name]
        per[name]["plans"] = len(mine)
        per[name]["refused"] = sum(1 for d in mine if not d.approved)
    return {
        **overall,
        "start_equity": start_equity,
        "final_equity": round(final, 2),
        "total_return": round(final / start_equity - 1, 6),
        "price_pnl": str(sum((t.realised for t in closed), Decimal(0))),
        "fees": str(sum((t.fees for t in closed), Decimal(0))),
        "funding_pnl": str(sum((t.funding for t in closed), Decimal(0))),
        "failed_entries": sum(1 for t in store.trades() if t.state == "failed"),
        "refusals": sum(1 for d in decisions if not d.approved),
        "per_strategy": per,
        "per_pair": by(closed, lambda t: t.symbol),
        "per_exit": by(closed, lambda t: t.close_reason or "unknown"),
        "per_month": by(closed, month),
        "buy_and_hold": buy_and_hold(prices or {}),
        "basis": basis_stats(store),
        "halts": halt_list(store, int(ts[-1]) if len(ts) else None),
    }


def halt_list(store: Store, end: int | None) -> list[dict]:
    """Every halt on new entries: when, why, how long, and who lifted it (still on at the
    end of the replay: lifted by nobody, counted to the end)."""
    out = []
    for h in store.halts():
        until = h.lifted_at if h.lifted_at is not None else end
        out.append({"since": _iso(h.since), "reason": h.reason, "release": h.release,
                    "lifted_at": _iso(h.lifted_at), "lifted_by": h.lifted_by or "",
                    "hours": round((until - h.since) / HOUR_MS, 1) if until else None})
    return out


def basis_stats(store: Store) -> dict:
    """Delta-neutral pairs: how many, and their PnL split into funding, price and fees."""
    pairs = store.basis_trades()
    done = [b for b in pairs if b.state == "closed"]
    total = Decimal(0)
    return {
        "pairs": len(pairs), "closed": len(done),
        "failed": sum(1 for b in pairs if b.state == "failed"),
        "funding": str(sum((b.funding for b in pairs), total)),
        "price_pnl": str(sum((b.spot_realised + b.perp_realised for b in pairs), total)),
        "fees": str(sum((b.fees for b in pairs), total)),
        "pnl": str(sum((b.pnl for b in pairs), total)),
    }


CENT = Decimal("0.01")


def _at_tick(value, tick: Decimal) -> str:
    """A price as the market quotes it: on its tick, no float noise."""
    if value is None or value == "":
        return ""
    return str(Decimal(repr(value) if isinstance(value, float) else value).quantize(tick))


def write_trades_csv(store: Store, path: Path, ticks: dict[str, Decimal] | None = None) -> None:
    """Every trade a row: prices on the market's tick (`ticks` by symbol; cents without),
    money in cents, targets in their own columns — no JSON in a cell."""
    cols = ["id", "strategy", "symbol", "side", "state", "size", "filled", "entry_price",
            "plan_stop", "t1", "t2", "t3", "exit_price", "opened_at", "closed_at", "realised",
            "fees", "funding", "net", "r_multiple", "close_reason"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for t in store.trades():
            tick = (ticks or {}).get(t.symbol, CENT)
            targets = [px for px, _ in json.loads(t.targets_json)][:3]
            targets += [""] * (3 - len(targets))
            r = round(float(net(t)) / t.risk_cash, 3) if t.risk_cash else ""
            w.writerow([t.id, t.strategy, t.symbol, t.side, t.state, t.size, t.filled,
                        _at_tick(t.entry_price, tick), _at_tick(t.plan_stop, tick),
                        *(_at_tick(px, tick) for px in targets), _at_tick(t.exit_price, tick),
                        _iso(t.opened_at), _iso(t.closed_at),
                        *(Decimal(v).quantize(CENT) for v in (t.realised, t.fees, t.funding,
                                                             net(t))),
                        r, t.close_reason])


def plot_equity(store: Store, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts, eq = store.equity_points()
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    if len(ts):
        ax.plot(ts.astype("datetime64[ms]"), eq, lw=1.0, color="#1f6feb")
    ax.set_title("derivbot replay: equity")
    ax.set_ylabel("equity (quote)")
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
