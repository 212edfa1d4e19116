"""A study's report: each fold's search span and its out-of-sample test, as a table in the
terminal, study.json, folds.png and folds.html; the holdout, once, beside them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import plotly.graph_objects as go
from rich.console import Console
from rich.table import Table

from bot.app.study import FoldResult


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _num(x, pct: bool = False) -> str:
    if x is None:
        return "no loss"  # a profit factor without a losing trade
    return f"{float(x):.1%}" if pct else f"{float(x):.2f}"


def rows(results: list[FoldResult]) -> list[dict]:
    return [{"fold": r.fold.k, "fit": [day(r.fold.fit[0]), day(r.fold.fit[1])],
             "test": [day(r.fold.test[0]), day(r.fold.test[1])], "params": r.best_params,
             "fit_score": r.fit_score, "test_score": r.test_score, "fit_report": r.fit,
             "test_report": r.test} for r in results]


def write(results: list[FoldResult], out: Path, score: str, holdout: dict | None,
          console: Console | None = None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    doc = {"score": score, "folds": rows(results), "holdout": holdout}
    (out / "study.json").write_text(json.dumps(doc, indent=2))
    con = console or Console(width=180)
    t = Table(title=f"walk-forward folds (score: {score}); the test span was never searched")
    for col in ("fold", "searched", "tested", "score in", "score out", "trades out", "PF out",
                "return out", "max DD out", "best parameters"):
        t.add_column(col)
    for r in results:
        rep = r.test
        t.add_row(str(r.fold.k), f"{day(r.fold.fit[0])} → {day(r.fold.fit[1])}",
                  f"{day(r.fold.test[0])} → {day(r.fold.test[1])}",
                  _score(r.fit_score, r.fit), _score(r.test_score, rep), str(rep["trades"]),
                  _num(rep["profit_factor"]),
                  _num(rep["total_return"], True), _num(rep["max_drawdown"], True),
                  "\n".join(f"{k} = {_short(v)}" for k, v in r.best_params.items()))
    con.print(t)
    if holdout is not None:
        rep = holdout["report"]
        con.print(f"holdout {holdout['span'][0]} → {holdout['span'][1]}, replayed once with "
                  f"the last fold's parameters: {rep['trades']} trades, PF "
                  f"{_num(rep['profit_factor'])}, return {_num(rep['total_return'], True)}, "
                  f"max DD {_num(rep['max_drawdown'], True)}")
    _charts(results, out, score)
    return doc


def _score(value: float, report: dict) -> str:
    if value <= -1e8:
        return "refused"  # a constraint broken (too few trades, too deep a drawdown)
    if report.get("profit_factor") is None and report["trades"]:
        return "no loss"
    return _num(value)


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _charts(results: list[FoldResult], out: Path, score: str) -> None:
    ks = [r.fold.k for r in results]
    fit = [r.fit_score for r in results]
    test = [r.test_score for r in results]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.38
    ax.bar([k - width / 2 for k in ks], fit, width, label="searched (in sample)")
    ax.bar([k + width / 2 for k in ks], test, width, label="tested (out of sample)")
    ax.set_xticks(ks, [f"fold {k}" for k in ks])
    ax.set_ylabel(score)
    ax.axhline(1.0 if score == "profit_factor" else 0.0, color="grey", lw=0.8)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "folds.png", dpi=110)
    plt.close(fig)
    html = go.Figure([go.Bar(name="searched (in sample)", x=ks, y=fit),
                      go.Bar(name="tested (out of sample)", x=ks, y=test)])
    html.update_layout(barmode="group", title=f"walk-forward folds: {score}",
                       xaxis_title="fold", yaxis_title=score)
    html.write_html(out / "folds.html", include_plotlyjs=True)
