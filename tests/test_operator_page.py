"""The operator page over real HTTP: token, CSRF, approve and reject, clear refusals."""

import re

import aiohttp
import pytest

from bot.operator.page import OperatorConfigError, OperatorPage, serve, token_for
from state import proposals
from state.store import Store
from tests.helpers import run
from tests.test_approval import H, proposal


async def _page(store: Store, token: str | None, now: int = 10 * H):
    runner = await serve(OperatorPage(store, token, lambda: now), "127.0.0.1", 0)
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def test_token_is_required_and_buttons_need_the_csrf_token(tmp_path):
    store = Store(tmp_path / "p.db")
    a, b, stale = proposal(store), proposal(store), proposal(store, now=5 * H)

    async def go():
        runner, base = await _page(store, "s3cret")
        try:
            async with aiohttp.ClientSession() as anon:
                async with anon.get(f"{base}/") as r:
                    assert r.status == 401
                async with anon.post(f"{base}/proposals/{a.id}/approve") as r:
                    assert r.status == 401
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(cookie_jar=jar) as s:
                async with s.get(f"{base}/?token=s3cret") as r:
                    page = await r.text()
                    assert r.status == 200 and "derivbot operator" in page
                    assert f'id="approve-{a.id}"' in page and "47,100.00" in page
                csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
                async with s.post(f"{base}/proposals/{a.id}/approve", data={}) as r:
                    assert r.status == 403  # no CSRF token
                async with s.post(f"{base}/proposals/{a.id}/approve",
                                  data={"csrf": csrf}) as r:
                    assert r.status == 200 and f"proposal {a.id} approved" in await r.text()
                async with s.post(f"{base}/proposals/{a.id}/approve",
                                  data={"csrf": csrf}) as r:
                    assert r.status == 409 and "already approved" in await r.text()
                async with s.post(f"{base}/proposals/{b.id}/reject", data={"csrf": csrf}) as r:
                    assert r.status == 200
                async with s.post(f"{base}/proposals/{stale.id}/approve",
                                  data={"csrf": csrf}) as r:
                    assert r.status == 409 and "expired" in await r.text()
                async with s.post(f"{base}/proposals/777/approve", data={"csrf": csrf}) as r:
                    assert r.status == 409 and "no proposal 777" in await r.text()
                async with s.post(f"{base}/proposals/x/approve", data={"csrf": csrf}) as r:
                    assert r.status == 409 and "positive whole number" in await r.text()
                async with s.get(f"{base}/static/page.css") as r:
                    assert r.status == 200 and r.content_type == "text/css"
            async with aiohttp.ClientSession() as api, api.get(f"{base}/api/state",
                               headers={"Authorization": "Bearer s3cret"}) as r:
                assert r.status == 200 and "open_trades" in await r.json()
        finally:
            await runner.cleanup()

    run(go())
    assert proposals.get(store, a.id).status == "approved"
    assert proposals.get(store, a.id).decided_by == "operator-page"
    assert proposals.get(store, b.id).status == "rejected"
    assert proposals.get(store, stale.id).status == "expired"
    store.close()


def test_page_beyond_loopback_refuses_to_start_without_a_token(monkeypatch):
    monkeypatch.delenv("DERIVBOT_OPERATOR_TOKEN", raising=False)
    made = token_for("127.0.0.1")  # on loopback one is made for this start
    assert made and len(made) >= 20 and made != token_for("127.0.0.1")
    assert token_for("127.0.0.1", allow_unauthenticated_loopback=True) is None
    with pytest.raises(OperatorConfigError, match="needs a token"):
        token_for("0.0.0.0")
    monkeypatch.setenv("DERIVBOT_OPERATOR_TOKEN", "t")
    assert token_for("0.0.0.0") == "t"


def test_what_the_page_shows_is_escaped(tmp_path):
    """A signal name or a flash message carrying markup is shown as text, never run."""
    store = Store(tmp_path / "p.db")
    p = proposal(store)
    p.reasons_json = '{"<script>alert(1)</script>": 1}'
    store.save(p)

    async def go():
        runner, base = await _page(store, None)
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                async with s.get(f"{base}/") as r:  # the session first
                    assert r.status == 200
                async with s.get(f"{base}/", params={"msg": "<b>hi</b>"}) as r:
                    page = await r.text()
        finally:
            await runner.cleanup()
        return page

    page = run(go())
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="flash">&lt;b&gt;hi&lt;/b&gt;</p>' in page
    assert f'id="approve-{p.id}"' in page


def test_foreign_hosts_origins_and_odd_values_are_refused_not_crashed(tmp_path):
    """DNS rebinding: a page reached under another name gets no session; a POST from
    another origin is refused; a non-ASCII token or a huge id is a 4xx, not a 500."""
    store = Store(tmp_path / "p.db")
    p = proposal(store)

    async def go():
        runner, base = await _page(store, None)
        port = runner.addresses[0][1]
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                async with s.get(f"{base}/", headers={"Host": "rebind.attacker.example"},
                                 allow_redirects=False) as r:
                    assert r.status == 403 and "Set-Cookie" not in r.headers
                async with s.get(f"{base}/", headers={"Host": f"localhost:{port}"},
                                 allow_redirects=False) as r:
                    assert r.status == 302  # loopback's own names get a session
                page = await (await s.get(f"{base}/")).text()
                csrf = page.split('name="csrf" value="')[1].split('"')[0]
                async with s.post(f"{base}/proposals/{p.id}/approve", data={"csrf": csrf},
                                  headers={"Origin": "http://rebind.attacker.example"}) as r:
                    assert r.status == 403
                async with s.post(f"{base}/proposals/{10**23}/approve",
                                  data={"csrf": csrf}) as r:
                    assert r.status == 409 and "positive whole number" in await r.text()
                async with s.post(f"{base}/proposals/{p.id}/approve",
                                  data={"csrf": "ünïcode"}) as r:
                    assert r.status == 403
            assert proposals.get(store, p.id).status == "pending"
        finally:
            await runner.cleanup()
        runner, base = await _page(store, "s3cret")
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{base}/?token=%C3%BC%C3%B1") as r:
                assert r.status == 401
        finally:
            await runner.cleanup()

    run(go())
    store.close()


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path, capsys, synth_dir):
    import socket

    from bot.app.cli import main

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    for section, other in (("metrics", "operator"), ("operator", "metrics")):
        cfg = tmp_path / f"{section}.toml"
        cfg.write_text(f'[data]\ndir = "{synth_dir}"\n[state]\ndb = "{tmp_path / "b.db"}"\n'
                       f"[{section}]\nport = {port}\n[{other}]\nenabled = false\n")
        assert main(["run", "--config", str(cfg), "--max-ticks", "1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"derivbot: {section}.port {port} on 127.0.0.1: ") and (
            "in use" in err), err
    taken.close()


def test_a_stale_market_data_venue_is_named_on_the_page(tmp_path):
    store = Store(tmp_path / "p.db")
    store.set_meta("stale_venues", {"bybit": "unreachable (NetworkError) since "
                                              "2025-02-03 06:00 UTC"})

    async def go():
        runner, base = await _page(store, None)
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
                async with s.get(f"{base}/") as r:
                    assert r.status == 200
                async with s.get(f"{base}/live") as r:
                    return await r.text()
        finally:
            await runner.cleanup()

    page = run(go())
    assert ('id="stale-bybit">market data from bybit is stale: unreachable (NetworkError) '
            'since 2025-02-03 06:00 UTC') in page
