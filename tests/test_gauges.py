"""What /metrics shows after each tick is what the bot holds then: equity, open trades,
orders by state, closed-trade PnL and every module's signed reading — through trades that
open and close, values that change and change back."""

from tests.helpers import replay_runner, run


def test_gauges_follow_the_book_tick_by_tick(synth_dir, tmp_path):
    runner, engine, store, feed = replay_runner(synth_dir, tmp_path / "bot.db")
    reg = runner.metrics.registry
    read: dict[tuple[str, str], float] = {}
    report = runner.telemetry.readings

    def noted(now, symbol, readings):
        for name, sig in readings.signals.items():
            read[(symbol, name)] = int(sig.direction) * sig.strength
        report(now, symbol, readings)

    runner.telemetry.readings = noted
    snapshot, snapped = runner.snapshot, []

    async def noted_snapshot(t):
        snapped.append(t)
        await snapshot(t)

    runner.snapshot = noted_snapshot
    seen = {"open": set(), "closed": 0, "flat_after_trade": 0, "signal_moves": 0}
    last_signal: dict = {}

    async def go():
        await runner.start()
        for t, batch in feed:
            await runner.tick(t, batch)
            if not snapped or snapped[-1] != t:
                continue  # no candle closed: the book is shown as it was
            bal = engine.balance()
            assert reg.get_sample_value("derivbot_equity") == float(runner.account.total_equity(bal))
            assert reg.get_sample_value("derivbot_wallet") == float(bal.wallet)
            assert reg.get_sample_value("derivbot_open_positions") == len(runner.om.active)
            for state in ("open", "filled", "canceled"):
                n = sum(o.state == state for o in runner.om.orders.values())
                assert reg.get_sample_value("derivbot_orders", {"state": state}) == n, state
            for part, value in runner.om.pnl.items():
                assert reg.get_sample_value("derivbot_pnl", {"part": part}) == float(value)
            for (symbol, module), value in read.items():
                shown = reg.get_sample_value("derivbot_signal",
                                             {"symbol": symbol, "module": module})
                assert shown == value, (symbol, module)
                if last_signal.get((symbol, module), value) != value:
                    seen["signal_moves"] += 1
                last_signal[(symbol, module)] = value
            seen["open"] |= set(runner.om.active)
            if seen["open"] and not runner.om.active:
                seen["flat_after_trade"] += 1
            if seen["flat_after_trade"] > 24 and len(seen["open"]) >= 2:
                return

    run(go())
    store.close()
    assert len(seen["open"]) >= 2 and seen["flat_after_trade"] > 24
    assert seen["signal_moves"] > 100
