"""The market-data plane, end to end: `derivbot run` decides on three market-data venues
(Binance, Bybit and OKX public dialects on loopback, read by ccxt's own classes) and trades
on a local Binance exchange whose prices sit 2 % above them; one venue dies mid-run and
comes back; what arrived is recorded and replays to the same signals."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from aiohttp import web

from bot.app.modes import build_markets, build_sim, replay
from bot.config import parse_config
from bot.exchanges.localex import LocalExchange
from bot.exchanges.localex.bybit import BybitVenue
from bot.exchanges.localex.deribit import DeribitVenue, Listed
from bot.exchanges.localex.okx import OkxVenue
from bot.marketdata import layout
from bot.marketdata.synth import SynthSpec, generate
from tests.helpers import BTC, HOUR, free_port

BIN = Path(sys.executable).parent / "derivbot"
PREMIUM = 1.02  # the trading venue's prices over the market's
CHAIN = [(40_000.0, "put", 900.0), (45_000.0, "put", 600.0), (50_000.0, "call", 300.0),
         (55_000.0, "call", 200.0)]  # (strike, kind, open interest)


class Venues:
    """Venues on loopback, served from a thread of their own while the bot runs apart."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sites: dict[str, tuple[web.AppRunner, int]] = {}
        self.apps: dict[str, object] = {}

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _serve(self, name: str, port: int) -> int:
        runner = web.AppRunner(self.apps[name].app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]
        self.sites[name] = (runner, bound)
        return bound

    def serve(self, name: str, venue, port: int = 0) -> str:
        self.apps[name] = venue
        return f"http://127.0.0.1:{self.call(self._serve(name, port))}"

    def stop(self, name: str) -> None:
        self.call(self.sites[name][0].cleanup())

    def restart(self, name: str) -> None:
        self.call(self._serve(name, self.sites[name][1]))

    def at(self, names: tuple[str, ...], t: int) -> None:
        """Market time `t` at the named venues."""
        async def move():
            for n in names:
                v = self.apps[n]
                if isinstance(v, LocalExchange):
                    v.advance(t)
                else:
                    v.now = t
        self.call(move())

    def close(self) -> None:
        for runner, _ in self.sites.values():
            self.call(runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _premium_copy(md: Path, out: Path) -> Path:
    """Binance's BTC files with every price 2 % higher: the trading venue's own market."""
    dst = out / "binanceusdm" / "BTCUSDT"
    shutil.copytree(md / "binanceusdm" / "BTCUSDT", dst)
    for name in ("candles_1h.csv", "spot_candles_1h.csv"):
        df = pd.read_csv(dst / name)
        for col in ("open", "high", "low", "close"):
            df[col] = (df[col] * PREMIUM).round(1)
        df.to_csv(dst / name, index=False)
    return out


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    root = tmp_path_factory.mktemp("plane")
    md = generate(SynthSpec(days=60, seed=11, symbols=(BTC,)), root / "md")
    return md, _premium_copy(md, root / "trading")


def _first_trade(db: Path) -> tuple | None:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT created_at, strategy, side, plan_entry, entry_price FROM "
                           "trade ORDER BY id LIMIT 1").fetchone()


def _signals(db: Path, since: int, until: int) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT ts, symbol, module, direction, strength, reasons_json FROM "
                           "signal WHERE ts >= ? AND ts < ? ORDER BY ts, module",
                           (since, until)).fetchall()


def _metric(port: int, line: str) -> float | None:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for row in text.splitlines():
        if row.startswith(line + " "):
            return float(row.split()[-1])
    return None


def _wait(pred, what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_decides_on_the_market_data_venues_and_fills_on_the_trading_venue(market, tmp_path):
    md_dir, trade_dir = market
    cfg = parse_config({"data": {"symbols": [BTC]}})
    md = layout.load(md_dir, symbols=(BTC,))
    first = int(md.tables[("binanceusdm", BTC, "candles_1h.csv")]["timestamp"].iloc[0])

    # where the rules trade this market: a replay of all of it, then one that trades only
    # from two hours before a trade a month in, the history before read untraded
    asyncio.run(replay(cfg, md_dir, tmp_path / "full", progress=False))
    with sqlite3.connect(tmp_path / "full" / "derivbot.db") as con:
        later = [t for (t,) in con.execute("SELECT created_at FROM trade ORDER BY id")
                 if t >= first + 30 * 24 * HOUR]
    assert later, "the synthetic market trades after its first month"
    start = later[0] - 2 * HOUR
    asyncio.run(replay(cfg, md_dir, tmp_path / "from", progress=False, since=start + 1))
    want = _first_trade(tmp_path / "from" / "derivbot.db")
    assert want is not None and want[0] <= start + 6 * HOUR

    venues = Venues()
    try:
        md_markets = build_markets(md, (BTC,))
        trading_data = layout.load(trade_dir, symbols=(BTC,))
        trading = LocalExchange(build_sim(cfg, build_markets(trading_data, (BTC,))),
                                trading_data)
        urls = {"binanceusdm": venues.serve("binanceusdm", LocalExchange(
                    build_sim(cfg, md_markets), md)),
                "bybit": venues.serve("bybit", BybitVenue(md, md_markets)),
                "okx": venues.serve("okx", OkxVenue(md, md_markets))}
        # Deribit's chain: the front expiry (4 days out) puts-heavy, a nearer one ignored
        expiry = (start // (24 * HOUR) + 4) * 24 * HOUR + 8 * HOUR
        urls["deribit"] = venues.serve("deribit", DeribitVenue(
            [Listed("BTC", expiry, k, kind, oi, oi / 10) for k, kind, oi in CHAIN]
            + [Listed("BTC", start + 10 * HOUR, 100_000.0, "call", 10_000.0)]))
        trading_url = venues.serve("trading", trading)
        names = ("binanceusdm", "bybit", "okx", "deribit")
        venues.at(names, start)
        mport = free_port()
        hours = (start - first) // HOUR + 1
        (tmp_path / "config.toml").write_text(
            f'[data]\nsymbols = ["{BTC}"]\n'
            f'[exchange]\ngateway = "ccxt"\nlocal_url = "{trading_url}"\n'
            'rate_limit_ms = 0\nthrottle = false\n'
            f'[market_data]\npoll_s = 0.1\nhistory_bars = {hours}\nrecord_dir = "rec"\n'
            '[market_data.local_urls]\n'
            + "".join(f'{n} = "{u}"\n' for n, u in urls.items())
            + f'[metrics]\nport = {mport}\n[operator]\nenabled = false\n')
        log = (tmp_path / "bot.log").open("w")
        bot = subprocess.Popen([str(BIN), "run", "--config", "config.toml"], cwd=tmp_path,
                               stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            def tick_to(t: int) -> None:
                venues.at(names, t)
                _wait(lambda: trading.sim.now >= t, f"the bot's tick at {t}")

            def ready() -> bool:
                try:
                    return all(_metric(mport, f'derivbot_venue_stale{{venue="{n}"}}') == 0
                               for n in names[:3])
                except OSError:
                    return False

            _wait(ready, "the bot's first read of every venue")
            t = start
            while t < want[0] + HOUR:  # all venues up: up to the trade and one bar on
                t += HOUR
                tick_to(t)
            healthy_until = t
            venues.stop("bybit")  # Bybit's endpoint dies
            for _ in range(3):
                t += HOUR
                tick_to(t)
            _wait(lambda: _metric(mport, 'derivbot_venue_stale{venue="bybit"}') == 1,
                  "bybit marked stale")
            assert _metric(mport, 'derivbot_venue_stale{venue="okx"}') == 0
            status = subprocess.run([str(BIN), "status", "--config", "config.toml", "--json"],
                                    cwd=tmp_path, capture_output=True, text=True, check=True)
            assert "unreachable" in json.loads(status.stdout)["stale_venues"]["bybit"]
            stale_until = t
            venues.restart("bybit")  # back: the gap is filled before the next decision
            for _ in range(2):
                t += HOUR
                tick_to(t)
            _wait(lambda: _metric(mport, 'derivbot_venue_stale{venue="bybit"}') == 0,
                  "bybit back")
        except AssertionError as err:
            raise AssertionError(f"{err}; the bot said: "
                                 f"{(tmp_path / 'bot.log').read_text()[-3000:]}") from None
        finally:
            bot.send_signal(signal.SIGINT)
            bot.wait(timeout=60)
            log.close()
        assert bot.returncode == 0, (tmp_path / "bot.log").read_text()[-3000:]
    finally:
        venues.close()

    db = tmp_path / "var" / "derivbot.db"
    got = _first_trade(db)
    # decided on the market-data venues: the trade the replay of their data makes, at
    # their price; filled on the trading venue, at its price 2 % above
    assert got[1:4] == want[1:4]
    assert want[0] <= got[0] < want[0] + 60_000  # made live within a minute of the close
    assert float(got[4]) == pytest.approx(want[3] * PREMIUM, rel=0.003)
    assert float(want[4]) == pytest.approx(want[3], rel=0.001)

    # every tick read three venues' funding: the cross-venue modules gave readings
    rows = _signals(db, start + 1, healthy_until + 1)
    assert rows
    for module in ("funding_extreme", "funding_spread"):
        readings = [json.loads(r[5]) for r in rows if r[2] == module]
        assert readings and not any("abstain" in x for x in readings), readings[:1]
    spread = [json.loads(r[5]) for r in rows if r[2] == "funding_spread"]
    assert all(x["exchanges"] == 3 and x["oi_weighted"] is not None for x in spread), spread[0]
    # Deribit's chain by strike reached options_positioning: put volume 150 / call
    # 50 on the front expiry; max pain where the holders' payout is least
    options = [json.loads(r[5]) for r in rows if r[2] == "options_positioning"]
    assert options and options[0]["put_call"] == pytest.approx(3.0)
    assert options[0]["max_pain"] == 45_000.0 and options[0]["expiry"] == expiry
    # while Bybit was down: read on the other two, each reading saying why
    dead = [json.loads(r[5]) for r in _signals(db, healthy_until + HOUR, stale_until + 1)
            if r[2] == "funding_spread"]
    assert dead and all("bybit: unreachable" in x["stale"] and x["exchanges"] == 2
                        for x in dead[1:])

    # the recording: every venue's hours without a hole or a duplicate, Bybit's gap filled
    rec = layout.load(tmp_path / "rec", symbols=(BTC,))
    for venue in ("binanceusdm", "bybit", "okx"):
        ts = rec.tables[(venue, BTC, "candles_1h.csv")]["timestamp"].to_numpy()
        assert (ts[1:] - ts[:-1] == HOUR).all() and ts[-1] + HOUR == t, venue
    # ... and it replays to the signals the live session computed while all were up (the
    # options chain, read live, is not part of the recording)
    asyncio.run(replay(cfg, tmp_path / "rec", tmp_path / "again", progress=False,
                       since=start + 1))
    again = _signals(tmp_path / "again" / "derivbot.db", start + 1, healthy_until + 1)
    live = [r for r in rows if r[2] != "options_positioning"]
    assert [r for r in again if r[2] != "options_positioning"] == live and len(live) > 20
