import signal

import pytest

from bot.marketdata.synth import SynthSpec, generate


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A 200-day synthetic BTC+ETH market on three exchanges, made once per run."""
    folder = tmp_path_factory.mktemp("synth")
    return generate(SynthSpec(days=200, seed=7), folder)


def pytest_configure(config):
    """Commands a test stops with Ctrl-C (SIGINT) take it as they do in a terminal. A suite
    started in the background without job control inherits SIGINT ignored and would hand
    it on to every command it starts (Python then installs no KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
