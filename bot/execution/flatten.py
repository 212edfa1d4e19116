"""The kill switch: cancel every bot order and close every bot position, reduce-only."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bot.execution.orders import OrderManager
from bot.logs import kv
from bot.types import CLIENT_PREFIX, OrderRequest, OrderType

log = logging.getLogger("derivbot.flatten")


@dataclass
class FlattenReport:
    trades_closed: list[int] = field(default_factory=list)
    orders_cancelled: list[str] = field(default_factory=list)
    positions_closed: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)  # orders the bot does not own
    pairs_closed: list[int] = field(default_factory=list)  # basis pairs: both legs


async def flatten(om: OrderManager) -> FlattenReport:
    r = FlattenReport()
    for trade_id in list(om.active):
        await om.close_trade(trade_id, "flatten")
        r.trades_closed.append(trade_id)
    if om.basis is not None:  # spot sold and the short bought back, as pair orders
        for pair in list(om.basis.active.values()):
            await om.basis.close(pair, "flatten")
            r.pairs_closed.append(pair.id)
    for st in await om.gw.fetch_open_orders():
        if st.client_id.startswith(f"{CLIENT_PREFIX}-"):
            await om.gw.cancel_order(st.symbol, st.client_id)
            r.orders_cancelled.append(st.client_id)
        else:
            r.left_alone.append(st.client_id)
    for i, pos in enumerate(await om.gw.fetch_positions()):
        if pos.contracts == 0:
            continue
        market = om.markets[pos.symbol]
        side = "sell" if pos.contracts > 0 else "buy"
        cid = f"{CLIENT_PREFIX}-flat-{int(time.time())}-{i}"
        await om.gw.create_order(OrderRequest(cid, pos.symbol, side, OrderType.MARKET,
                                              market.amount_to_precision(abs(pos.contracts)),
                                              reduce_only=True))
        r.positions_closed.append(pos.symbol)
    await om.sync()
    om.store.set_meta("last_flatten", {"at": om.clock.now(), "trades": r.trades_closed,
                                       "pairs": r.pairs_closed, "orders": r.orders_cancelled,
                                       "positions": r.positions_closed})
    log.warning(
        "flatten",
        extra=kv(
            trades=r.trades_closed,
            pairs=r.pairs_closed,
            orders=r.orders_cancelled,
            positions=r.positions_closed,
            left_alone=r.left_alone,
        ),
    )
    return r


def with_basis(om: OrderManager, cfg) -> OrderManager:
    """Give the kill switch the basis executor, so open pairs close leg by leg."""
    from bot.execution.basis import BasisDesk
    from bot.marketdata.history import History

    if cfg.basis.enabled:
        om.basis = BasisDesk.from_config(om.gw, om.store, om.markets, om.clock,
                                         History(cfg.exchange.venue), cfg)
    return om
