"""The desk on a phone, through python-telegram-bot: every notice to the configured chats
(a proposal as its card and chart, with Approve / Reject buttons), and a person's answers
back — only from those chats, each audited (who, when, from where, what came of it) and
carried out at most once, as the page's buttons are. Commands: /status, /positions,
/halt (new entries), /flatten (after a confirming press)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.config import TelegramConfig
from bot.logs import kv
from bot.operator.actions import DeskActions
from bot.operator.notices import Notice
from state import proposals
from state.store import Store

log = logging.getLogger("derivbot.telegram")
CAPTION = 1024  # Telegram's limit on a photo's caption


class TelegramDesk:
    def __init__(self, cfg: TelegramConfig, token: str, store: Store,
                 actions: DeskActions) -> None:
        self.cfg, self.store, self.actions = cfg, store, actions
        self.allowed = set(cfg.chat_ids)
        self.app = (Application.builder().token(token).base_url(cfg.base_url)
                    .base_file_url(cfg.base_url.replace("/bot", "/file/bot")).build())
        self.app.add_handler(CallbackQueryHandler(self._press))
        for name, handler in (("status", self._status), ("positions", self._positions),
                              ("halt", self._halt), ("flatten", self._flatten)):
            self.app.add_handler(CommandHandler(name, handler))
        self.queue: asyncio.Queue[Notice] = asyncio.Queue(500)
        self._sender: asyncio.Task | None = None

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.start()
        await self.app.updater.start_polling(poll_interval=self.cfg.poll_interval, timeout=1)
        self._sender = asyncio.get_running_loop().create_task(self._send_all())

    async def stop(self) -> None:
        """Deliver what is queued (for a moment), then stop polling."""
        try:
            await asyncio.wait_for(self.queue.join(), 3.0)
        except TimeoutError:
            pass
        if self._sender is not None:
            self._sender.cancel()
        if self.app.updater.running:
            await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()

    def tell(self, notice: Notice) -> None:
        """Queue a notice; when the queue is full the oldest waiting one is dropped."""
        if self.queue.full():
            self.queue.get_nowait()
            self.queue.task_done()
        self.queue.put_nowait(notice)

    async def _send_all(self) -> None:
        while True:
            notice = await self.queue.get()
            try:
                for chat in self.cfg.chat_ids:
                    await self._send(chat, notice)
            except Exception as err:  # noqa: BLE001 - a lost message must not stop the bot
                log.warning("telegram_undelivered", extra=kv(kind=notice.kind, error=repr(err)))
            finally:
                self.queue.task_done()

    async def _send(self, chat: int, notice: Notice) -> None:
        pid = notice.data.get("proposal")
        p = proposals.get(self.store, pid) if notice.kind == "proposal" and pid else None
        if p is None:
            await self.app.bot.send_message(chat, notice.text)
            return
        lines, png = self.actions.describe(p), self.actions.chart(p)
        text = "\n".join(f"{k}: {v}" for k, v in lines)
        keys = InlineKeyboardMarkup([[
            InlineKeyboardButton("Approve", callback_data=f"approve:{p.id}"),
            InlineKeyboardButton("Reject", callback_data=f"reject:{p.id}")]])
        head = f"Proposal #{p.id}\n"
        if png is not None:
            await self.app.bot.send_photo(chat, png, caption=(head + text)[:CAPTION],
                                          reply_markup=keys)
        else:
            await self.app.bot.send_message(chat, head + text, reply_markup=keys)

    # ---- a person's side ---------------------------------------------------------------
    def _who(self, update: Update) -> tuple[str, str, bool]:
        user, chat = update.effective_user, update.effective_chat
        who = (f"@{user.username}" if user and user.username else
               f"user {user.id}" if user else "unknown")
        chat_id = chat.id if chat else 0
        return who, f"telegram chat {chat_id}", chat_id in self.allowed

    def _audit(self, who: str, where: str, action: str, target: str, result: str) -> None:
        self.store.audit(proposals.wall_ms(), self.actions.market_now(), who, where, action,
                         target, result)

    async def _press(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        who, where, allowed = self._who(update)
        action, _, arg = (query.data or "").partition(":")
        target = f"proposal {arg}" if action in ("approve", "reject") else "the book"
        if not allowed:
            result = "refused: this chat may not act on the bot"
        elif action in ("approve", "reject"):
            try:
                result = proposals.decide(self.store, proposals.parse_id(arg),
                                          action == "approve", f"{who} (telegram)",
                                          self.actions.market_now())
            except proposals.ProposalError as err:
                result = str(err)
        elif action == "flatten" and arg == "yes":
            result = await self.actions.flatten(f"{who} (telegram)")
        elif action == "flatten":
            result = "flatten cancelled"
        else:
            result = f"unknown button {query.data!r}"
        self._audit(who, where, action, target, result)
        await query.answer(result[:200])
        if allowed and update.effective_chat:
            await self.app.bot.send_message(update.effective_chat.id, result)

    async def _command(self, update: Update, action: str,
                       run: Callable[[str], str | Awaitable[str]]) -> None:
        who, where, allowed = self._who(update)
        if not allowed:
            self._audit(who, where, action, "", "refused: this chat may not act on the bot")
            return
        result = run(who)
        if asyncio.iscoroutine(result):
            result = await result
        self._audit(who, where, action, "", result.splitlines()[0] if result else "")
        await self.app.bot.send_message(update.effective_chat.id, result or "(nothing)")

    async def _status(self, update: Update, _c: ContextTypes.DEFAULT_TYPE) -> None:
        await self._command(update, "status", lambda _who: self.actions.status())

    async def _positions(self, update: Update, _c: ContextTypes.DEFAULT_TYPE) -> None:
        await self._command(update, "positions", lambda _who: self.actions.positions())

    async def _halt(self, update: Update, _c: ContextTypes.DEFAULT_TYPE) -> None:
        await self._command(update, "halt", lambda who: self.actions.halt(f"{who} (telegram)"))

    async def _flatten(self, update: Update, _c: ContextTypes.DEFAULT_TYPE) -> None:
        """Nothing happens on the command itself: a confirming press does it."""
        who, where, allowed = self._who(update)
        if not allowed:
            self._audit(who, where, "flatten", "", "refused: this chat may not act on the bot")
            return
        self._audit(who, where, "flatten", "", "asked to confirm")
        keys = InlineKeyboardMarkup([[
            InlineKeyboardButton("Yes, close everything", callback_data="flatten:yes"),
            InlineKeyboardButton("No", callback_data="flatten:no")]])
        await self.app.bot.send_message(
            update.effective_chat.id, "Flatten: cancel every bot order and close every "
            "position at market, and halt new entries?", reply_markup=keys)
