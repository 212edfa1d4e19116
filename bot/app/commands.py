"""What each `derivbot` command does: one function a command, given its parsed arguments,
returning the exit code; bad input is a UsageError (one line, exit 2)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

from bot.config import Config, load_config

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the command line or its files; printed as one line, exit code 2."""


def _config(path: str) -> Config:
    return load_config(path)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import modes as app
    from bot.app.lock import LockedError, account_lock, database_lock

    cfg = _config(args.config)
    if cfg.mode == "live" and not args.live:
        raise UsageError("mode = 'live' in config also needs --live on the command line")
    if args.live and cfg.mode != "live":
        raise UsageError("--live needs mode = 'live' in config")
    locks = [database_lock(cfg.state.db)]
    if cfg.exchange.gateway == "ccxt" and not cfg.exchange.local_url:
        locks.append(account_lock(cfg.state.db, cfg.exchange.venue,
                                  os.environ.get(cfg.exchange.api_key_env, ""),
                                  cfg.exchange.testnet))
    held = []
    try:
        for lock in locks:
            held.append(lock.acquire())
    except LockedError as err:
        for lock in held:
            lock.release()
        raise UsageError(str(err)) from None
    try:
        return _run(args, cfg, app)
    finally:
        for lock in held:
            lock.release()


def _run(args: argparse.Namespace, cfg, app) -> int:
    if cfg.exchange.gateway == "ccxt":
        from bot.app.exchange import run_ccxt

        folder = app.resolve_data(cfg, args.data) if cfg.exchange.local_url else None
        try:
            runner = asyncio.run(run_ccxt(cfg, cfg.mode == "live", folder, args.max_ticks))
        except PermissionError as err:
            raise UsageError(str(err)) from None
        print(f"derivbot: stopped after {runner.stats.ticks} ticks; state in {cfg.state.db}")
        return 0
    folder = app.resolve_data(cfg, args.data)
    print(f"derivbot: paper trading on the simulated {cfg.exchange.venue} with data {folder}; "
          f"metrics on http://{cfg.metrics.host}:{cfg.metrics.port}/metrics; Ctrl-C stops")
    runner = asyncio.run(app.run_paper(cfg, folder, max_ticks=args.max_ticks))
    print(f"derivbot: stopped after {runner.stats.ticks} ticks; state saved in {cfg.state.db}")
    return 0


def _day(text: str | None, flag: str) -> int | None:
    """ms UTC of an ISO date or date-time given to `flag`."""
    if text is None:
        return None
    from datetime import UTC, datetime

    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not an ISO date (e.g. 2022-01-01)") from None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() * 1000)


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.app import modes as app

    cfg = _config(args.config)
    folder = app.resolve_data(cfg, args.data)
    out = Path(args.out)
    since, until = (_day(args.since, "--since"), _day(args.until, "--until"))
    if since is not None and until is not None and since >= until:
        raise UsageError(f"--since {args.since} must be before --until {args.until}")
    report = asyncio.run(app.replay(cfg, folder, out, progress=not args.quiet,
                                    telemetry=not args.no_telemetry, since=since,
                                    until=until))
    keys = ("trades", "win_rate", "profit_factor", "sharpe", "max_drawdown", "total_return",
            "fees", "funding_pnl")
    print(" ".join(f"{k}={report[k]}" for k in keys))
    if not args.quiet:
        from bot.operator.console import show

        show(report)
    b = report["basis"]
    print(f"basis: pairs={b['pairs']} failed={b['failed']} funding={b['funding']} "
          f"price_pnl={b['price_pnl']} fees={b['fees']} pnl={b['pnl']}")
    for h in report["halts"]:
        lifted = (f"lifted {h['lifted_at'][:16]} by {h['lifted_by']}" if h["lifted_at"]
                  else "still on at the end")
        print(f"halt {h['since'][:16]}: {h['reason']} ({h['hours']} h, {lifted})")
    print(f"wrote {out / 'report.json'}, {out / 'trades.csv'}, {out / 'equity.png'}, "
          f"{out / 'derivbot.db'}" + ("" if report["telemetry"] else
                                      " (no signal rows or alerts: --no-telemetry)"))
    return 0


def _proposal_store(args: argparse.Namespace):
    from state.store import Store

    cfg = _config(args.config)
    db = args.db or cfg.state.db
    if not Path(db).exists():
        raise UsageError(f"{db}: no database yet (has the bot run?)")
    store = Store(db)
    wall = int(time.time() * 1000)
    now = wall if cfg.mode == "live" else store.get_meta("market_now", wall)
    return store, now


def cmd_approvals(args: argparse.Namespace) -> int:
    from state import proposals

    store, now = _proposal_store(args)
    try:
        rows = proposals.listing(store, None if args.all else "pending")
    finally:
        store.close()
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return 0
    if not rows:
        print("no proposals pending" if not args.all else "no proposals")
    for r in rows:
        left = (r.expires_at - now) / 60_000
        print(f"#{r.id} {r.status} {r.strategy} {r.symbol} {r.side} size {r.size} entry "
              f"{r.entry:.2f} stop {r.stop:.2f} targets "
              f"{[round(t[0], 2) for t in json.loads(r.targets_json)]} risk {r.risk_cash:.2f} "
              f"margin {r.margin:.2f} liq {r.liquidation:.2f} "
              + (f"expires in {left:.0f} min" if r.status == "pending" else r.reason))
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from state import proposals

    store, now = _proposal_store(args)
    try:
        pid = proposals.parse_id(args.id)
        print(proposals.decide(store, pid, args.command == "approve", args.by, now,
                               getattr(args, "reason", "") or ""))
    except proposals.ProposalError as err:
        raise UsageError(str(err)) from None
    finally:
        store.close()
    return 0


def cmd_flatten(args: argparse.Namespace) -> int:
    from bot.app import modes as app

    cfg = _config(args.config)
    if not Path(cfg.state.db).exists():
        raise UsageError(f"{cfg.state.db}: no database yet (has the bot run?)")
    try:
        if cfg.exchange.gateway == "ccxt":
            from bot.app.exchange import flatten_ccxt

            report = asyncio.run(flatten_ccxt(cfg, cfg.mode == "live"))
        else:
            report = asyncio.run(app.flatten_paper(cfg, app.resolve_data(cfg, args.data)))
    except (FileNotFoundError, PermissionError) as err:
        raise UsageError(str(err)) from None
    print(f"flattened: closed trades {report.trades_closed or 'none'}; closed basis pairs "
          f"{report.pairs_closed or 'none'}; cancelled orders "
          f"{report.orders_cancelled or 'none'}; closed positions "
          f"{report.positions_closed or 'none'}; left alone (not ours) "
          f"{report.left_alone or 'none'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from bot.operator.status import print_status

    db = args.db or _config(args.config).state.db
    if not Path(db).exists():
        raise UsageError(f"{db}: no database yet (has the bot run?)")
    print_status(db, as_json=args.json)
    return 0


def cmd_size(args: argparse.Namespace) -> int:
    from bot.app.calculator import calculate, render
    from risk.limits import RiskLimits

    path = args.config or ("config.toml" if Path("config.toml").exists() else None)
    tiers = _config(path).risk.mmr_tiers if path else RiskLimits().mmr_tiers
    result = calculate(args.equity, args.risk, args.entry, args.stop, args.leverage,
                       args.side, args.step, args.mmr, tiers)
    print(json.dumps(result) if args.json else render(result))
    return 0


def cmd_signals(args: argparse.Namespace) -> int:
    from bot.app import modes as app
    from bot.operator.dashboard import parse_time, readings_at, render

    cfg = _config(args.config)
    folder = app.resolve_data(cfg, args.data)
    at = parse_time(args.at) if args.at else _bot_market_time(cfg)
    now, found = readings_at(folder, cfg.exchange.venue, cfg.data.symbols, at, cfg.signals)
    render(now, found)
    return 0


def _bot_market_time(cfg) -> int | None:
    """The market time the bot on this config's database last reached, if it has run."""
    from state.store import Store

    db = Path(cfg.state.db)
    if not db.exists():
        return None
    store = Store(db)
    try:
        return store.get_meta("market_now") or store.get_meta("last_seen")
    finally:
        store.close()


def cmd_data_import(args: argparse.Namespace) -> int:
    from bot.marketdata.collection import import_all
    from bot.marketdata.importer import import_symbol
    from bot.operator.dashboard import parse_time

    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    if args.all:
        src = Path(args.all)
        if not src.is_dir():
            raise UsageError(f"--all {args.all}: not a folder")
        done = import_all(src, Path(args.out), since, until)
        if not done:
            raise UsageError(f"--all {args.all}: no history file it knows by name")
        print("\n".join(done) + f"\nimported {len(done)} files into {args.out}")
        return 0
    if not (args.exchange and args.symbol):
        raise UsageError("data import needs --exchange and --symbol (or --all DIR)")
    folder = import_symbol(Path(args.out), args.exchange, args.symbol,
                           Path(args.candles) if args.candles else None,
                           Path(args.funding) if args.funding else None,
                           Path(args.oi) if args.oi else None, args.oi_column, since, until,
                           Path(args.spot_candles) if args.spot_candles else None,
                           args.utc_offset)
    print(f"imported {args.symbol} on {args.exchange} into {folder}")
    return 0


def cmd_exchange_serve(args: argparse.Namespace) -> int:
    from bot.app import modes as app
    from bot.app.exchange import serve_exchange
    from bot.app.record import serve_venue

    cfg = _config(args.config)
    folder = app.resolve_data(cfg, args.data)
    try:
        if args.dialect == "binanceusdm":
            asyncio.run(serve_exchange(cfg, folder, args.port, unlimited=args.no_limits))
        else:
            data = app.load_data(cfg, folder)
            if args.dialect not in data.exchanges:
                raise UsageError(f"--dialect {args.dialect}: {folder} holds no "
                                 f"{args.dialect} folder")
            first = min(int(df["timestamp"].iloc[0]) for df in data.tables.values() if len(df))
            markets = app.build_markets(data, cfg.data.symbols, cfg.sim.taker_fee)
            start = first + cfg.paper.warmup_bars * 3_600_000
            asyncio.run(serve_venue(args.dialect, data, markets, args.port, start))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from bot.app.record import record
    from bot.markets import split_symbol

    cfg = _config(args.config)
    venues = tuple(v for v in (args.venues or "").split(",") if v)
    for v in venues:
        if v not in ("binanceusdm", "bybit", "okx"):
            raise UsageError(f"--venues: {v!r} is not one of binanceusdm, bybit, okx")
    symbols = tuple(args.symbols) if args.symbols else cfg.data.symbols
    for s in symbols:
        try:
            split_symbol(s)
        except ValueError as err:
            raise UsageError(f"--symbols: {err}") from None
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out}: is a file, not a folder")
    try:
        asyncio.run(record(cfg, venues, symbols, Path(args.out), args.polls))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_data_fetch(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from bot.exchanges.ccxt.data import fetch_history
    from bot.exchanges.ccxt.gateway import CcxtGateway
    from bot.exchanges.localex import api_urls
    from bot.operator.dashboard import parse_time

    since = parse_time(args.since)
    until = parse_time(args.until) if args.until else int(time.time() * 1000)

    async def go() -> Path:
        urls = api_urls(args.url) if args.url else None
        gw = CcxtGateway(args.exchange, *(("local-key", "local-secret") if args.url else ()),
                         testnet=False, urls=urls, symbols=(args.symbol,))
        try:
            await gw.load_markets()
            with Progress() as bar:
                task = bar.add_task(f"{args.symbol} candles", total=until - since)
                return await fetch_history(gw, args.symbol, since, until, Path(args.out),
                                           lambda t: bar.update(task, completed=t - since))
        finally:
            await gw.close()

    print(f"fetched into {asyncio.run(go())}")
    return 0


def cmd_montecarlo(args: argparse.Namespace) -> int:
    from bot.app.risktools import montecarlo, r_from_db, read_r_multiples

    if args.r_multiples:
        r = read_r_multiples(Path(args.r_multiples))
    else:
        r = r_from_db(Path(args.db or _config(args.config).state.db))
    if args.fraction is not None and not 0 < args.fraction < 1:
        raise UsageError(f"--fraction must be within (0, 1), got {args.fraction}")
    if args.paths < 1:
        raise UsageError(f"--paths must be at least 1, got {args.paths}")
    montecarlo(r, args.fraction, args.paths, args.seed, Path(args.png), args.json)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from bot.app.lock import LockedError, database_lock
    from state import backup

    cfg = _config(args.config)
    db = Path(args.db or cfg.state.db)
    if not db.is_file():
        raise UsageError(f"{db}: no database file there")
    if args.db_command == "check":
        problems = backup.check(db)
        for p in problems:
            print(p)
        print(f"{db}: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
        return 0 if not problems else 1
    if args.db_command == "backup":
        print(f"copied {db} to {backup.backup(db, max(cfg.state.backups, 1))}")
        return 0
    copy = Path(args.copy)
    if not copy.is_file() or backup.check(copy):
        raise UsageError(f"{copy}: not a sound database copy (derivbot db check {copy})")
    lock = database_lock(str(db))
    try:
        lock.acquire()
    except LockedError as err:
        raise UsageError(str(err)) from None
    try:
        aside = backup.restore(copy, db)
    finally:
        lock.release()
    print(f"restored {copy} as {db}; the previous file is kept as {aside}. The next start "
          "reconciles it with the exchange (fills since the copy are adopted).")
    return 0


def cmd_halt(args: argparse.Namespace) -> int:
    from bot.app.risktools import halt_command

    db = Path(args.db or _config(args.config).state.db)
    print(halt_command(db, args.lift, args.by))
    return 0


def cmd_config_reference(_args: argparse.Namespace) -> int:
    from bot.app.configdoc import reference

    print(reference(), end="")
    return 0


def cmd_data_synth(args: argparse.Namespace) -> int:
    from bot.marketdata.synth import SynthSpec, generate

    symbols = tuple(args.symbols) if args.symbols else SynthSpec.symbols
    out = generate(SynthSpec(symbols=symbols, days=args.days, seed=args.seed), args.out)
    print(f"wrote a {args.days}-day synthetic market for {', '.join(symbols)} to {out}")
    return 0
