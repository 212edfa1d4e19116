import pytest

from bot.marketdata.synth import SynthSpec, generate


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A 200-day synthetic BTC+ETH market on three exchanges, made once per run."""
    folder = tmp_path_factory.mktemp("synth")
    return generate(SynthSpec(days=200, seed=7), folder)
