"""Alerts: raised when a condition starts, stored, counted, and POSTed with retries."""

import asyncio
import json
from contextlib import asynccontextmanager

import numpy as np
from aiohttp import web

from bot.operator.alerts import AlertBook, Webhook
from bot.operator.metrics import Metrics
from state.store import Store
from strategies.alerts import AlertParams, conditions
from strategies.liquidation_map import Cluster
from strategies.types import Direction, Series, Signal
from tests.helpers import HOUR, candles, view


def test_conditions_of_spec_7():
    c = candles(list(np.linspace(100, 104, 60)))
    end = int(c.ts[-1]) + HOUR
    oi = Series(c.ts + HOUR, np.linspace(130, 100, 60))  # falling while price rises
    oi_up = Series(c.ts + HOUR, np.r_[np.full(36, 100.0), np.linspace(100, 112, 24)])
    spread = {"funding_spread": Signal("funding_spread", Direction.FLAT, 0,
                                       {"spread": 0.0004, "highest": "a", "lowest": "b"})}
    v = view({"a": [0.0006], "b": [0.0002]}, c=c, oi={"binanceusdm": oi})
    kinds = {x.kind for x in conditions(v, spread, [Cluster(103.0, 1e8, "long", True)],
                                         AlertParams())}
    assert kinds == {"funding_extreme", "oi_price_divergence", "near_cluster", "funding_spread"}
    surge = conditions(view({"a": [0.0001]}, c=c, oi={"binanceusdm": oi_up}), {}, [],
                       AlertParams())
    assert [x.kind for x in surge] == ["oi_surge"]
    assert end == v.now


def test_oi_price_divergence_holds_over_every_12_h_step_and_reports_the_last_step():
    """Price and OI apart at 12, 24, ... h up to divergence_hours (30: steps 12 and 24):
    the alert gives the last step's changes, and one step moving together stops it."""
    from strategies.series import change, price_change

    rng = np.random.default_rng(2)
    raised = 0
    for _ in range(300):
        c = candles(list(100 + np.cumsum(rng.normal(0, 0.3, 80))))
        oi = Series(c.ts + HOUR, 100 + np.cumsum(rng.normal(0, 0.5, 80)))
        v = view({"a": [0.0001]}, c=c, oi={"binanceusdm": oi})
        for hours in (11, 30, 48):
            got = [x for x in conditions(v, {}, [], AlertParams(divergence_hours=hours))
                   if x.kind == "oi_price_divergence"]
            steps = [(price_change(v, h), change(oi, v.now, h)) for h in range(12, hours + 1, 12)]
            apart = bool(steps) and all(a * b < 0 for a, b in steps)
            assert len(got) == apart
            if apart:
                assert got[0].details == {"price": steps[-1][0], "oi": steps[-1][1]}
                raised += 1
    assert raised > 20


def test_alert_book_reports_a_condition_once_until_it_clears():
    store = Store(":memory:")
    metrics = Metrics()
    book = AlertBook(store, metrics)
    cond = conditions(view({"a": [0.0007]}), {}, [], AlertParams())
    assert len(book.update(1, "BTC", cond)) == 1
    assert book.update(2, "BTC", cond) == []
    assert book.update(3, "BTC", []) == []
    assert len(book.update(4, "BTC", cond)) == 1
    rows = store.alerts()
    assert [r.ts for r in rows] == [1, 4] and "funding +0.0700% on a" in rows[0].message
    assert metrics.alerts.labels("BTC", "funding_extreme")._value.get() == 2


@asynccontextmanager
async def hook_server(handler):
    """A webhook receiver on loopback; yields its url."""
    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"
    finally:
        await runner.cleanup()


def test_webhook_retries_5xx_and_never_blocks_the_loop():
    async def scenario():
        received, calls = [], []

        async def hook(request):
            calls.append(1)
            if len(calls) < 3:
                return web.Response(status=503)
            received.append(await request.json())
            return web.Response(status=204)

        async with hook_server(hook) as url:
            metrics = Metrics()
            wh = Webhook(url, metrics, retries=4, backoff=0.01)
            wh.start()
            book = AlertBook(Store(":memory:"), metrics, wh)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            book.update(1, "BTC", conditions(view({"a": [0.0007]}), {}, [], AlertParams()))
            assert loop.time() - t0 < 0.01  # queued, not sent inline
            assert received == []
            await wh.close(timeout=5)
        return received, calls, metrics

    received, calls, metrics = asyncio.run(scenario())
    assert len(calls) == 3
    assert received[0]["kind"] == "funding_extreme" and received[0]["symbol"] == "BTC"
    assert json.dumps(received[0])
    assert metrics.alert_deliveries.labels("delivered")._value.get() == 1


def test_webhook_gives_up_on_4xx_without_retrying():
    async def scenario():
        calls = []

        async def hook(request):
            calls.append(1)
            return web.Response(status=400)

        async with hook_server(hook) as url:
            metrics = Metrics()
            wh = Webhook(url, metrics, retries=4, backoff=0.01)
            wh.start()
            wh.send({"kind": "x"})
            await wh.close(timeout=5)
        return calls, metrics

    calls, metrics = asyncio.run(scenario())
    assert len(calls) == 1
    assert metrics.alert_deliveries.labels("failed")._value.get() == 1
