"""The replay report in the terminal: rich tables of the whole run, per strategy, per pair,
per exit reason and per month, and every halt."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from bot.operator.status import cash


def _pct(x) -> str:
    return "" if x is None else f"{x:.2%}"




def _groups(title: str, rows: dict[str, dict]) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("", no_wrap=True)
    for col in ("trades", "win", "PF", "net", "price", "fees", "funding"):
        t.add_column(col, justify="right")
    for name, r in rows.items():
        t.add_row(name, str(r["trades"]), _pct(r["win_rate"]), cash(r["profit_factor"]),
                  cash(r["net_pnl"]), cash(r.get("price")), cash(r.get("fees")),
                  cash(r.get("funding")))
    return t


def show(report: dict, console: Console | None = None) -> None:
    c = console or Console()
    head = Table(title="replay", title_justify="left", show_header=False)
    for label, value in (
            ("trades (failed entries)", f"{report['trades']} ({report['failed_entries']})"),
            ("win rate / profit factor", (f"{_pct(report['win_rate'])} / "
                                         f"{cash(report['profit_factor'])}")),
            ("return / CAGR", f"{_pct(report['total_return'])} / {_pct(report['cagr'])}"),
            ("Sharpe / Sortino / Calmar", (f"{report['sharpe']} / {report['sortino']} / "
                                          f"{report['calmar']}")),
            ("max drawdown", (f"{_pct(report['max_drawdown'])} from "
                             f"{(report['drawdown_start'] or '')[:10]} to "
                             f"{(report['drawdown_trough'] or '')[:10]}, recovered "
                             f"{(report['drawdown_recovered'] or 'not yet')[:10]}")),
            ("expectancy / losing streak", (f"{report['expectancy_r']} R / "
                                           f"{report['longest_losing_streak']} trades")),
            ("PnL: price / fees / funding", (f"{cash(report['price_pnl'])} / "
                                            f"−{cash(report['fees'])} / "
                                            f"{cash(report['funding_pnl'])}")),
            ("buy and hold", ", ".join(f"{s.split('/')[0]} {_pct(r)}"
                                       for s, r in report["buy_and_hold"].items()))):
        head.add_row(label, value)
    c.print(head)
    c.print(_groups("per strategy", report["per_strategy"]))
    c.print(_groups("per pair", report["per_pair"]))
    c.print(_groups("per exit reason", report["per_exit"]))
    c.print(_groups("per month", report["per_month"]))
    if isinstance(report.get("abstentions"), dict) and report["abstentions"]:
        t = Table(title="modules abstaining (share of bars, why)", title_justify="left")
        t.add_column("", no_wrap=True)
        t.add_column("bars", justify="right")
        t.add_column("why")
        for module, a in report["abstentions"].items():
            t.add_row(module, _pct(a["share"]), "; ".join(a["why"]))
        c.print(t)
