"""The order path through our CcxtGateway vs a bare ccxt call to the local exchange (ratio),
and restart to ready with 100 open trades and 300 working orders."""

import asyncio
import subprocess
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import ccxt.async_support as ccxt

from bot.clock import ReplayClock
from bot.exchanges.ccxt.gateway import CcxtGateway
from bot.exchanges.localex import api_urls
from bot.execution.orders import OrderManager
from bot.execution.reconcile import reconcile
from bot.marketdata.synth import SynthSpec, generate
from bot.types import OrderRequest, OrderType
from state.models import Order, Trade
from state.store import Store
from tests.helpers import BTC, free_port, sim
from tests.venues import venue

BIN = Path(sys.executable).parent / "derivbot"
DAY = 86_400_000


def test_order_path_overhead_vs_bare_ccxt(tmp_path, figures):
    """The local exchange runs in its own process (as an exchange does), and the two
    clients alternate order by order, so both meet the same book and the same server."""
    folder = generate(SynthSpec(days=40, seed=7), tmp_path / "syn")
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\ndir = "{folder}"\n[sim]\nstart_equity = 1e9\n')
    server = subprocess.Popen([str(BIN), "exchange", "serve", "--config", str(cfg), "--port",
                               str(port), "--no-limits"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"

    async def go():
        async with aiohttp.ClientSession() as s:
            await s.post(f"{base}/sim/advance", json={"until": 1_735_689_600_000 + 30 * DAY})
        bare = ccxt.binanceusdm({"apiKey": "local-key", "secret": "local-secret",
                                 "enableRateLimit": False,
                                 "options": {"fetchCurrencies": False}})
        bare.urls["api"] = api_urls(base)
        ours = CcxtGateway("binanceusdm", "local-key", "local-secret", urls=api_urls(base),
                           symbols=(BTC,), rate_limit_ms=0)
        await bare.load_markets()
        await ours.load_markets()
        n = 250  # under Binance's 300 orders / 10 s: overhead, not the rate limit
        t_bare = t_ours = 0.0
        for i in range(n):
            t0 = time.perf_counter()
            await bare.create_order(BTC, "limit", "buy", 0.01, 20000,
                                    {"clientOrderId": f"bare-{i}"})
            t1 = time.perf_counter()
            await ours.create_order(OrderRequest(f"dbot-{i:06d}-entry-0", BTC, "buy",
                                                 OrderType.LIMIT, D("0.01"), D(20000)))
            t_ours += time.perf_counter() - t1
            t_bare += t1 - t0
        await bare.close()
        await ours.close()
        return n, t_bare, t_ours

    try:
        assert "local exchange" in server.stdout.readline()
        n, t_bare, t_ours = asyncio.run(go())
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures.append(f"order path: bare ccxt {t_bare / n * 1e3:.2f} ms, our gateway "
                   f"{t_ours / n * 1e3:.2f} ms per order; ratio {t_ours / t_bare:.2f}")


def test_restart_to_ready_with_100_trades_and_300_orders(tmp_path, figures):
    async def go():
        async with venue("ccxt", ex=sim(balance=10**9)) as v:
            store = Store(tmp_path / "r.db")
            for i in range(100):
                t = Trade(strategy="funding_fade", symbol=BTC, side="long", state="t1_filled",
                          plan_entry=50_000, plan_stop=49_000, targets_json="[[51000, 1.0]]",
                          size=D("0.01"), filled=D("0.01"), entry_price=D(50_000))
                store.save(t)
                for k, leg in enumerate(("stop", "t2", "t3")):
                    cid = f"dbot-{t.id:06d}-{leg}-0"
                    kind = OrderType.LIMIT
                    await v.gw.create_order(OrderRequest(cid, BTC, "buy", kind, D("0.01"),
                                                         D(str(40_000 - k))))
                    store.record_order(Order(client_id=cid, trade_id=t.id, leg=leg,
                                             symbol=BTC, side="buy", type="limit",
                                             amount=D("0.01"), state="open"), 0)
            t0 = time.perf_counter()
            om = OrderManager(v.gw, store, await v.gw.load_markets(), ReplayClock())
            report = await reconcile(om)
            took = time.perf_counter() - t0
            store.close()
            return took, report

    took, report = asyncio.run(go())
    figures.append(f"restart to ready (reconcile 100 trades, 300 working orders, local "
                   f"exchange over HTTP): {took:.2f} s, {report.looked_up} orders looked up")
