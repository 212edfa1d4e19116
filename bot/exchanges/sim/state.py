"""Save and restore the simulated exchange, so a paper session on it can stop and resume."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

from bot.exchanges.sim.exchange import SimExchange, _Pos
from bot.types import OrderState, OrderStatus, OrderType

_DEC_FIELDS = ("amount", "price", "stop_price", "filled", "average", "fee", "callback_rate")
KEEP_FINAL_MS = 24 * 3_600_000  # finished orders kept this long: a restart may look them up


def _order_to_json(o: OrderState) -> dict:
    d = {f: getattr(o, f) for f in OrderState.__slots__}
    for f in _DEC_FIELDS:
        d[f] = None if d[f] is None else str(d[f])
    d["type"], d["status"] = o.type.value, o.status.value
    return d


def _order_from_json(d: dict) -> OrderState:
    d = dict(d)
    for f in _DEC_FIELDS:
        d[f] = None if d.get(f) is None else Decimal(d[f])
    d["type"], d["status"] = OrderType(d["type"]), OrderStatus(d["status"])
    return OrderState(**d)


def dump(sim: SimExchange) -> dict:
    """The exchange's state: open orders and those finished within the last day (a bot
    restarting after a crash looks up only orders it had not yet seen finish), so the
    state stays small however long the session runs."""
    recent = sim.now - KEEP_FINAL_MS
    orders = [o for o in sim.orders.values()
              if o.client_id in sim.open or o.timestamp >= recent or o.timestamp == 0]
    return {
        "wallet": str(sim.wallet),
        "spot": {k: str(v) for k, v in sim.spot.items()},
        "transferred": str(sim.transferred),
        "leverage": sim.leverage,
        "positions": {s: [str(p.contracts), str(p.entry), str(p.margin), p.leverage]
                      for s, p in sim.positions.items()},
        "orders": [_order_to_json(o) for o in orders],
        "fees_paid": str(sim.fees_paid),
        "funding_paid": str(sim.funding_paid),
        "open": list(sim.open),
        "triggered": sorted(sim.triggered),
        "trail": {cid: str(best) for cid, best in sim.trail.items()},
        "last": sim.last,
        "now": sim.now,
        "seq": sim.seq,
    }


def restore(sim: SimExchange, d: dict) -> None:
    sim.wallet = Decimal(d["wallet"])
    sim.spot = {k: Decimal(v) for k, v in d["spot"].items()}
    sim.transferred = Decimal(d.get("transferred", "0"))
    sim.leverage = dict(d["leverage"])
    sim.positions = {s: _Pos(Decimal(c), Decimal(e), Decimal(m), lev)
                     for s, (c, e, m, lev) in d["positions"].items()}
    sim.orders = {o["client_id"]: _order_from_json(o) for o in d["orders"]}
    sim.open = {cid: sim.orders[cid] for cid in d["open"]}
    sim.triggered = set(d.get("triggered", ()))
    sim.trail = {cid: Decimal(best) for cid, best in d.get("trail", {}).items()}
    sim.last = dict(d["last"])
    sim.now, sim.seq = d["now"], d["seq"]
    sim.fees_paid = Decimal(d.get("fees_paid", "0"))
    sim.funding_paid = Decimal(d.get("funding_paid", "0"))


def save(sim: SimExchange, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dump(sim)))
    os.replace(tmp, path)  # atomic: a crash leaves the old or the new file, never half


def load(sim: SimExchange, path: Path) -> bool:
    if not path.exists():
        return False
    restore(sim, json.loads(path.read_text()))
    return True
