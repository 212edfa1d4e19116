"""The client works with what Binance really sends: trade rows that name the order by its id
(no client order id, no liquidation flag), liquidations known from /fapi/v1/forceOrders."""

from __future__ import annotations

from decimal import Decimal as D

from bot.types import Fill, OrderRequest, OrderType
from tests.helpers import BTC, HOUR, T0, run, sim
from tests.venues import venue

BINANCE_TRADE_FIELDS = {"symbol", "id", "orderId", "side", "price", "qty", "realizedPnl",
                        "marginAsset", "quoteQty", "commission", "commissionAsset", "time",
                        "positionSide", "buyer", "maker"}  # GET /fapi/v1/userTrades


def test_fills_are_matched_by_order_id_and_a_liquidation_by_force_orders():
    async def go():
        ex = sim(taker=0)
        ex.set_leverage(BTC, 10)
        async with venue("ccxt", ex=ex) as v:
            await v.gw.create_order(OrderRequest("dbot-000001-entry-0", BTC, "buy",
                                                 OrderType.MARKET, D(1)))
            await v.gw.create_order(OrderRequest("dbot-000001-stop-0", BTC, "sell",
                                                 OrderType.STOP_MARKET, D(1),
                                                 stop_price=D(40000), reduce_only=True))
            events = await v.gw.poll_events()  # the entry's fill, read once it filled
            v.candle(BTC, T0 + HOUR, 50_000, 50_100, 43_000, 43_500)  # liquidated at 45 200
            events += await v.gw.poll_events()
            return events, v.local.trades, v.local.force_orders

    events, rows, forced = run(go())
    assert rows and all(set(r) == BINANCE_TRADE_FIELDS for r in rows)
    fills = [e for e in events if isinstance(e, Fill)]
    entry = [f for f in fills if not f.liquidation]
    liquidation = [f for f in fills if f.liquidation]
    assert [f.client_id for f in entry] == ["dbot-000001-entry-0"]  # by its order id
    assert len(liquidation) == 1 and liquidation[0].client_id == ""
    assert liquidation[0].amount == D(1) and liquidation[0].exchange_id == str(
        forced[0]["orderId"])
    assert forced[0]["clientOrderId"].startswith("autoclose-")


def test_funding_answers_as_binance_every_market_the_latest_prints_plain_decimals(synth_dir):
    import aiohttp

    from bot.app.modes import build_markets, build_sim
    from bot.config import parse_config
    from bot.exchanges.ccxt.gateway import CcxtGateway
    from bot.exchanges.localex import LocalExchange, api_urls, start
    from bot.marketdata import layout

    cfg = parse_config({})
    data = layout.load(synth_dir, symbols=cfg.data.symbols)
    funding = data.tables[("binanceusdm", BTC, "funding.csv")]
    now = int(funding["timestamp"].iloc[400])

    async def go():
        local = LocalExchange(build_sim(cfg, build_markets(data, cfg.data.symbols)), data)
        local.advance(now)
        runner, base = await start(local)
        gw = CcxtGateway("binanceusdm", "local-key", "local-secret", urls=api_urls(base),
                         rate_limit_ms=0)
        try:
            await gw.load_markets()
            every = await gw.ex.fetch_funding_rates()  # premiumIndex without a symbol
            latest = await gw.ex.fetch_funding_rate_history(BTC)  # no startTime: the newest
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{base}/fapi/v1/fundingRate?symbol=BTCUSDT") as r:
                    raw = await r.json()
                async with http.get(f"{base}/fapi/v1/nowhere") as r:
                    missing = (r.status, await r.json())
            return every, latest, raw, missing
        finally:
            await gw.close()
            await runner.cleanup()

    every, latest, raw, missing = run(go())
    assert set(every) == set(cfg.data.symbols)
    want = funding[funding["timestamp"] <= now].tail(100)
    assert [r["timestamp"] for r in latest] == want["timestamp"].tolist()
    assert latest[-1]["fundingRate"] == float(f"{want['rate'].iloc[-1]:.8f}")
    assert all("e" not in r["fundingRate"].lower() and r["markPrice"] for r in raw)
    assert missing[0] == 404 and set(missing[1]) == {"code", "msg"}
