"""`derivbot risk montecarlo` and `derivbot halt`: the risk tools a person runs by hand."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bot.operator.report import r_multiples
from risk.kelly import kelly_fraction
from risk.montecarlo import simulate
from state.store import Store

FRACTIONS = (0.005, 0.01, 0.015, 0.02, 0.03, 0.05)


class RiskToolError(ValueError):
    pass


def read_r_multiples(path: Path) -> list[float]:
    """One R-multiple per line (or comma-separated); names the line that is not a number."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RiskToolError(f"{path}: file not found") from None
    values = []
    for n, line in enumerate(text.splitlines(), 1):
        for cell in filter(None, (c.strip() for c in line.split(","))):
            try:
                value = float(cell)
            except ValueError:
                raise RiskToolError(f"{path}: line {n}: {cell!r} is not a number") from None
            if not np.isfinite(value):
                raise RiskToolError(f"{path}: line {n}: {cell!r} is not finite")
            values.append(value)
    if not values:
        raise RiskToolError(f"{path}: no R-multiples in the file")
    return values


def r_from_db(db: Path) -> list[float]:
    if not db.exists():
        raise RiskToolError(f"{db}: no database")
    store = Store(db)
    try:
        r = r_multiples(store.trades())
    finally:
        store.close()
    if not r:
        raise RiskToolError(f"{db}: no closed trades to resample")
    return r


def montecarlo(r: list[float], fraction: float | None, paths: int, seed: int,
               png: Path | None, as_json: bool) -> dict:
    kelly = kelly_fraction(r, 0.015)
    fractions = sorted(set(FRACTIONS) | {round(kelly.fraction, 6)}
                       | ({fraction} if fraction else set()))
    results = [simulate(r, f, paths=paths, seed=seed) for f in fractions]
    out = {
        "trades": len(r), "paths": paths, "seed": seed,
        "win_rate": kelly.win_rate, "payoff": kelly.payoff, "half_kelly_raw": kelly.half_kelly,
        "half_kelly_fraction": kelly.fraction,
        "rows": [m.summary() | {"half_kelly": f == round(kelly.fraction, 6)}
                 for f, m in zip(fractions, results)],
    }
    if png is not None:
        chosen = next((m for m in results if m.fraction == (fraction or round(kelly.fraction,
                                                                               6))), results[0])
        _histogram(chosen, png)
        out["png"] = str(png)
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        _table(out)
    return out


def _table(out: dict) -> None:
    con = Console()
    raw = out["half_kelly_raw"]
    con.print(f"{out['trades']} trades, win rate {out['win_rate']:.1%}, payoff "
              f"{(out['payoff'] or 0):.2f} R; half-Kelly raw "
              f"{'n/a' if raw is None else f'{raw:.2%}'} -> {out['half_kelly_fraction']:.2%} "
              f"in the band; {out['paths']} paths, seed {out['seed']}")
    t = Table(title="Monte Carlo by risk fraction", caption="* half-Kelly from the record")
    for col in ("fraction", "max DD p50", "max DD p95", "return p5", "return p50",
                "return p95", "risk of ruin"):
        t.add_column(col, justify="right")
    for row in out["rows"]:
        mark = " *" if row["half_kelly"] else ""
        t.add_row(f"{row['fraction']:.2%}{mark}", f"{row['max_drawdown_p50']:.1%}",
                  f"{row['max_drawdown_p95']:.1%}", f"{row['final_return_p5']:.1%}",
                  f"{row['final_return_p50']:.1%}", f"{row['final_return_p95']:.1%}",
                  f"{row['risk_of_ruin']:.2%}")
    con.print(t)
    if "png" in out:
        con.print(f"histogram: {out['png']}")


def _histogram(m, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    axes[0].hist(m.max_drawdown * 100, bins=60, color="#d1242f")
    axes[0].set_title(f"max drawdown % at f = {m.fraction:.2%}")
    axes[1].hist(m.final_return * 100, bins=60, color="#1f6feb")
    axes[1].set_title("final return %")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)


def halt_command(db: Path, lift: bool, by: str) -> str:
    from bot.execution.riskdesk import HALT_KEY, RiskDesk
    from bot.operator.metrics import Metrics
    from risk.limits import RiskLimits

    if not db.exists():
        raise RiskToolError(f"{db}: no database yet (has the bot run?)")
    store = Store(db)
    try:
        if not lift:
            halt = store.get_meta(HALT_KEY)
            return ("no halt: new entries allowed" if halt is None else
                    f"halted since {halt['since']}: {halt['reason']} (lifts: {halt['release']})")
        desk = RiskDesk(RiskLimits(), store, Metrics())
        if desk.lift(int(time.time() * 1000), by):
            return f"halt lifted by {by}"
        return "no halt to lift"
    finally:
        store.close()
