"""The operator's page, served by the bot: pending proposals with Approve / Reject, open
positions with stop and targets, working orders, equity and PnL split, latest signals,
alerts and the halt. A token (from the environment) guards it; every button carries a
CSRF token bound to the session. No CDN: the page and its stylesheet are served here."""

from __future__ import annotations

import hmac
import html
import json
import os
import secrets
import time
from collections.abc import Callable

from aiohttp import web

from bot.operator.status import collect
from state import proposals
from state.store import Store

TOKEN_ENV = "DERIVBOT_OPERATOR_TOKEN"
COOKIE = "derivbot_session"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#1f2328}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #d0d7de;padding:4px 8px}
th{background:#f6f8fa}.halt{color:#b00020;font-weight:bold}button{margin-right:4px}
.ok{color:#116329}"""


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
        csrf = self._csrf(request)
        s = collect(self.store)
        now = self.now()
        e = html.escape
        rows = []
        for p in proposals.listing(self.store, "pending"):
            targets = ", ".join(f"{t[0]:.2f}" for t in json.loads(p.targets_json))
            why = ", ".join(json.loads(p.reasons_json))
            rows.append(
                f"<tr id='proposal-{p.id}'><td>{p.id}</td><td>{e(p.symbol)}</td>"
                f"<td>{p.side}</td><td>{p.size}</td><td>{p.entry:.2f}</td><td>{p.stop:.2f}</td>"
                f"<td>{targets}</td><td>{p.risk_cash:.2f}</td><td>{p.margin:.2f}</td>"
                f"<td>{p.liquidation:.2f}</td><td>{e(why)}</td>"
                f"<td>{max((p.expires_at - now) // 60_000, 0)} min</td><td>"
                + "".join(
                    f"<form method='post' action='/proposals/{p.id}/{a}' style='display:inline'>"
                    f"<input type='hidden' name='csrf' value='{csrf}'>"
                    f"<button id='{a}-{p.id}' type='submit'>{a.title()}</button></form>"
                    for a in ("approve", "reject"))
                + "</td></tr>")
        positions = "".join(
            f"<tr><td>{t['id']}</td><td>{e(t['symbol'])}</td><td>{t['side']}</td>"
            f"<td>{t['state']}</td><td>{t['filled']}</td><td>{t['entry']}</td>"
            f"<td>{t['stop']}</td><td>{', '.join(f'{x:.2f}' for x in t['targets'])}</td></tr>"
            for t in s["open_trades"])
        orders = "".join(
            f"<tr><td>{e(o['client_id'])}</td><td>{e(o['symbol'])}</td><td>{o['side']}</td>"
            f"<td>{o['type']}</td><td>{o['amount']}</td><td>{o['price']}</td></tr>"
            for o in s["working_orders"])
        alerts = "".join(f"<li>{e(a.message)}</li>" for a in self.store.alerts()[-10:])
        signals = "".join(
            f"<tr><td>{e(x.symbol)}</td><td>{e(x.module)}</td><td>{x.direction:+d}</td>"
            f"<td>{x.strength:.2f}</td></tr>" for x in self.store.signals()[-12:])
        halt = s["halt"]
        flash = e(request.query.get("msg", ""))
        body = f"""<!doctype html><html><head><meta charset="utf-8"><title>derivbot</title>
<link rel="stylesheet" href="/static/page.css"></head><body>
<h1>derivbot operator</h1><p class="ok" id="flash">{flash}</p>
<p>equity <b id="equity">{s['equity']}</b> · net PnL {s['net_pnl']} (price {s['price_pnl']},
fees −{s['fees']}, funding {s['funding']}) · closed trades {s['closed_trades']}</p>
<p class="{'halt' if halt else 'ok'}" id="halt">{'HALTED: ' + e(halt['reason']) if halt
                                                    else 'new entries allowed'}</p>
<h2>Pending proposals</h2><table id="proposals"><tr><th>id</th><th>symbol</th><th>side</th>
<th>size</th><th>entry</th><th>stop</th><th>targets</th><th>risk</th><th>margin</th>
<th>liquidation</th><th>signals</th><th>expires</th><th></th></tr>{''.join(rows)}</table>
<h2>Open positions</h2><table><tr><th>trade</th><th>symbol</th><th>side</th><th>state</th>
<th>size</th><th>entry</th><th>stop</th><th>targets</th></tr>{positions}</table>
<h2>Working orders</h2><table><tr><th>client id</th><th>symbol</th><th>side</th><th>type</th>
<th>amount</th><th>price</th></tr>{orders}</table>
<h2>Latest signals</h2><table><tr><th>symbol</th><th>module</th><th>dir</th><th>strength</th>
</tr>{signals}</table><h2>Alerts</h2><ul>{alerts}</ul></body></html>"""
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
