"""The market-data plane: the venues the signals read, apart from where orders go.

Each venue is a public ccxt client (no keys) polled on its own clock (its server time), for
closed perp and spot candles, settled funding with each market's interval, and open
interest. A venue whose poll fails, or whose newest candle is older than `stale_after`, is
stale: the bot is told (its funding, OI and liquidations leave every view, the modules that
need them abstain saying so), the metric and the status show it, and the others go on.
Its cursors stay where they were, so the poll that reaches it again fetches the gap."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bot.clock import VenueClock, when
from bot.config import MarketDataConfig
from bot.exchanges.ccxt.data import CcxtFeed
from bot.exchanges.ccxt.gateway import CcxtGateway
from bot.exchanges.ccxt.options import OptionsFeed
from bot.exchanges.ccxt.requests import UNREACHABLE
from bot.exchanges.ccxt.streams import LiquidationStream, streams_liquidations
from bot.exchanges.localex import api_urls
from bot.logs import kv
from bot.marketdata.layout import EVENT_ORDER, Event
from bot.markets import split_symbol
from strategies.types import OptionsChain

log = logging.getLogger("derivbot.marketdata")


def public_gateway(venue: str, local_url: str = "") -> CcxtGateway:
    """A venue's public endpoints (mainnet), or a local venue serving its dialect."""
    gw = CcxtGateway(venue, testnet=False, attempts=1,  # the next poll is the retry
                     streams=streams_liquidations(venue))
    gw.ex.options.update(gw.profile.public_options)
    if local_url:
        api = gw.ex.urls["api"]
        ws = "ws" + local_url.removeprefix("http")
        if venue == "binanceusdm":
            gw.ex.urls["api"] = {**api_urls(local_url), "ws": {**api.get("ws", {}),
                                                               "linear": f"{ws}/ws"}}
        else:
            gw.ex.urls["api"] = {k: local_url for k in api if k != "ws"}
            if "ws" in api:
                gw.ex.urls["api"]["ws"] = {"public": {"linear": f"{ws}/v5/public/linear"}}
    return gw


@dataclass
class Health:
    """Whether a source is current: `stale` says why not (None: it is)."""

    name: str
    stale: str | None = "not polled yet"
    polled: int = 0  # successful polls


@dataclass(kw_only=True)
class VenueState(Health):
    feed: CcxtFeed
    ready: bool = False  # its markets are loaded
    events: int = 0
    stream: LiquidationStream | None = None  # its liquidation prints, when it streams them
    polled_at: int = 0  # the venue's time at its last successful poll


class MarketPlane:
    def __init__(self, gateways: dict[str, CcxtGateway], symbols: tuple[str, ...],
                 cfg: MarketDataConfig, clock: VenueClock | None = None, metrics=None,
                 record: Callable[[list[Event]], object] | None = None,
                 on_status: Callable[[str, str | None], None] | None = None,
                 on_options: Callable[[str, OptionsChain], None] | None = None) -> None:
        """`symbols`: the perps read (ccxt form); each venue's spot market beside them when it
        lists one. `on_status(venue, why)`: told when a venue goes stale (why) or is back."""
        self.cfg, self.clock, self.metrics = cfg, clock or VenueClock(), metrics
        self.record, self.on_status, self.on_options = record, on_status, on_options
        self.perps = symbols
        self.options = (OptionsFeed(symbols, cfg.local_urls.get("deribit", ""),
                                    cfg.options_every_s) if cfg.options else None)
        self.options_health = Health("deribit")
        self.chains: dict[str, OptionsChain] = {}
        self.shared: CcxtGateway | None = None  # the trading gateway, closed by its owner
        self._held: list[Event] = []  # arrived, beyond what every fresh venue has reached
        self.venues = {name: VenueState(name, feed=CcxtFeed(gw, (), cfg.history_bars))
                       for name, gw in gateways.items()}

    @classmethod
    def from_config(cls, cfg: MarketDataConfig, symbols: tuple[str, ...],
                    shared: CcxtGateway | None = None, **kw) -> MarketPlane:
        """One public client per venue; `shared`: the trading gateway, used for its own
        venue when both reach the same endpoints (one rate limiter for both)."""
        gws = {venue: shared if shared is not None and shared.name == venue
               else public_gateway(venue, cfg.local_urls.get(venue, "")) for venue in cfg.venues}
        plane = cls(gws, symbols, cfg, **kw)
        plane.shared = shared
        return plane

    async def _load(self, v: VenueState) -> None:
        gw = v.feed.gw
        markets = await gw.call("markets", gw.ex.load_markets)
        wanted = []
        for perp in self.perps:
            base, quote, _ = split_symbol(perp)
            wanted += [s for s in (perp, f"{base}/{quote}") if s in markets]
        v.feed.symbols = tuple(wanted)
        v.ready = True
        if self.cfg.liquidations and streams_liquidations(v.name) and hasattr(
                gw.ex, "watch_liquidations"):
            v.stream = LiquidationStream(gw, tuple(s for s in wanted if ":" in s))
            v.stream.start()

    async def _poll_venue(self, v: VenueState) -> list[Event]:
        gw = v.feed.gw
        try:
            if not v.ready:
                await self._load(v)
            now = await gw.call("time", gw.ex.fetch_time)
            self.clock.learn(int(now))
            events = await v.feed.poll(int(now))
            if v.stream is not None:
                events += v.stream.drain()
        except UNREACHABLE as err:
            self._unreachable(v, err)
            return []
        v.polled += 1
        v.polled_at = int(now)
        v.events += len(events)
        newest = v.feed.newest_bar()
        late = newest is not None and now - newest > self.cfg.stale_after_s * 1000
        self._status(v, f"no new candle since {when(newest)}" if late else None)
        if self.metrics is not None and newest is not None:
            self.metrics.venue_age.labels(v.name).set(max(now - newest, 0) / 1000)
        return events

    def _unreachable(self, v: Health, err: Exception) -> None:
        if v.stale is None or not v.stale.startswith("unreachable"):  # keep the first time
            self._status(v, f"unreachable ({type(err).__name__}) since "
                            f"{when(self.clock.now())}")

    def _status(self, v: Health, why: str | None) -> None:
        if why == v.stale:
            return
        if why is None:
            log.info("venue_ready" if v.polled == 1 and v.stale == "not polled yet"
                     else "venue_back", extra=kv(venue=v.name, was=v.stale))
        else:
            log.warning("venue_stale", extra=kv(venue=v.name, why=why))
        v.stale = why
        if self.metrics is not None:
            self.metrics.venue_stale.labels(v.name).set(0 if why is None else 1)
        if self.on_status is not None:
            self.on_status(v.name, why)

    async def poll(self) -> list[Event]:
        """One poll of every venue at once; what arrived, oldest first (recorded first).
        An instant is handed on once every venue that is not stale has been read up to it,
        so a decision on a bar sees every venue's data of that instant, not just the
        quickest venue's."""
        batches = await asyncio.gather(*(self._poll_venue(v) for v in self.venues.values()))
        if self.options is not None and self.options.due(self.clock.now()):
            await self._poll_options()
        arrived = sorted((e for b in batches for e in b), key=EVENT_ORDER)
        if arrived and self.record is not None:
            self.record(arrived)
        held = list(heapq.merge(self._held, arrived, key=EVENT_ORDER))
        fresh = [v.polled_at for v in self.venues.values() if v.stale is None]
        horizon = min(fresh) if fresh else max((e.seen for e in held), default=0)
        cut = next((i for i, e in enumerate(held) if e.seen > horizon), len(held))
        self._held = held[cut:]
        return held[:cut]

    async def _poll_options(self) -> None:
        """Deribit's chains; a failure marks the options stale (options_positioning then
        abstains saying so) until a read succeeds."""
        try:
            self.chains = await self.options.poll(self.clock.now())
        except UNREACHABLE as err:
            self.options.asked_at = self.clock.now()  # asked again at the next due time
            self._unreachable(self.options_health, err)
            return
        self.options_health.polled += 1
        self._status(self.options_health, None)
        if self.on_options is not None:
            for symbol, chain in self.chains.items():
                self.on_options(symbol, chain)

    def status(self) -> dict[str, dict]:
        """Each venue: stale or not (and why), polls made, events received."""
        out = {n: {"stale": v.stale, "polls": v.polled, "events": v.events,
                   "symbols": list(v.feed.symbols),
                   "liquidations": None if v.stream is None else v.stream.received}
               for n, v in self.venues.items()}
        if self.options is not None:
            out["deribit"] = {"stale": self.options_health.stale, "polls":
                              self.options_health.polled, "chains": sorted(self.chains)}
        return out

    async def stream(self) -> AsyncIterator[list[Event]]:
        """Every poll, even an empty one: the loop also has approvals to look at."""
        while True:
            started = time.monotonic()
            yield await self.poll()
            await asyncio.sleep(max(self.cfg.poll_s - (time.monotonic() - started), 0))

    async def close(self) -> None:
        if self.options is not None:
            await self.options.close()
        for v in self.venues.values():
            if v.stream is not None:
                await v.stream.stop()
            if v.feed.gw is not self.shared:
                await v.feed.gw.close()
