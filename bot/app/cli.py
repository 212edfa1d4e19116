"""The `derivbot` command line: its parser, and main, which turns bad input into one line and
exit code 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from bot.app.commands import (
    EXIT_USAGE,
    UsageError,
    cmd_approvals,
    cmd_config_reference,
    cmd_data_fetch,
    cmd_data_import,
    cmd_data_synth,
    cmd_db,
    cmd_decide,
    cmd_exchange_serve,
    cmd_flatten,
    cmd_halt,
    cmd_montecarlo,
    cmd_record,
    cmd_replay,
    cmd_run,
    cmd_signals,
    cmd_size,
    cmd_status,
)
from bot.config import ConfigError
from bot.logs import configure


def _with(p: argparse.ArgumentParser, *, data: bool = False, db: bool = False,
          as_json: bool = False) -> argparse.ArgumentParser:
    """The options many commands share: --config and --log-format, and --data / --db /
    --json where asked."""
    p.add_argument("--config", default="config.toml")
    p.add_argument("--log-format", choices=("text", "json"),
                   default=os.environ.get("DERIVBOT_LOG_FORMAT", "text"),
                   help="log lines as logfmt text or one JSON object each (default: text)")
    if data:
        p.add_argument("--data", help="market data folder (default: config or synthetic)")
    if db:
        p.add_argument("--db", help="database file (default: state.db from config)")
    if as_json:
        p.add_argument("--json", action="store_true")
    return p


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="derivbot", description=(
        "Trade crypto perpetual futures from derivatives data: paper, live with a person "
        "approving each new position, or replay over history."))
    sub = p.add_subparsers(dest="command", required=True)

    run = _with(sub.add_parser("run", help="run the configured mode (default: paper on the "
                                           "simulator)"), data=True)
    run.add_argument("--max-ticks", type=int, help="stop after this many ticks")
    run.add_argument("--live", action="store_true", help="confirm live trading")
    run.set_defaults(func=cmd_run)

    rep = _with(sub.add_parser("replay", help="run the whole bot over history"), data=True)
    rep.add_argument("--out", default="out/replay")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")
    rep.add_argument("--since", help="trade from this ISO date (the history before it is "
                     "read as warm-up)")
    rep.add_argument("--until", help="stop before this ISO date")
    rep.add_argument("--no-telemetry", action="store_true",
                     help="record what the bot decides and does (trades, orders, fills, risk "
                          "decisions, equity) but not every bar's signal rows and alerts: the "
                          "same trades, 2-3x faster")
    rep.set_defaults(func=cmd_replay)

    ap = _with(sub.add_parser("approvals", help="proposals waiting for a person"), db=True,
               as_json=True)
    ap.add_argument("--all", action="store_true", help="every proposal, not just pending")
    ap.set_defaults(func=cmd_approvals)
    for name, what in (("approve", "approve a proposal"), ("reject", "reject a proposal")):
        d = _with(sub.add_parser(name, help=what), db=True)
        d.add_argument("id")
        d.add_argument("--by", default=os.environ.get("USER", "operator"))
        if name == "reject":
            d.add_argument("--reason", default="")
        d.set_defaults(func=cmd_decide)

    fl = _with(sub.add_parser("flatten", help="kill switch: cancel bot orders, close bot "
                                              "positions"), data=True)
    fl.set_defaults(func=cmd_flatten)

    st = _with(sub.add_parser("status", help="open positions, working orders and PnL"),
               db=True, as_json=True)
    st.set_defaults(func=cmd_status)

    sz = sub.add_parser("size", help="position size and liquidation calculator")
    sz.add_argument("--equity", type=float, required=True)
    sz.add_argument("--risk", type=float, required=True, help="fraction of equity, e.g. 0.015")
    sz.add_argument("--entry", type=float, required=True)
    sz.add_argument("--stop", type=float, required=True)
    sz.add_argument("--leverage", type=float, required=True)
    sz.add_argument("--side", choices=("long", "short"), help="default: from stop vs entry")
    sz.add_argument("--step", default="0.001", help="amount step of the market")
    sz.add_argument("--mmr", type=float, help="a flat maintenance margin rate (default: the "
                    "tiers of risk.mmr_tiers, by the position's notional)")
    sz.add_argument("--config", help="whose risk.mmr_tiers to use (default: ./config.toml "
                    "when present, else the built-in tiers)")
    sz.add_argument("--json", action="store_true")
    sz.set_defaults(func=cmd_size)

    exch = sub.add_parser("exchange", help="the local exchange")
    esub = exch.add_subparsers(dest="exchange_command", required=True)
    serve = _with(esub.add_parser("serve", help="serve the trading venue's REST dialect "
                                                "(exchange.venue: Binance USD-M or Bybit v5) "
                                                "on loopback"), data=True)
    serve.add_argument("--port", type=int, default=9700)
    serve.add_argument("--dialect", choices=("binanceusdm", "bybit", "okx"),
                       default="binanceusdm", help="binanceusdm: the trading exchange, in "
                       "exchange.venue's dialect; bybit, okx: that venue's public market data "
                       "(for [market_data] local_urls)")
    serve.add_argument("--no-limits", action="store_true",
                       help="no rate limits (fast local sessions); default: Binance's")
    serve.set_defaults(func=cmd_exchange_serve)

    rec = sub.add_parser("record", help="the market-data plane alone: append what the venues "
                         "give to a data folder (no trading); Ctrl-C stops")
    rec.add_argument("--config", default="config.toml")
    rec.add_argument("--venues", help="comma-separated, e.g. binanceusdm,bybit,okx "
                     "(default: market_data.venues)")
    rec.add_argument("--symbols", nargs="*", help="ccxt perps (default: data.symbols)")
    rec.add_argument("--out", required=True, help="the data folder appended to")
    rec.add_argument("--polls", type=int, help="stop after this many polls")
    rec.set_defaults(func=cmd_record)

    from bot.app.studycmd import add_parser as add_study

    add_study(sub)

    conf = sub.add_parser("config", help="the configuration reference")
    conf.add_subparsers(dest="what", required=True).add_parser(
        "reference", help="every key with its type, default, range and meaning (Markdown)"
    ).set_defaults(func=cmd_config_reference)

    sig = _with(sub.add_parser("signals", help="every signal module's reading per symbol"),
                data=True)
    sig.add_argument("--at", help="ISO time or ms (default: where the bot on this config's "
                     "database is now, else the end of the data)")
    sig.set_defaults(func=cmd_signals)

    risk = sub.add_parser("risk", help="risk tools")
    rsub = risk.add_subparsers(dest="risk_command", required=True)
    mc = rsub.add_parser("montecarlo", help="resample trade R-multiples into equity paths")
    src = mc.add_mutually_exclusive_group()
    src.add_argument("--from-db", action="store_true", help="the bot's closed trades (default)")
    src.add_argument("--r-multiples", help="a file of R-multiples, one per line")
    _with(mc, db=True)
    mc.add_argument("--fraction", type=float, help="also show this risk fraction")
    mc.add_argument("--paths", type=int, default=10_000)
    mc.add_argument("--seed", type=int, default=7)
    mc.add_argument("--png", default="out/montecarlo.png")
    mc.add_argument("--json", action="store_true")
    mc.set_defaults(func=cmd_montecarlo)

    halt = _with(sub.add_parser("halt", help="show the entry halt, or lift it (--lift)"),
                 db=True)
    halt.add_argument("--lift", action="store_true")
    halt.add_argument("--by", default="operator", help="who lifts it, for the record")
    halt.set_defaults(func=cmd_halt)

    db = sub.add_parser("db", help="the database: check, back up, restore")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    for name, text in (("check", "SQLite's integrity check and the ledger's identities"),
                       ("backup", "an online copy now (kept with the last state.backups)"),
                       ("restore", "put a backup in place (no bot may be running)")):
        one = _with(dbsub.add_parser(name, help=text), db=True)
        if name == "restore":
            one.add_argument("copy", help="the backup file (see backups/ beside the database)")
        one.set_defaults(func=cmd_db)

    data = sub.add_parser("data", help="market data tools")
    dsub = data.add_subparsers(dest="data_command", required=True)
    syn = dsub.add_parser("synth", help="write a seeded synthetic market")
    syn.add_argument("--out", required=True)
    syn.add_argument("--days", type=int, default=365)
    syn.add_argument("--seed", type=int, default=7)
    syn.add_argument("--symbols", nargs="*", help="ccxt symbols, e.g. BTC/USDT:USDT")
    syn.set_defaults(func=cmd_data_synth)
    fetch = dsub.add_parser("fetch", help="download history through ccxt (resumable)")
    fetch.add_argument("--exchange", required=True, choices=("binanceusdm", "bybit", "okx"))
    fetch.add_argument("--symbol", required=True)
    fetch.add_argument("--since", required=True, help="ISO date")
    fetch.add_argument("--until", help="ISO date (default: now)")
    fetch.add_argument("--out", required=True)
    fetch.add_argument("--url", help="a local exchange's base url instead of the real one")
    fetch.set_defaults(func=cmd_data_fetch)
    imp = dsub.add_parser("import", help="import outside history into the layout")
    imp.add_argument("--out", required=True)
    imp.add_argument("--all", metavar="DIR", help="every history file DIR holds that is known "
                     "by name (e.g. ../shared/data): the whole multi-venue set")
    imp.add_argument("--exchange", help="ccxt id, e.g. binanceusdm")
    imp.add_argument("--symbol", help="ccxt symbol, e.g. BTC/USDT:USDT")
    imp.add_argument("--candles", help="1h candles: feather or CSV")
    imp.add_argument("--funding", help="funding: feather (freqtrade) or CSV")
    imp.add_argument("--spot-candles", help="the spot market's 1h candles (the basis trade)")
    imp.add_argument("--utc-offset", type=float, default=0.0,
                     help="the files' times are UTC+this many hours (subtracted)")
    imp.add_argument("--oi", help="daily open interest CSV, one column per venue (USD)")
    imp.add_argument("--oi-column", help="the venue column, e.g. 'BTC/USDT - Binance'")
    imp.add_argument("--since", help="ISO date: keep rows from here")
    imp.add_argument("--until", help="ISO date: keep rows before here")
    imp.set_defaults(func=cmd_data_import)
    return p


# errors that mean bad input (exit code 2, one line), by the module that raises each: only a
# module already imported can have raised its error, so none is imported to catch it
USAGE_ERRORS = (("bot.app.calculator", "CalculatorError"), ("bot.app.risktools", "RiskToolError"),
                ("bot.marketdata.layout", "DataError"), ("bot.operator.metrics",
                                                         "MetricsPortError"),
                ("bot.operator.page", "OperatorConfigError"), ("state.store", "StoreError"))


def _bad_input(err: Exception) -> bool:
    kinds = [UsageError] + [getattr(sys.modules[m], name) for m, name in USAGE_ERRORS
                            if m in sys.modules]
    return isinstance(err, tuple(kinds))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    configure(getattr(args, "log_format", "text"),
              logging.INFO if args.command == "run" else logging.WARNING)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"derivbot: config error: {err}", file=sys.stderr)
    except Exception as err:
        if not _bad_input(err):
            raise
        print(f"derivbot: {err}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
