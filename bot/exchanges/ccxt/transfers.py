"""Cash between a venue's futures and spot wallets, moved at most once."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from ccxt.base.errors import NetworkError

from bot.logs import kv

log = logging.getLogger("derivbot.ccxt")


async def transfer_once(gw, asset: str, amount: Decimal, to_spot: bool) -> None:
    """A transfer carries no client id, so an answer lost on the way (it may have gone
    through) is settled by the exchange's transfer history — one more of this kind and size
    than before it was sent means it did — never by sending it blind again."""
    src, dst = ("linear", "spot") if to_spot else ("spot", "linear")
    before = await _transfers(gw, asset, amount, src, dst)
    for attempt in range(1, gw.requests.attempts + 1):
        try:
            await gw.call("transfer", gw.ex.transfer, asset, float(amount), src, dst,
                          retry=False)
            return
        except NetworkError as err:
            if len(await _transfers(gw, asset, amount, src, dst)) > len(before):
                log.info("transfer_found", extra=kv(asset=asset, amount=amount,
                                                    lost=repr(err)[:120]))
                return
            if attempt == gw.requests.attempts:
                raise
            await asyncio.sleep(gw.requests.base_wait * 2 ** attempt)


async def _transfers(gw, asset: str, amount: Decimal, src: str, dst: str) -> list:
    """The last hour's transfers of this asset and size between these two wallets (by
    the exchange's clock)."""
    since = await gw.call("time", gw.ex.fetch_time) - 3_600_000
    rows = await gw.call("transfers", gw.ex.fetch_transfers, asset, since, 100,
                         {"fromAccount": src, "toAccount": dst})
    return [r for r in rows if Decimal(str(r["amount"])) == amount]
