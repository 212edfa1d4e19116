"""`derivbot status`: open positions, working orders and PnL, read from the database."""

from __future__ import annotations

import json
import math
from decimal import ROUND_HALF_EVEN, Decimal

from rich.console import Console
from rich.table import Table

from bot.clock import when
from state.store import Store


def collect(store: Store) -> dict:
    trades = store.trades()
    closed = [t for t in trades if t.state == "closed"]
    working = store.orders(working=True)
    latest = store.latest_equity()
    zero = Decimal(0)
    return {
        "halt": store.get_meta("halt"),
        "stale_venues": store.get_meta("stale_venues", {}),  # market-data venue -> why
        "equity": str(latest.equity) if latest else None,
        "as_of": latest.ts if latest else None,
        "open_trades": [{
            "id": t.id, "symbol": t.symbol, "side": t.side, "state": t.state,
            "filled": str(t.filled - t.exited), "entry": str(t.entry_price),
            "stop": str(t.stop_price), "targets": [p for p, _ in json.loads(t.targets_json)],
            "funding": str(t.funding), "opened_at": t.opened_at,
        } for t in store.open_trades()],
        "working_orders": [{
            "client_id": o.client_id, "symbol": o.symbol, "side": o.side, "type": o.type,
            "amount": str(o.amount), "price": str(o.price or o.stop_price), "state": o.state,
        } for o in working],
        "basis_pairs": [{
            "id": b.id, "perp": b.perp, "state": b.state, "spot_held": str(b.spot_filled),
            "drift": (f"{(b.spot_filled - b.perp_filled) / b.perp_filled:.2%}"
                      if b.perp_filled else ""),
            "perp_short": str(b.perp_filled), "funding": str(b.funding), "fees": str(b.fees),
            "opened_at": b.opened_at,
        } for b in store.open_basis()],
        "basis_pnl": str(sum((b.pnl for b in store.basis_trades()), zero)),
        "closed_trades": len(closed),
        "price_pnl": str(sum((t.realised for t in closed), zero)),
        "fees": str(sum((t.fees for t in closed), zero)),
        "funding": str(sum((t.funding for t in closed), zero)),
        "net_pnl": str(sum((t.realised - t.fees + t.funding for t in closed), zero)),
    }


def price(px: float, tick: Decimal | None) -> str:
    """A price at the market's tick (2 decimals without one)."""
    if px is None or not math.isfinite(px):
        return "n/a"
    step = tick or Decimal("0.01")
    return f"{Decimal(repr(px)).quantize(step, rounding=ROUND_HALF_EVEN):,}"


def cash(value) -> str:
    """Money as a person reads it: to the cent, thousands apart (the JSON keeps every digit)."""
    return "" if value is None else f"{Decimal(str(value)):,.2f}"


def print_status(db: str, as_json: bool = False) -> None:
    store = Store(db)
    try:
        s = collect(store)
    finally:
        store.close()
    if as_json:
        print(json.dumps(s, indent=2))
        return
    con = Console()
    con.print(f"[bold]equity[/] {cash(s['equity'])} as of {when(s['as_of'])}   closed trades "
              f"{s['closed_trades']}   net PnL {cash(s['net_pnl'])} (price "
              f"{cash(s['price_pnl'])}, fees -{cash(s['fees'])}, funding "
              f"{cash(s['funding'])})")
    halt = s["halt"]
    con.print("[bold red]new entries HALTED[/]: " + halt["reason"] + f" (lifts: {halt['release']})"
              if halt else "new entries allowed")
    for venue, why in s["stale_venues"].items():
        con.print(f"[bold yellow]market data from {venue} is stale[/]: {why}")
    pos = Table(title="open positions")
    for col in ("id", "symbol", "side", "state", "size", "entry", "stop", "targets", "funding",
                "opened"):
        pos.add_column(col)
    for t in s["open_trades"]:
        pos.add_row(str(t["id"]), t["symbol"], t["side"], t["state"], t["filled"], t["entry"],
                    t["stop"], ", ".join(f"{p:.2f}" for p in t["targets"]), cash(t["funding"]),
                    when(t["opened_at"]))
    con.print(pos)
    orders = Table(title="working orders")
    for col in ("client id", "symbol", "side", "type", "amount", "price", "state"):
        orders.add_column(col)
    for o in s["working_orders"]:
        orders.add_row(o["client_id"], o["symbol"], o["side"], o["type"], o["amount"],
                       o["price"], o["state"])
    con.print(orders)
    if s["basis_pairs"]:
        pairs = Table(title=f"basis pairs (all pairs' PnL {cash(s['basis_pnl'])})")
        for col in ("id", "perp", "state", "spot held", "perp short", "funding", "fees",
                    "opened"):
            pairs.add_column(col)
        for b in s["basis_pairs"]:
            pairs.add_row(str(b["id"]), b["perp"], b["state"], b["spot_held"], b["perp_short"],
                          cash(b["funding"]), cash(b["fees"]), when(b["opened_at"]))
        con.print(pairs)
