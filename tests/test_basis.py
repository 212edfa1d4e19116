"""The basis executor (SPEC §5): both legs or none, funding collected per period, exits."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.app.modes import build_markets, build_sim, load_data
from bot.clock import ReplayClock
from bot.config import ConfigError, parse_config
from bot.exchanges.faulty import FaultyGateway
from bot.exchanges.sim.exchange import booked
from bot.exchanges.sim.gateway import SimGateway, SimMarketSink
from bot.runner import Runner
from bot.types import OrderRequest, OrderType
from risk.basis import basis_capital, basis_notional
from state.store import Store
from tests.helpers import HOUR, T0, run

PERP, SPOT = "BTC/USDT:USDT", "BTC/USDT"
DAY = 24 * HOUR


def write_market(root: Path, days: int = 30, rich_until: int = 20, rate: float = 0.0005,
                 seed: int = 3, rally_from: int | None = None) -> Path:
    """BTC perp and spot over `days`; funding pays `rate` per 8 h until day `rich_until`,
    then almost nothing. From day `rally_from` price climbs 0.5 % an hour."""
    rng = np.random.default_rng(seed)
    n = days * 24
    ts = T0 + HOUR * np.arange(n)
    step = rng.normal(0, 0.002, n)
    if rally_from is not None:
        step[rally_from * 24:] += 0.005
    close = 50_000 * np.exp(np.cumsum(step))
    openp = np.concatenate([[50_000.0], close[:-1]])
    high, low = np.maximum(openp, close) * 1.001, np.minimum(openp, close) * 0.999
    folder = root / "binanceusdm" / "BTCUSDT"
    folder.mkdir(parents=True)
    for name, k in (("candles_1h.csv", 1.0), ("spot_candles_1h.csv", 0.9997)):
        pd.DataFrame({"timestamp": ts, "open": openp * k, "high": high * k, "low": low * k,
                      "close": close * k, "volume": 100.0}).round(1).to_csv(
            folder / name, index=False)
    f_ts = T0 + 8 * HOUR * np.arange(1, days * 3)
    rates = np.where(f_ts < T0 + rich_until * DAY, rate, 0.00002)
    pd.DataFrame({"timestamp": f_ts, "rate": rates}).to_csv(folder / "funding.csv", index=False)
    return root


def config(**basis):
    off = {name: {"enabled": False} for name in (
        "funding_fade", "oi_divergence_reversal", "trapped_trader", "liquidation_magnet",
        "triple_confluence", "composite")}
    return parse_config({"data": {"symbols": [PERP]}, "strategies": off,
                         "basis": {"enabled": True, **basis}, "metrics": {"enabled": False}})


def build(folder: Path, cfg, wrap=None, db: str = ":memory:"):
    """The runner a replay of `folder` builds on the simulator: (runner, exchange, store,
    data), its gateway wrapped by `wrap` when given."""
    data = load_data(cfg, folder)
    markets = build_markets(data, cfg.data.symbols)
    ex = build_sim(cfg, markets)
    gw = SimGateway(ex) if wrap is None else wrap(SimGateway(ex))
    store = Store(db)
    runner = Runner(cfg, gw, store, markets, ReplayClock(),
                    sinks=(SimMarketSink(ex, cfg.exchange.venue),))
    return runner, ex, store, data


def replay(folder: Path, cfg, wrap=None):
    runner, ex, store, data = build(folder, cfg, wrap)

    async def go():
        await runner.start()
        await runner.run(data.events())
    run(go())
    return runner, ex, store, data


def test_positive_funding_is_collected_as_notional_times_rate_each_period(tmp_path):
    _, ex, store, data = replay(write_market(tmp_path), config())
    [pair] = store.basis_trades()
    assert pair.state == "closed" and "below" in pair.close_reason
    # opened once 7 days of funding averaged above 0.03 %; closed at the first poor print
    assert T0 + 7 * DAY <= pair.opened_at <= T0 + 8 * DAY
    assert pair.closed_at == T0 + 20 * DAY
    candles = data.tables[("binanceusdm", PERP, "candles_1h.csv")]
    close_at = dict(zip((candles.timestamp + HOUR).tolist(), candles.close.tolist()))
    funding = data.tables[("binanceusdm", PERP, "funding.csv")]
    periods = funding[(funding.timestamp > pair.opened_at) & (funding.timestamp <= pair.closed_at)]
    expected = sum(booked(pair.amount * D(repr(close_at[t])) * D(repr(r)))
                   for t, r in zip(periods.timestamp.tolist(), periods.rate.tolist()))
    assert len(periods) == 39  # day 7 to day 20, three a day
    assert pair.funding == expected  # Σ notional × rate, each booked to the eighth decimal
    rows = store.funding()
    assert len(rows) == 39 and all(r.basis_id == pair.id for r in rows)
    moves = [(e.from_state, e.to_state) for e in store.basis_events(pair.id)]
    assert moves == [("new", "opening"), ("opening", "open"), ("open", "closing"),
                     ("closing", "closed")]  # every transition stored
    assert "below" in store.basis_events(pair.id)[2].detail
    # delta neutral: what price did to one leg it undid on the other (within fees)
    assert abs(pair.spot_realised + pair.perp_realised) < pair.fees
    assert pair.pnl == pair.funding - pair.fees + pair.spot_realised + pair.perp_realised
    assert pair.pnl > 0
    # the exchange agrees: futures wallet moved by the perp leg and funding only, spot
    # was swept back, nothing is held
    assert ex.positions == {} and ex.spot.get("BTC", D(0)) == 0
    assert ex.leverage[PERP] == 5  # the pair done, the perp is back at the directional 5×
    assert ex.spot["USDT"] < D("0.01")  # below a cent stays behind
    assert ex.wallet + ex.spot["USDT"] == D(100_000) + pair.pnl


def test_legs_are_equal_and_sized_from_capital(tmp_path):
    _, ex, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config())
    [pair] = store.basis_trades()
    assert pair.state == "open" and pair.spot_filled == pair.perp_filled == pair.amount
    price = float(pair.spot_cost / pair.spot_filled)
    # a quarter of 100 000 carries 25 000 / (1 + 1/2 + 0.1) of notional: the short at 2×
    assert float(pair.amount) * price == pytest.approx(15_625, rel=0.01)  # worked by hand
    assert basis_notional(25_000, 2, 0.1) == 15_625
    assert ex.positions[PERP].leverage == 2 and ex.leverage[PERP] == 2
    assert basis_capital(100_000, 5, 10_000) == 130_000
    assert ex.spot["BTC"] == pair.amount and ex.positions[PERP].contracts == -pair.amount
    legs = [(o.leg, o.side, o.state) for o in store.basis_orders(pair.id)]
    assert sorted(legs) == [("perp", "sell", "filled"), ("spot", "buy", "filled")]


def test_a_failed_spot_leg_is_retried_then_the_perp_is_unwound(tmp_path):
    holder = {}

    def wrap(inner):
        gw = holder["gw"] = FaultyGateway(inner)
        gw.script("create_order", "reject", "reject", "reject", match="-spot-")
        return gw
    _, ex, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config(),
                                  wrap)
    first, *later = store.basis_trades()
    assert first.state == "failed" and "spot leg failed after 3 tries" in first.close_reason
    sent = [tag.split("-", 2)[2] for m, tag in holder["gw"].calls
            if m == "create_order" and tag.startswith(f"dbot-b{first.id:06d}")]
    assert sorted(sent[:2]) == ["perp-0", "spot-0"]  # both legs at once
    assert sent[2:] == ["spot-1", "spot-2", "perpx-0"]  # two more tries, then unwind
    assert first.perp_filled == 0 and first.spot_filled == 0
    # never one leg: the next pair (funding still pays) opened whole, a day later, not
    # on the next tick
    assert later and later[0].state == "open"
    assert later[0].created_at >= first.closed_at + 24 * HOUR
    assert ex.positions[PERP].contracts == -later[0].amount == -D(ex.spot["BTC"])


def test_legs_drifting_apart_are_rehedged(tmp_path):
    runner, ex, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config())
    [pair] = store.basis_trades()
    # a person sells a tenth of the spot by hand: the short follows at the next tick
    tenth = (pair.amount / 10).quantize(D("0.001"))
    ex.create_order(OrderRequest("manual-1", SPOT, "sell", OrderType.MARKET, tenth))
    bal = ex.balance()
    run(runner.basis.tick(runner.clock.now(), 100_000.0, set(), {}, bal.spot))
    assert pair.spot_filled == pair.amount - tenth
    assert pair.perp_filled == pair.spot_filled
    assert ex.positions[PERP].contracts == -pair.spot_filled
    assert [o.leg for o in store.basis_orders(pair.id)][-1] == "perpx"


def test_basis_config_is_checked():
    with pytest.raises(ConfigError, match="basis.exit_rate 0.0005 must be below"):
        parse_config({"basis": {"exit_rate": 0.0005, "entry_rate": 0.0003}})
    with pytest.raises(ConfigError, match="basis.capital_fraction"):
        parse_config({"basis": {"capital_fraction": 2}})


def test_margin_cushion_rule_closes_about_four_percent_before_liquidation():
    from strategies.basis import margin_short

    notional, margin, mmr = 100_000.0, 20_000.0, 0.004  # 5x isolated short
    maint = notional * mmr
    # a 15 % adverse move leaves 4 540 of a 19 540 cushion (23 %): keep
    assert not margin_short(margin, -15_000, maint * 1.15, 0.2)
    # 16 % leaves 3 536 of 19 536 (18 %): close, ~3.5 % before liquidation
    assert margin_short(margin, -16_000, maint * 1.16, 0.2)


def test_kill_switch_closes_a_basis_pair_leg_by_leg(tmp_path):
    from bot.execution.flatten import flatten

    runner, ex, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config())
    [pair] = store.basis_trades()
    assert pair.state == "open"
    report = run(flatten(runner.om))
    assert report.pairs_closed == [pair.id] and report.positions_closed == []
    assert pair.state == "closed" and pair.close_reason == "flatten"
    assert sorted(o.leg for o in store.basis_orders(pair.id)) == ["perp", "perpx", "spot",
                                                                   "spotx"]
    assert ex.positions == {} and ex.spot["BTC"] == 0


def test_a_refused_transfer_costs_one_spot_try_not_the_bot(tmp_path):
    holder = {}

    def wrap(inner):
        gw = holder["gw"] = FaultyGateway(inner)
        gw.script("transfer", "no_funds")
        return gw
    _, ex, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config(),
                             wrap)
    [pair] = store.basis_trades()
    assert pair.state == "open" and pair.spot_filled == pair.perp_filled == pair.amount
    legs = [(o.client_id[-6:], o.state) for o in store.basis_orders(pair.id)]
    assert ("spot-0", "rejected") in legs and ("spot-1", "filled") in legs
    assert ex.spot["BTC"] == pair.amount


def test_with_approval_a_pair_waits_for_a_person_then_opens_at_most_the_approved_size(
        tmp_path):
    from state import proposals

    cfg = parse_config({**config().model_dump(mode="json"),
                        "approval": {"paper": True, "expiry_bars": 3}})
    runner, ex, store, data = build(write_market(tmp_path, days=12, rich_until=12), cfg)
    events = list(data.events())
    day7 = [e for e in events if e.seen <= T0 + 7 * DAY + HOUR]
    run(runner.start())
    run(runner.run(day7))
    [p] = proposals.listing(store, "pending")
    assert (p.strategy, p.symbol, p.side) == ("basis", PERP, "spot long + perp short")
    assert store.basis_trades() == [] and ex.positions == {}  # nothing without a person
    proposals.decide(store, p.id, True, "tester", runner.clock.now())
    run(runner.run(events[len(day7):len(day7) + 10]))
    [pair] = store.basis_trades()
    assert pair.state == "open" and pair.amount <= p.size
    assert proposals.get(store, p.id).status == "executed"
    assert ex.positions[PERP].contracts == -pair.amount and ex.spot["BTC"] == pair.amount
    assert proposals.listing(store, "pending") == []  # held now: no second proposal


def test_status_lists_open_pairs_with_their_legs(tmp_path):
    from bot.operator.status import collect

    _, _, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config())
    [pair] = store.basis_trades()
    [row] = collect(store)["basis_pairs"]
    assert (row["id"], row["perp"], row["state"]) == (pair.id, PERP, "open")
    assert row["spot_held"] == row["perp_short"] == str(pair.amount)
    assert row["funding"] == str(pair.funding) and pair.funding > 0


def test_metrics_show_the_pairs_under_way(tmp_path):
    runner, _, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config())
    [pair] = store.basis_trades()
    reg = runner.metrics.registry
    assert reg.get_sample_value("derivbot_basis_pairs") == 1
    assert reg.get_sample_value("derivbot_basis_funding") == float(pair.funding)


def test_a_rally_against_the_short_closes_the_pair_before_liquidation(tmp_path):
    _, _, store, _ = replay(write_market(tmp_path, days=14, rich_until=14, rally_from=8),
                            config())
    first, *later = store.basis_trades()
    assert first.state == "closed" and "margin cushion" in first.close_reason
    assert not [f for f in store.fills() if f.liquidation]  # out before the exchange acted
    # what the short lost the spot leg gained: price PnL nets to well under 1 % of notional
    notional = first.amount * first.perp_entry
    assert abs(first.spot_realised + first.perp_realised) < notional / 100
    assert later and later[0].created_at >= first.closed_at  # funding still pays: a fresh pair


def test_an_unwind_refused_again_and_again_is_tried_once_more_each_tick(tmp_path):
    holder = {}

    def wrap(inner):
        holder["gw"] = FaultyGateway(inner)
        return holder["gw"]
    runner, ex, store, _ = replay(write_market(tmp_path, days=12, rich_until=12), config(),
                                  wrap)
    [pair] = store.basis_trades()
    gw = holder["gw"]
    gw.script("create_order", *["reject"] * 7, match="-spotx-")
    run(runner.basis.close(pair, "by hand"))
    spotx = [t for m, t in gw.calls if m == "create_order" and "-spotx-" in t]
    assert len(spotx) == 6 and pair.state == "closing"  # 2 × leg_retries in one tick
    run(runner.basis.drive(pair))
    assert len([t for m, t in gw.calls if "-spotx-" in t and m == "create_order"]) == 6
    runner.clock.t += HOUR  # the next tick: one more try (refused), then the one after
    run(runner.basis.drive(pair))
    runner.clock.t += HOUR
    run(runner.basis.drive(pair))
    assert pair.state == "closed" and ex.spot["BTC"] == 0 and ex.positions == {}
    assert len([t for m, t in gw.calls if "-spotx-" in t and m == "create_order"]) == 8


def test_without_a_spot_price_no_pair_opens_and_no_leg_is_sent(tmp_path):
    """Funding pays, but the data has no spot candles: neither leg goes out (a perp short
    with a refused spot leg, unwound every hour, cost real history 21.7k)."""
    folder = write_market(tmp_path, days=12, rich_until=12)
    (folder / "binanceusdm" / "BTCUSDT" / "spot_candles_1h.csv").unlink()
    _, ex, store, _ = replay(folder, config())
    assert store.basis_trades() == []
    assert ex.positions == {} and not any(o.client_id.startswith("dbot-b")
                                          for o in ex.orders.values())


def test_a_stale_spot_price_stops_new_pairs_until_it_is_fresh_again(tmp_path):
    folder = write_market(tmp_path, days=12, rich_until=12)
    spot = folder / "binanceusdm" / "BTCUSDT" / "spot_candles_1h.csv"
    frame = pd.read_csv(spot)
    gap = (frame.timestamp >= T0 + 6 * DAY) & (frame.timestamp < T0 + 9 * DAY)
    frame[~gap].to_csv(spot, index=False)  # no spot prints on days 6–9
    _, _, store, _ = replay(folder, config())
    [pair] = store.basis_trades()
    # funding's 7-day average pays from day 7: the pair waits for spot prices (day 9)
    assert T0 + 9 * DAY <= pair.created_at <= T0 + 9 * DAY + 2 * HOUR


def test_a_halt_stops_new_pairs_but_an_open_pair_is_still_closed(tmp_path):
    from bot.execution.riskdesk import HALT_KEY

    runner, _, store, data = build(write_market(tmp_path, days=30, rich_until=20), config())
    events = list(data.events())

    async def go():
        await runner.start()
        halted = {"reason": "drawdown 21% from peak", "since": T0, "release": "manual"}
        store.set_meta(HALT_KEY, halted)  # before any pair: none may open
        await runner.run([e for e in events if e.seen < T0 + 10 * DAY])
        assert store.basis_trades() == []
        runner.risk.lift(T0 + 10 * DAY, "alice")
        await runner.run([e for e in events if T0 + 10 * DAY <= e.seen < T0 + 12 * DAY])
        [pair] = store.basis_trades()
        assert pair.state == "open"
        store.set_meta(HALT_KEY, halted)  # halted again: the open pair is managed, closed
        await runner.run([e for e in events if e.seen >= T0 + 12 * DAY])
        [pair] = store.basis_trades()
        assert pair.state == "closed" and "below" in pair.close_reason
    run(go())


def _approved_pair(tmp_path, approval: dict, until_day: float = 7, db: str = ":memory:"):
    """A paper session asking a person: the pair it proposes on day 7, approved at once;
    (runner, exchange, store, proposal, the events after the approval)."""
    from state import proposals

    cfg = parse_config({**config().model_dump(mode="json"),
                        "approval": {"paper": True, "expiry_bars": 3, **approval}})
    runner, ex, store, data = build(write_market(tmp_path / "m", days=12, rich_until=12),
                                    cfg, db=db)
    events = list(data.events())
    before = [e for e in events if e.seen <= T0 + until_day * DAY + HOUR]
    run(runner.start())
    run(runner.run(before))
    [p] = proposals.listing(store, "pending")
    proposals.decide(store, p.id, True, "tester", runner.clock.now())
    return runner, ex, store, p, events[len(before):]


def test_an_approved_pair_is_refused_when_the_price_moved_beyond_tolerance(tmp_path):
    from state import proposals

    runner, ex, store, p, rest = _approved_pair(tmp_path, {"tolerance": 0.00001})
    run(runner.run(rest[:10]))
    done = proposals.get(store, p.id)
    assert done.status == "refused" and done.reason.startswith(
        f"price moved from {p.entry:.2f} to ") and "beyond the 0.00% tolerance" in \
        done.reason
    assert store.basis_trades() == [] and ex.positions == {}


def test_an_approved_pair_is_refused_after_a_restart_with_the_executor_off(tmp_path):
    """Approved, then the bot restarts with [basis] enabled = false before it executes:
    the approval is refused with that reason, nothing is traded."""
    from state import proposals

    db = str(tmp_path / "b.db")
    _, _, store, p, rest = _approved_pair(tmp_path, {}, db=db)
    store.commit()
    cfg = parse_config({**config().model_dump(mode="json"), "basis": {"enabled": False},
                        "approval": {"paper": True, "expiry_bars": 3}})
    again, ex, store2, _ = build(tmp_path / "m", cfg, db=db)
    run(again.start())
    run(again.run(rest[:10]))
    done = proposals.get(store2, p.id)
    assert (done.status, done.reason) == ("refused", "the basis executor is off")
    assert store2.basis_trades() == [] and ex.positions == {}
