"""The operator's page, served by the bot: pending proposals with Approve / Reject, open
positions with stop and targets, working orders, equity and PnL split, latest signals,
alerts and the halt. A token (from the environment) guards it; every button carries a
CSRF token bound to the session. The page is a Jinja2 template (autoescaped); no CDN:
the page and its stylesheet are served here."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from importlib.resources import files

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from bot.operator.status import collect
from state import proposals
from state.store import Store

TOKEN_ENV = "DERIVBOT_OPERATOR_TOKEN"
COOKIE = "derivbot_session"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TEMPLATES = Environment(loader=PackageLoader("bot.operator", "templates"),
                        autoescape=select_autoescape(default=True), trim_blocks=True,
                        lstrip_blocks=True)
PAGE = TEMPLATES.get_template("page.html")
CSS = (files("bot.operator") / "static" / "page.css").read_text()


class OperatorConfigError(ValueError):
    pass


def token_for(host: str) -> str | None:
    """The page's token; required (else an error) when bound beyond loopback."""
    token = os.environ.get(TOKEN_ENV) or None
    if token is None and host not in LOOPBACK:
        raise OperatorConfigError(f"operator page on {host} needs a token: set {TOKEN_ENV}")
    return token


class OperatorPage:
    def __init__(self, store: Store, token: str | None, now: Callable[[], int],
                 by: str = "operator-page") -> None:
        self.store, self.token, self.now, self.by = store, token, now, by
        self.sessions: dict[str, str] = {}  # session id -> csrf token

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/", self.index)
        app.router.add_get("/static/page.css", self.css)
        app.router.add_post("/proposals/{id}/{action}", self.decide)
        app.router.add_get("/api/state", self.api_state)
        return app

    # ---- auth -----------------------------------------------------------------------------
    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.cookies.get(COOKIE) in self.sessions:
            return await handler(request)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        given = request.query.get("token") or bearer
        if self.token is not None and not hmac.compare_digest(given, self.token):
            return web.Response(status=401, text="401: a valid operator token is required\n")
        if request.method != "GET":  # no session, so no CSRF token: never a write
            return web.Response(status=403, text="403: open the page first\n")
        if bearer and request.path.startswith("/api/"):
            return await handler(request)  # read-only API with the token in a header
        sid = secrets.token_urlsafe(24)
        self.sessions[sid] = secrets.token_urlsafe(24)
        found = web.HTTPFound(request.path)  # drop the token from the address bar
        found.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        raise found

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

    async def index(self, request: web.Request) -> web.Response:
        now = self.now()
        pending = [{"id": p.id, "symbol": p.symbol, "side": p.side, "size": p.size,
                    "entry": p.entry, "stop": p.stop, "risk_cash": p.risk_cash,
                    "margin": p.margin, "liquidation": p.liquidation,
                    "targets": ", ".join(f"{t[0]:.2f}" for t in json.loads(p.targets_json)),
                    "signals": ", ".join(json.loads(p.reasons_json)),
                    "minutes_left": max((p.expires_at - now) // 60_000, 0)}
                   for p in proposals.listing(self.store, "pending")]
        body = PAGE.render(s=collect(self.store), pending=pending, csrf=self._csrf(request),
                           flash=request.query.get("msg", ""),
                           signals=self.store.signals()[-12:], alerts=self.store.alerts()[-10:])
        return web.Response(text=body, content_type="text/html")

    async def decide(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), self._csrf(request)):
            return web.Response(status=403, text="403: missing or wrong CSRF token\n")
        action = request.match_info["action"]
        if action not in ("approve", "reject"):
            return web.Response(status=404, text=f"404: unknown action {action!r}\n")
        try:
            pid = proposals.parse_id(request.match_info["id"])
            msg = proposals.decide(self.store, pid, action == "approve", self.by, self.now(),
                                   "rejected on the operator page" if action == "reject" else "")
        except proposals.ProposalError as err:
            return web.Response(status=409, text=f"409: {err}\n")
        raise web.HTTPSeeOther(f"/?msg={msg.replace(' ', '+')}")


async def serve(page: OperatorPage, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(page.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def wall_now() -> int:
    return int(time.time() * 1000)
