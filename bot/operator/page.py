"""The operator's page, served by the bot: pending proposals as cards (every number a
person decides on, and a chart) with Approve / Reject, the answers and refusals of late,
open positions with mark, unrealised PnL and liquidation, each with Close and Tighten
stop, basis pairs, working orders, equity and PnL split, signals, alerts, and the halt
with Lift; Flatten behind a typed confirmation. It refreshes itself (a small script asks
for its live part every two seconds). A token (from the environment) guards it; every
button carries a CSRF token bound to the session, and every action is audited. The page
is a Jinja2 template (autoescaped); no CDN: the page, its script and stylesheet are
served here."""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.logs import kv
from bot.operator.actions import DeskActions
from bot.operator.card import card
from bot.operator.status import cash, collect, price, when
from state import proposals
from state.store import Store

log = logging.getLogger("derivbot.page")
TOKEN_ENV = "DERIVBOT_OPERATOR_TOKEN"
COOKIE = "derivbot_session"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TEMPLATES = Environment(loader=PackageLoader("bot.operator", "templates"),
                        autoescape=select_autoescape(default=True), trim_blocks=True,
                        lstrip_blocks=True)
PAGE = TEMPLATES.get_template("page.html")
LIVE = TEMPLATES.get_template("live.html")
CSS = (files("bot.operator") / "static" / "page.css").read_text()
JS = (files("bot.operator") / "static" / "page.js").read_text()


class OperatorConfigError(ValueError):
    pass


def token_for(host: str, allow_unauthenticated_loopback: bool = False) -> str | None:
    """The page's token: from the environment; required (else an error) beyond loopback;
    on loopback made now when none is set (printed with the address), unless the page is
    deliberately open there."""
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and host not in LOOPBACK:
        raise OperatorConfigError(f"operator page on {host} needs a token: set {TOKEN_ENV}")
    if token is None and not allow_unauthenticated_loopback:
        token = secrets.token_urlsafe(18)
    return token


class OperatorPage:
    def __init__(self, store: Store, token: str | None, now: Callable[[], int],
                 by: str = "operator-page", actions: DeskActions | None = None,
                 max_sessions: int = 1000, hosts: tuple[str, ...] = ()) -> None:
        self.store, self.token, self.now, self.by = store, token, now, by
        # the Host names it answers to: loopback's and these (its bound address is added
        # by serve)
        self.hosts = {*LOOPBACK, *hosts}
        self.port: int | None = None  # set by serve: the port the page listens on
        self.actions = actions
        # session id -> csrf token; the oldest go first beyond max_sessions
        self.sessions: OrderedDict[str, str] = OrderedDict()
        self.max_sessions = max_sessions

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/", self.index)
        app.router.add_get("/live", self.live)
        app.router.add_get("/static/page.css", self.css)
        app.router.add_get("/static/page.js", self.js)
        app.router.add_get("/proposals/{id}/chart.png", self.chart)
        app.router.add_post("/proposals/{id}/{action}", self.decide)
        app.router.add_post("/trades/{id}/{action}", self.trade_action)
        app.router.add_post("/halt/lift", self.lift)
        app.router.add_post("/flatten", self.flatten)
        app.router.add_get("/api/state", self.api_state)
        app.router.add_post("/alertmanager", self.alertmanager)
        return app

    # ---- auth -----------------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if not self._our_host(request.host) or (
                request.method == "POST" and "Origin" in request.headers
                and not self._our_host(urlsplit(request.headers["Origin"]).netloc)):
            log.warning("refused_request", extra=kv(why="foreign host or origin",
                                                    host=request.host, path=request.path))
            return web.Response(status=403, text="403: unknown Host or Origin\n")
        if request.cookies.get(COOKIE) in self.sessions:
            return await handler(request)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        given = request.query.get("token") or bearer
        if self.token is not None and not hmac.compare_digest(given.encode(),
                                                              self.token.encode()):
            return web.Response(status=401, text="401: a valid operator token is required\n")
        if request.path == "/alertmanager" and request.content_type == "application/json":
            # Alertmanager's webhook: JSON only (a browser cannot send it cross-site
            # without a preflight this server never answers), with the token when set
            return await handler(request)
        if request.method != "GET":  # no session, so no CSRF token: never a write
            return web.Response(status=403, text="403: open the page first\n")
        if bearer and request.path.startswith("/api/"):
            return await handler(request)  # read-only API with the token in a header
        sid = secrets.token_urlsafe(24)
        self.sessions[sid] = secrets.token_urlsafe(24)
        while len(self.sessions) > self.max_sessions:
            self.sessions.popitem(last=False)
        found = web.HTTPFound(request.path)  # drop the token from the address bar
        found.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        raise found

    def _our_host(self, netloc: str) -> bool:
        """A Host (or Origin's host:port) naming this page: the port must be ours too."""
        try:
            parts = urlsplit("//" + netloc)
            host, port = (parts.hostname or "").lower(), parts.port
        except ValueError:
            return False
        return host in self.hosts and (port is None or self.port is None or port == self.port)

    def _csrf(self, request: web.Request) -> str:
        return self.sessions[request.cookies[COOKIE]]

    # ---- pages ----------------------------------------------------------------------------
    async def css(self, _request: web.Request) -> web.Response:
        return web.Response(text=CSS, content_type="text/css")

    async def api_state(self, _request: web.Request) -> web.Response:
        state = collect(self.store)
        state["proposals"] = [json.loads(p.model_dump_json())
                              for p in proposals.listing(self.store, "pending")]
        return web.json_response(state)

    async def js(self, _request: web.Request) -> web.Response:
        return web.Response(text=JS, content_type="application/javascript")

    async def index(self, request: web.Request) -> web.Response:
        body = PAGE.render(live=self._live(request), flash=request.query.get("msg", ""))
        return web.Response(text=body, content_type="text/html")

    async def live(self, request: web.Request) -> web.Response:
        return web.Response(text=self._live(request), content_type="text/html")

    def _live(self, request: web.Request) -> str:
        """The part of the page that changes, as of now."""
        now = self.now()
        a = self.actions
        marks = a.marks() if a else {}
        ticks = a.ticks() if a else {}
        s = collect(self.store)
        cards = []
        for p in proposals.listing(self.store, "pending"):
            lines = (a.describe(p) if a else
                     card(p, math.nan, self.store.last_equity(), None, market_now=now))
            cards.append({"id": p.id, "title": f"{p.strategy} {p.side} {p.symbol}",
                          "lines": lines, "chart": a is not None and p.strategy != "basis"})
        answered = proposals.answered(self.store, 6)
        positions = [self._position(t, marks, ticks, a.liquidation(t) if a else math.nan)
                     for t in self.store.open_trades()]
        return LIVE.render(s=s, cards=cards, answered=answered, positions=positions,
                           csrf=self._csrf(request), market=when(now), wall=when(wall_now()),
                           basis=s["basis_pairs"], signals=self.store.signals(last=12),
                           alerts=self.store.alerts(last=10), actions=a is not None,
                           equity=cash(s["equity"]) if s["equity"] else "")

    def _position(self, t, marks: dict, ticks: dict, liq: float) -> dict:
        tick = ticks.get(t.symbol)
        d = 1 if t.side == "long" else -1
        left = t.filled - t.exited
        entry = float(t.entry_price or t.plan_entry)
        mark = marks.get(t.symbol, float("nan"))
        upnl = (mark - entry) * d * float(left)
        return {"id": t.id, "symbol": t.symbol, "side": t.side, "state": t.state, "size": left,
                "entry": price(entry, tick), "mark": price(mark, tick),
                "upnl": cash(upnl) if math.isfinite(upnl) else "n/a",
                "stop": price(float(t.stop_price or t.plan_stop), tick),
                "liquidation": price(liq, tick),
                "targets": ", ".join(price(px, tick) for px, _ in json.loads(t.targets_json)),
                "opened": when(t.opened_at)}

    async def chart(self, request: web.Request) -> web.Response:
        p = proposals.get(self.store, _int(request.match_info["id"]))
        png = self.actions.chart(p) if p is not None and self.actions else None
        if png is None:
            return web.Response(status=404, text="404: no chart for that proposal\n")
        return web.Response(body=png, content_type="image/png")

    # ---- actions --------------------------------------------------------------------------
    async def _checked(self, request: web.Request) -> dict:
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")).encode(),
                                   self._csrf(request).encode()):
            raise web.HTTPForbidden(text="403: missing or wrong CSRF token\n")
        return dict(form)

    def _done(self, request: web.Request, action: str, target: str, msg: str):
        self.store.audit(wall_now(), self.now(), self.by, f"page {request.remote}", action,
                         target, msg)
        return web.HTTPSeeOther("/?" + urlencode({"msg": msg}))

    async def decide(self, request: web.Request) -> web.Response:
        await self._checked(request)
        action = request.match_info["action"]
        if action not in ("approve", "reject"):
            return web.Response(status=404, text=f"404: unknown action {action!r}\n")
        target = f"proposal {request.match_info['id']}"
        try:
            pid = proposals.parse_id(request.match_info["id"])
            msg = proposals.decide(self.store, pid, action == "approve", self.by, self.now(),
                                   "rejected on the operator page" if action == "reject" else "")
        except proposals.ProposalError as err:
            self.store.audit(wall_now(), self.now(), self.by, f"page {request.remote}", action,
                             target, str(err))
            return web.Response(status=409, text=f"409: {err}\n")
        raise self._done(request, action, target, msg)

    async def trade_action(self, request: web.Request) -> web.Response:
        form = await self._checked(request)
        action, trade_id = request.match_info["action"], _int(request.match_info["id"])
        if action not in ("close", "tighten") or trade_id is None or self.actions is None:
            return web.Response(status=404, text="404: no such action here\n")
        if action == "close":
            msg = await self.actions.ask("close", trade_id, self.by)
        else:
            try:
                level = Decimal(str(form.get("price", "")).replace(",", ""))
                if not level.is_finite() or level <= 0:
                    raise InvalidOperation
            except InvalidOperation:
                msg = f"refused: price {form.get('price', '')!r} is not a positive number"
            else:
                msg = await self.actions.ask("tighten", trade_id, level)
        raise self._done(request, action, f"trade {trade_id}", msg)

    async def lift(self, request: web.Request) -> web.Response:
        await self._checked(request)
        if self.actions is None:
            return web.Response(status=404, text="404: no bot to ask\n")
        raise self._done(request, "lift", "the halt", await self.actions.ask("lift", self.by))

    async def flatten(self, request: web.Request) -> web.Response:
        form = await self._checked(request)
        if self.actions is None:
            return web.Response(status=404, text="404: no bot to ask\n")
        if str(form.get("confirm", "")).strip() != "FLATTEN":
            msg = "refused: type FLATTEN to confirm"
        else:
            msg = await self.actions.ask("flatten", self.by)
        raise self._done(request, "flatten", "the book", msg)


    async def alertmanager(self, request: web.Request) -> web.Response:
        """Alerts routed here by Alertmanager: stored, shown on the page, and told to a
        person (webhook, Telegram) like the bot's own notices."""
        try:
            body = await request.json()
            alerts = list(body["alerts"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400, text="400: not an Alertmanager webhook payload\n")
        for a in alerts:
            labels, notes = a.get("labels", {}), a.get("annotations", {})
            name = labels.get("alertname", "unnamed")
            self.store.add_alert(self.now(), labels.get("symbol", ""), f"alertmanager:{name}",
                                 f"{name} {a.get('status', 'firing')}: "
                                 f"{notes.get('summary', '')}", labels)
        self.store.flush()
        return web.json_response({"stored": len(alerts)})


def _int(text: str) -> int | None:
    try:
        return proposals.parse_id(text)
    except proposals.ProposalError:
        return None


async def serve(page: OperatorPage, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(page.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    page.port = runner.addresses[0][1]
    if host not in ("0.0.0.0", "::"):
        page.hosts.add(host.lower())
    return runner


def wall_now() -> int:
    return int(time.time() * 1000)
