"""Options positioning: put/call ratio extremes (contrarian) and max pain. Optional feed."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from strategies.types import Direction, OptionsChain, Signal


class OptionsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    high_pcr: float = Field(default=1.2, gt=0)  # crowded puts: contrarian long
    low_pcr: float = Field(default=0.5, gt=0)  # crowded calls: contrarian short
    use_volume: bool = True  # put/call by volume, else by open interest


def max_pain(chain: OptionsChain) -> float:
    """The strike at which option holders collect the least at expiry."""
    strikes = sorted({q.strike for q in chain.quotes})

    def payout(s: float) -> float:
        return sum(q.open_interest * (max(0.0, s - q.strike) if q.kind == "call"
                                      else max(0.0, q.strike - s)) for q in chain.quotes)

    return min(strikes, key=lambda s: (payout(s), s))


def put_call_ratio(chain: OptionsChain, use_volume: bool) -> float | None:
    def amount(kind: str) -> float:
        return sum((q.volume if use_volume else q.open_interest) for q in chain.quotes
                   if q.kind == kind)

    calls = amount("call")
    return None if calls == 0 else amount("put") / calls


def options_positioning(chain: OptionsChain | None, p: OptionsParams) -> Signal:
    name = "options_positioning"
    if chain is None or not chain.quotes:
        return Signal.abstain(name, "no options feed")
    bad = [q for q in chain.quotes if q.kind not in ("call", "put")]
    if bad:
        return Signal.abstain(name, f"unknown option kind {bad[0].kind!r}")
    pcr = put_call_ratio(chain, p.use_volume)
    pain = max_pain(chain)
    reasons = {"put_call": pcr, "max_pain": pain, "expiry": chain.expiry}
    if pcr is None:
        return Signal.flat(name, **reasons)
    if pcr >= p.high_pcr:
        return Signal(name, Direction.LONG, min(pcr / (2 * p.high_pcr), 1.0), reasons)
    if pcr <= p.low_pcr:
        return Signal(name, Direction.SHORT, min(p.low_pcr / max(pcr, 1e-9) / 2, 1.0), reasons)
    return Signal.flat(name, **reasons)
