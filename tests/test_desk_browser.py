"""The operator's desk in a real headless Chromium (Debian's, through Playwright): a
proposal appears without a reload as a card with every number and its chart; Approve
sends the entry to the simulator; a refused re-check shows its reason; Tighten stop (and
a refused loosening), Close, Lift and Flatten each act and are audited. The card's
screenshot is kept under tests/artifacts/ as the run's record."""

import asyncio
import json
import re
from pathlib import Path

from state import proposals
from tests.helpers import needs
from tests.test_browser import ARGS, CHROMIUM, BotThread

pytestmark = needs(Path(CHROMIUM).exists(), "Debian's chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CARD = ("notional", "leverage", "entry", "now", "ATR", "stop", "T1", "40% of the size", "R:R",
        "of equity", "margin", "liquidation", "beyond the stop", "risk cuts", "made",
        "expires", "wall time")


class Desk(BotThread):
    """A paper bot with approval on (the default ten-minute wait), its page with the
    desk's actions, and a loop that carries out what the page asks between ticks."""

    def __init__(self, synth_dir, tmp_path) -> None:
        super().__init__(synth_dir, tmp_path, approval={"paper": True}, desk=True)
        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self._between()))

    async def _between(self) -> None:
        r = self.runner
        while True:
            await asyncio.sleep(0.1)
            now = r.clock.now()
            await r._asked(now)
            await r.om.sync()
            await r.approvals.execute(now)
            r.store.commit()

    def q(self, fn, *args):
        """fn(*args) in the bot's loop: the store and the simulator are the loop's alone."""
        async def go():
            return fn(*args)
        return self.call(go())

    def until(self, done) -> None:
        async def go():
            for t, batch in self.feed:
                await self.runner.tick(t, batch)
                if done():
                    return
            raise AssertionError("never happened")
        self.call(go())


def test_the_desk_in_chromium(synth_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    desk = Desk(synth_dir, tmp_path)
    store, q = desk.store, desk.q
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{desk.base}/?token=tok3n")
            assert page.is_visible("#none-pending")

            desk.until(lambda: proposals.listing(store, "pending"))
            (p,) = q(proposals.listing, store, "pending")
            card = page.wait_for_selector(f"#proposal-{p.id}", timeout=10_000)  # no reload
            text = card.inner_text()
            assert p.strategy in text and all(field in text for field in CARD), text
            page.wait_for_function(
                f"document.querySelector('#proposal-{p.id} img.chart').naturalWidth > 0")
            ARTIFACTS.mkdir(exist_ok=True)
            card.screenshot(path=str(ARTIFACTS / "proposal-card.png"))
            assert (ARTIFACTS / "proposal-card.png").stat().st_size > 10_000

            page.click(f"#approve-{p.id}")
            assert "approved by operator-page" in page.inner_text("#flash")
            desk.call(asyncio.sleep(0.5))
            done = q(proposals.get, store, p.id)
            assert done.status == "executed"
            entry = q(desk.engine.fetch_order, f"dbot-{done.trade_id:06d}-entry-0")
            assert entry.filled == p.size

            trade = next(t for t in q(store.open_trades) if t.id == done.trade_id)
            d = 1 if trade.side == "long" else -1
            page.wait_for_selector(f"#trade-{trade.id}", timeout=10_000)
            cells = [c.inner_text() for c in page.query_selector_all(f"#trade-{trade.id} td")]
            entry_px, liq = (float(cells[k].replace(",", "")) for k in (5, 8))
            assert (entry_px - liq) * d > 0  # beyond the entry, away from the trade's side
            looser = float(trade.stop_price) - d * 100
            page.fill(f"#stop-{trade.id}", f"{looser:.2f}")
            page.click(f"#tighten-{trade.id}")
            assert "would loosen the stop" in page.inner_text("#flash")
            mark = q(desk.runner.history.last_close, trade.symbol)
            tighter = round((float(trade.stop_price) + mark) / 2, 1)
            page.fill(f"#stop-{trade.id}", f"{tighter}")
            page.click(f"#tighten-{trade.id}")
            assert "stop moved from" in page.inner_text("#flash")
            stops = [o for o in q(lambda: list(desk.engine.open.values()))
                     if o.client_id.startswith(f"dbot-{trade.id:06d}-stop")]
            assert [float(o.stop_price) for o in stops] == [tighter]

            page.click(f"#close-{trade.id}")
            assert f"trade {trade.id} closed at market" in page.inner_text("#flash")
            assert trade.id not in {t.id for t in q(store.open_trades)}

            desk.until(lambda: proposals.listing(store, "pending"))
            (late,) = q(proposals.listing, store, "pending")
            late.entry *= 1.05  # as if price ran 5 % since it was proposed
            q(store.save, late)
            page.wait_for_selector(f"#approve-{late.id}", timeout=10_000)
            page.click(f"#approve-{late.id}")
            row = page.wait_for_selector(f"#answered-{late.id}:has-text('refused')",
                                         timeout=10_000)
            assert "beyond the 0.50% tolerance" in row.inner_text()

            desk.call(_halt(desk.runner))
            page.wait_for_selector("#lift", timeout=10_000)
            page.click("#lift")
            assert "halt lifted by operator-page" in page.inner_text("#flash")
            assert q(store.get_meta, "halt") is None

            page.fill("#flatten-confirm", "yes")
            page.click("#flatten")
            assert "type FLATTEN" in page.inner_text("#flash")
            page.fill("#flatten-confirm", "FLATTEN")
            page.click("#flatten")
            assert re.search(r"flattened by operator-page: \d+ trade", page.inner_text("#flash"))
            assert q(store.get_meta, "halt")["release"] == "manual"
            browser.close()
        acts = [(a.action, a.result.split(":")[0]) for a in q(store.audits)]
        for want in (("approve", f"proposal {p.id} approved by operator-page"),
                     ("tighten", "refused"), ("close", (f"trade {trade.id} closed at market by "
                                                         "operator-page")),
                     ("lift", "halt lifted by operator-page"), ("flatten", "refused")):
            assert want in acts, (want, acts)
        assert all(a.where.startswith("page 127.0.0.1") for a in q(store.audits))
        assert json.loads(q(proposals.get, store, p.id).model_dump_json())["trade_id"]
    finally:
        desk.close()


async def _halt(runner) -> None:
    runner.risk.halt_now(runner.clock.now(), "a test's halt")
