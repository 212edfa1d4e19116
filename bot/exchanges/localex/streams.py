"""Liquidation prints over a websocket, as the venues stream them: Binance USD-M's
`<symbol>@forceOrder` / `!forceOrder@arr` and Bybit v5's `allLiquidation.<symbol>`, from the
priced rows of a data folder's liquidations.csv, each sent once market time reaches it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMsgType, web

from bot.marketdata.layout import MarketData

TICK_S = 0.05  # how often a stream looks at market time
OPEN = web.AppKey("open_streams", set)


def track(app: web.Application) -> web.Application:
    """Close every open stream when the app shuts down (a venue going away drops them)."""
    app[OPEN] = set()

    async def close_all(app: web.Application) -> None:
        for ws in list(app[OPEN]):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
    app.on_shutdown.append(close_all)
    return app


def prints(data: MarketData | None, venue: str, symbol: str, after: int, until: int
           ) -> list[tuple[int, bool, float, float]]:
    """(time, a long liquidated?, amount in base units, price) of each priced row in
    (after, until]; a row with both sides gives two prints."""
    df = None if data is None else data.tables.get((venue, symbol, "liquidations.csv"))
    if df is None or "price" not in df:
        return []
    ts = df["timestamp"].to_numpy()
    out = []
    for r in df[(ts > after) & (ts <= until)].itertuples(index=False):
        for usd, is_long in ((r.long_usd, True), (r.short_usd, False)):
            if usd > 0 and r.price > 0:
                out.append((int(r.timestamp), is_long, usd / r.price, float(r.price)))
    return out


class PrintStream:
    """One websocket connection: subscriptions in, prints out as market time moves."""

    def __init__(self, ws: web.WebSocketResponse, data: MarketData | None, venue: str,
                 now: Callable[[], int], message: Callable[[str, tuple], dict]) -> None:
        self.ws, self.data, self.venue, self.now, self.message = ws, data, venue, now, message
        self.sent: dict[str, int] = {}  # symbol -> market time sent up to

    def subscribe(self, symbol: str) -> None:
        self.sent.setdefault(symbol, self.now())

    async def pump(self) -> None:
        while not self.ws.closed:
            for symbol, after in list(self.sent.items()):
                until = self.now()
                for row in prints(self.data, self.venue, symbol, after, until):
                    await self.ws.send_json(self.message(symbol, row))
                self.sent[symbol] = until
            await asyncio.sleep(TICK_S)


async def serve(request: web.Request, stream_of: Callable[[web.WebSocketResponse],
                                                          PrintStream],
                on_text: Callable[[PrintStream, dict], dict | None]) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    stream = stream_of(ws)
    pump = asyncio.create_task(stream.pump())
    request.app[OPEN].add(ws)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            reply = on_text(stream, json.loads(msg.data))
            if reply is not None:
                await ws.send_json(reply)
    finally:
        pump.cancel()
        request.app[OPEN].discard(ws)
    return ws


class BinanceStreams:
    """Mixed into LocalExchange: needs self.data, self.venue, self.sim, self.by_id."""

    def _force_order(self, symbol: str, row: tuple) -> dict:
        ts, is_long, qty, price = row
        mid = next(i for i, m in self.by_id.items() if m.symbol == symbol)
        q = f"{qty:.6f}"
        return {"e": "forceOrder", "E": ts, "o": {
            "s": mid, "S": "SELL" if is_long else "BUY", "o": "LIMIT", "f": "IOC", "q": q,
            "p": f"{price}", "ap": f"{price}", "X": "FILLED", "l": q, "z": q, "T": ts}}

    def _on_binance(self, stream: PrintStream, msg: dict) -> dict | None:
        if msg.get("method") != "SUBSCRIBE":
            return {"error": {"code": 2, "msg": "Invalid request"}, "id": msg.get("id")}
        for name in msg.get("params", []):
            if name == "!forceOrder@arr":
                for m in self.by_id.values():
                    stream.subscribe(m.symbol)
            elif name.endswith("@forceOrder"):
                m = self.by_id.get(name.split("@")[0].upper())
                if m is not None:
                    stream.subscribe(m.symbol)
        return {"result": None, "id": msg.get("id")}

    async def binance_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await serve(request, lambda ws: PrintStream(
            ws, self.data, self.venue, lambda: self.sim.now, self._force_order),
            self._on_binance)


class BybitStreams:
    """Mixed into BybitVenue: needs self.data, self.name, self.now, self.perps."""

    def _all_liquidation(self, symbol: str, row: tuple) -> dict:
        ts, is_long, qty, price = row
        mid = symbol.split("/")[0] + symbol.split("/")[1].split(":")[0]
        return {"topic": f"allLiquidation.{mid}", "type": "snapshot", "ts": ts,
                "data": [{"T": ts, "s": mid, "S": "Buy" if is_long else "Sell",
                          "v": f"{qty:.6f}", "p": f"{price}"}]}

    def _on_bybit(self, stream: PrintStream, msg: dict) -> dict | None:
        op = msg.get("op")
        if op == "ping":
            return {"success": True, "ret_msg": "pong", "conn_id": "local", "op": "ping",
                    "req_id": msg.get("req_id")}
        if op != "subscribe":
            return {"success": False, "ret_msg": f"unknown op {op}", "conn_id": "local",
                    "op": op, "req_id": msg.get("req_id")}
        ids = {s.split("/")[0] + s.split("/")[1].split(":")[0]: s for s in self.perps}
        for topic in msg.get("args", []):
            channel, _, mid = topic.partition(".")
            if channel == "allLiquidation" and mid in ids:
                stream.subscribe(ids[mid])
        return {"success": True, "ret_msg": "", "conn_id": "local", "op": "subscribe",
                "req_id": msg.get("req_id")}

    async def bybit_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await serve(request, lambda ws: PrintStream(
            ws, self.data, self.name, lambda: self.now, self._all_liquidation),
            self._on_bybit)
