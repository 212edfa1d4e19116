"""A replay-driven paper session whose every order goes through real ccxt to the local
exchange over HTTP — in Binance USD-M's dialect and in Bybit v5's — trades exactly as the
same session on the in-process SimGateway."""

import pytest

from bot.app.modes import build_markets, build_sim
from bot.clock import ReplayClock
from bot.config import parse_config
from bot.exchanges.ccxt.gateways import gateway_for
from bot.exchanges.localex import exchange_class, start, venue_urls
from bot.exchanges.localex.client import RemoteSimSink
from bot.exchanges.localex.guard import Limits
from bot.exchanges.sim.gateway import SimGateway, SimMarketSink
from bot.marketdata import layout as marketdata
from bot.marketdata.synth import SynthSpec, generate
from bot.runner import Runner
from state.store import Store
from tests.helpers import run

SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return generate(SynthSpec(days=75, seed=11), tmp_path_factory.mktemp("ccxt-session"))


def summary(store: Store) -> list[tuple]:
    return [(t.symbol, t.side, t.strategy, t.state, t.size, t.filled, t.entry_price,
             t.exit_price, t.realised, t.fees, t.funding, t.close_reason)
            for t in store.trades()]


async def session(data_dir, tmp, via_ccxt: bool, venue: str = "binanceusdm"):
    cfg = parse_config({"data": {"dir": str(data_dir)}, "exchange": {"venue": venue}})
    data = marketdata.load(data_dir, symbols=SYMBOLS)
    markets = build_markets(data, SYMBOLS)
    engine = build_sim(cfg, markets)
    store = Store(tmp / ("ccxt.db" if via_ccxt else "sim.db"))
    cleanup = []
    if via_ccxt:
        local = exchange_class(venue)(engine, data, venue, limits=Limits(
            weight_per_minute=10**9, orders_per_10s=10**9, orders_per_minute=10**9))
        server, base = await start(local)
        gw = gateway_for(venue, "local-key", "local-secret", urls=venue_urls(venue, base),
                         symbols=SYMBOLS, rate_limit_ms=0, throttle=False)
        perps = {s: m for s, m in (await gw.load_markets()).items()}
        sink = RemoteSimSink(base)
        runner = Runner(cfg, gw, store, perps, ReplayClock(), sinks=(sink,))
        cleanup += [sink.close, gw.close, server.cleanup]
    else:
        perps = {s: m for s, m in markets.items() if not m.spot}
        runner = Runner(cfg, SimGateway(engine), store, perps, ReplayClock(),
                        sinks=(SimMarketSink(engine, cfg.exchange.venue),))
    try:
        await runner.start()
        await runner.run(data.events())
        await runner.shutdown()
        return summary(store), engine.balance().wallet
    finally:
        for close in cleanup:
            await close()
        store.close()


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit"])
def test_ccxt_session_trades_exactly_like_the_in_process_one(data_dir, tmp_path, venue):
    direct, wallet_a = run(session(data_dir, tmp_path, via_ccxt=False, venue=venue))
    remote, wallet_b = run(session(data_dir, tmp_path, via_ccxt=True, venue=venue))
    assert len(direct) > 3
    assert remote == direct
    assert wallet_a == wallet_b
