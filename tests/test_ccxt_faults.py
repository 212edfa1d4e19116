"""Faults through real ccxt: 429s and 5xx are backed off and retried, rejects are not,
an accepted-but-lost submit is never doubled, and a burst stays under Binance's limits."""

import asyncio
import time
from decimal import Decimal as D

import pytest
from ccxt.base.errors import ExchangeError, InvalidNonce, InvalidOrder, NetworkError

from bot.exchanges.localex.guard import Faults, Limits
from bot.types import OrderRequest, OrderStatus, OrderType
from tests.helpers import BTC, run, sim
from tests.venues import venue


def entry(cid: str, amount: str = "0.01", price: str | None = None) -> OrderRequest:
    kind = OrderType.LIMIT if price else OrderType.MARKET
    return OrderRequest(cid, BTC, "buy", kind, D(amount), D(price) if price else None)


def test_injected_429_and_5xx_are_backed_off_and_retried():
    async def go():
        faults = Faults(script=[("POST /fapi/v1/order", "429"),
                                ("POST /fapi/v1/order", "5xx")])
        async with venue("ccxt", faults=faults) as v:
            t0 = time.perf_counter()
            st = await v.gw.create_order(entry("dbot-000001-entry-0"))
            assert st.status is OrderStatus.CLOSED
            assert v.gw.retries == 2 and time.perf_counter() - t0 >= 0.01
            assert v.local.requests["POST /fapi/v1/order"] == 3  # two refused, one placed
            assert v.local.requests["GET /fapi/v1/order"] == 1  # a 5xx may have executed
            assert [o.client_id for o in v.ex.orders.values()] == ["dbot-000001-entry-0"]
    run(go())


def test_invalid_order_is_not_retried():
    async def go():
        async with venue("ccxt") as v:
            with pytest.raises(InvalidOrder):
                await v.gw.create_order(entry("dbot-000001-entry-0", "0.001"))
            assert v.gw.retries == 0 and v.local.requests["POST /fapi/v1/order"] == 1
    run(go())


@pytest.mark.parametrize("fault", ["drop_after", "drop_before"])
def test_a_lost_answer_never_doubles_the_order(fault):
    async def go():
        async with venue("ccxt", faults=Faults(script=[("POST /fapi/v1/order", fault)])) as v:
            st = await v.gw.create_order(entry("dbot-000001-entry-0", price="49000"))
            assert st.client_id == "dbot-000001-entry-0" and st.status is OrderStatus.OPEN
            ours = [o for o in v.ex.orders.values() if o.client_id == "dbot-000001-entry-0"]
            assert len(ours) == 1
            placed = v.local.requests["POST /fapi/v1/order"]
            return placed, len(v.ex.orders)

    placed, orders = run(go())
    assert orders == 1
    # drop_after: the engine took it, the lookup found it, nothing resent (1 POST);
    # drop_before: the lookup found nothing, so it was sent again (2 POSTs)
    assert placed == (1 if fault == "drop_after" else 2)


def test_a_resend_the_exchange_calls_a_duplicate_is_adopted_not_raised():
    """The order landed, its answer was lost, and so was the lookup's: the resend meets
    -4116 (the id is taken — by this very order), which is the lost answer's order."""
    async def go():
        faults = Faults(script=[("POST /fapi/v1/order", "drop_after"),
                                *[("GET /fapi/v1/order", "5xx")] * 5])  # every lookup try
        async with venue("ccxt", faults=faults) as v:
            st = await v.gw.create_order(entry("dbot-000001-entry-0", price="49000"))
            assert st.client_id == "dbot-000001-entry-0" and st.status is OrderStatus.OPEN
            assert v.local.requests["POST /fapi/v1/order"] == 2  # the resend was refused
            assert [o.client_id for o in v.ex.orders.values()] == ["dbot-000001-entry-0"]
    run(go())


def test_timestamp_outside_recv_window_is_refused():
    async def go():
        async with venue("ccxt") as v:
            v.gw.ex.options["recvWindow"] = 1000
            v.gw.ex.milliseconds = lambda: int(time.time() * 1000) - 60_000
            with pytest.raises(NetworkError) as err:
                await v.gw.fetch_balance()
            assert isinstance(err.value, InvalidNonce) and "-1021" in str(err.value)
            # a day-old signed request with a window stretched to cover it: Binance caps the
            # window at a minute; a malformed one is a bad parameter, not a server error
            v.gw.ex.milliseconds = lambda: int(time.time() * 1000) - 86_400_000
            v.gw.ex.options["recvWindow"] = 10**12
            with pytest.raises(ExchangeError) as err:
                await v.gw.ex.fetch_balance()  # ccxt itself, as any client would send it
            assert "-1131" in str(err.value) and "recvWindow must be less than 60000" in str(
                err.value)
            v.gw.ex.milliseconds = lambda: int(time.time() * 1000)
            body = await _signed_get(v.gw.ex.urls["api"]["fapiPrivateV2"], "/account",
                                     f"timestamp={int(time.time() * 1000)}&recvWindow=abc")
            assert body["code"] == -1102 and "'recvWindow'" in body["msg"]
    run(go())


async def _signed_get(base: str, path: str, query: str) -> dict:
    """A request signed as Binance wants it, sent as it is (ccxt drops a malformed value)."""
    import hashlib
    import hmac

    import aiohttp

    sig = hmac.new(b"local-secret", query.encode(), hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as s, s.get(
            f"{base}{path}?{query}&signature={sig}",
            headers={"X-MBX-APIKEY": "local-key"}) as r:
        assert r.status == 400
        return await r.json()


def test_burst_of_500_orders_meets_no_429_at_binance_limits():
    async def go():
        async with venue("ccxt", ex=sim(balance=10**9), limits=Limits()) as v:
            reqs = [entry(f"dbot-{i:06d}-entry-0", "0.01", price="40000") for i in range(500)]
            t0 = time.perf_counter()
            states = await asyncio.gather(*(v.gw.create_order(r) for r in reqs))
            took = time.perf_counter() - t0
            assert all(s.status is OrderStatus.OPEN for s in states)
            assert v.local.rates.counts == {"429": 0, "418": 0}
            assert len(v.ex.open) == 500 and v.gw.retries == 0
            return took

    took = run(go())
    assert took >= 10  # 300 per 10 s: the throttle, not the exchange, held the burst back


@pytest.mark.parametrize("fault", ["drop_after", "drop_before"])
def test_a_transfer_whose_answer_was_lost_moves_the_cash_once(fault):
    """A transfer has no client id: after a lost answer the exchange's transfer history
    says whether it went through — sent again only when it did not."""
    async def go():
        faults = Faults(script=[("POST /sapi/v1/asset/transfer", fault)])
        async with venue("ccxt", faults=faults, spot=True) as v:
            wallet = v.ex.wallet
            await v.gw.transfer("USDT", D("1234.5"), True)
            return (v.local.requests["POST /sapi/v1/asset/transfer"], wallet - v.ex.wallet,
                    v.ex.spot.get("USDT"), len(v.local.transfers))

    posts, moved, spot, transfers = run(go())
    assert (moved, spot, transfers) == (D("1234.5"), D("1234.5"), 1)
    assert posts == (1 if fault == "drop_after" else 2)
