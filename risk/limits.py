"""The risk rulebook's numbers, validated at load (SPEC §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FRACTION_BAND = (0.01, 0.02)  # risk per trade, of equity (SPEC §4)


class RiskLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fraction: float = Field(default=0.015, ge=FRACTION_BAND[0], le=FRACTION_BAND[1])  # of equity
    leverage: float = Field(default=5.0, gt=0, le=125)  # isolated leverage set on each perp
    max_leverage: float = Field(default=20.0, gt=0, le=125)  # a plan needing more is refused
    max_open_risk: float = Field(default=0.06, gt=0, le=0.5)  # all open trades, of equity
    max_positions: int = Field(default=4, ge=1)  # open trades at once
    liq_buffer: float = Field(default=0.005, ge=0, lt=0.5)  # liq beyond stop by this of price
    trend_fade: Literal["cut", "skip"] = "cut"  # a fade in a trending regime: cut or skip
    trend_cut: float = Field(default=0.5, gt=0, le=1)  # the cut's factor
    daily_loss_limit: float = Field(default=0.05, gt=0, le=1)  # of start-of-day equity
    max_drawdown: float = Field(default=0.2, gt=0, le=1)  # from peak equity
    halt_release: Literal["manual", "next_day"] = "next_day"  # how a halt is lifted
    kelly: bool = True  # half-Kelly from the bot's own closed trades
    kelly_min_trades: int = Field(default=30, ge=1)  # below this the record is shrunk
    bucket_risk: float = Field(default=0.02, gt=0, le=0.5)  # shared by a correlated bucket
    buckets: tuple[tuple[str, ...], ...] = (("BTC/USDT:USDT", "ETH/USDT:USDT"),)  # one budget
    correlation: float = Field(default=0.7, gt=0, le=1)  # 30-day returns above: one bucket
    correlation_bars: int = Field(default=30 * 24, ge=24)  # hourly returns in the correlation
    # maintenance margin rate by position notional: (notional up to, rate), ascending
    mmr_tiers: tuple[tuple[float, float], ...] = (  # (notional up to, maintenance rate)
        (50_000, 0.004), (250_000, 0.005), (3_000_000, 0.01), (15_000_000, 0.025),
        (1e18, 0.05))  # the last tier: any notional
    avoid_dense_clusters: bool = True  # refuse a liquidation in a dense cluster

    @model_validator(mode="after")
    def _consistent(self) -> RiskLimits:
        if self.leverage > self.max_leverage:
            raise ValueError(f"leverage {self.leverage} exceeds max_leverage {self.max_leverage}")
        caps = [cap for cap, _ in self.mmr_tiers]
        if not caps or caps != sorted(caps) or any(not 0 <= r < 1 for _, r in self.mmr_tiers):
            raise ValueError("mmr_tiers must ascend by notional with rates in [0, 1)")
        return self
