"""A local Telegram Bot API on loopback: answers the methods the desk uses as the real API
does (JSON `{"ok": true, "result": ...}`), records every request, and hands out the
updates a test queues — presses of inline buttons and commands — through getUpdates."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

from aiohttp import web

BOT = {"id": 7001, "is_bot": True, "first_name": "derivbot", "username": "derivbot_bot",
       "can_join_groups": True, "can_read_all_group_messages": False,
       "supports_inline_queries": False}


class FakeBotAPI:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict]] = []  # (method, params) in order
        self.photos: list[bytes] = []
        self.updates: list[dict] = []
        self._ids = itertools.count(1)
        self._msg = itertools.count(100)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=20 * 2**20)
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- what a test does ----------------------------------------------------------------
    def press(self, chat_id: int, user: str, data: str, message_id: int = 100) -> None:
        who = {"id": chat_id, "is_bot": False, "first_name": user, "username": user}
        self.updates.append({"update_id": next(self._ids), "callback_query": {
            "id": f"q{len(self.updates)}", "from": who, "chat_instance": "c", "data": data,
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"}, "from": BOT,
                        "text": "proposal"}}})

    def command(self, chat_id: int, user: str, text: str) -> None:
        who = {"id": chat_id, "is_bot": False, "first_name": user, "username": user}
        self.updates.append({"update_id": next(self._ids), "message": {
            "message_id": next(self._msg), "date": int(time.time()), "from": who,
            "chat": {"id": chat_id, "type": "private"}, "text": text,
            "entities": [{"type": "bot_command", "offset": 0,
                          "length": len(text.split()[0])}]}})

    def sent(self, method: str) -> list[dict]:
        return [p for m, p in self.calls if m == method]

    async def until(self, check, timeout: float = 10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = check()
            if got:
                return got
            await asyncio.sleep(0.05)
        raise AssertionError("the fake Bot API never saw what was expected")

    # ---- the API ---------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params: dict = {}
        if request.content_type == "application/json":
            params = await request.json() if request.can_read_body else {}
        else:
            form = await request.post()
            for k, v in form.items():
                if hasattr(v, "file"):
                    self.photos.append(v.file.read())
                    params[k] = "<file>"
                else:
                    params[k] = v
        self.calls.append((method, params))
        return web.json_response({"ok": True, "result": await self._result(method, params)})

    async def _result(self, method: str, params: dict):
        if method == "getMe":
            return BOT
        if method in ("deleteWebhook", "answerCallbackQuery", "setMyCommands"):
            return True
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            waiting = [u for u in self.updates if u["update_id"] >= offset]
            if not waiting:
                await asyncio.sleep(0.05)
            return waiting
        if method in ("sendMessage", "sendPhoto"):
            chat = int(params["chat_id"])
            msg = {"message_id": next(self._msg), "date": int(time.time()), "from": BOT,
                   "chat": {"id": chat, "type": "private"}}
            if method == "sendPhoto":
                msg["photo"] = [{"file_id": "p1", "file_unique_id": "u1", "width": 800,
                                 "height": 450}]
                msg["caption"] = params.get("caption", "")
            else:
                msg["text"] = params.get("text", "")
            markup = params.get("reply_markup")
            if markup:
                msg["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
            return msg
        return True
