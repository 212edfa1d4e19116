"""Opt-in checks against a real exchange testnet: `pytest -m testnet` with keys exported.
Never run in CI (no keys there, and CI has no network)."""

import os

import pytest

from bot.exchanges.ccxt.gateway import CcxtGateway
from tests.helpers import run

KEY, SECRET = os.environ.get("DERIVBOT_API_KEY"), os.environ.get("DERIVBOT_API_SECRET")
pytestmark = [pytest.mark.testnet,
              pytest.mark.skipif(not (KEY and SECRET) or os.environ.get("CI") == "true",
                                 reason="testnet keys not set (DERIVBOT_API_KEY/SECRET)")]


def test_testnet_markets_and_balance():
    async def go():
        gw = CcxtGateway("binanceusdm", KEY, SECRET, testnet=True,
                         symbols=("BTC/USDT:USDT",))
        try:
            markets = await gw.load_markets()
            assert markets["BTC/USDT:USDT"].amount_step > 0
            bal = await gw.fetch_balance()
            assert bal.equity >= 0
        finally:
            await gw.close()
    run(go())
