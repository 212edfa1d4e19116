"""The risk rulebook's numbers, validated at load (SPEC §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    fraction: float = Field(default=0.015, ge=0.01, le=0.02)  # risk per trade, of equity
    leverage: float = Field(default=5.0, gt=0)
    max_leverage: float = Field(default=20.0, gt=0)
    max_open_risk: float = Field(default=0.06, gt=0, le=0.5)  # all open trades, of equity
    max_positions: int = Field(default=4, ge=1)
    maintenance_margin_rate: float = Field(default=0.004, ge=0, lt=0.5)
    liq_buffer: float = Field(default=0.005, ge=0, lt=0.5)  # liq beyond stop by this of price
    trend_fade: Literal["cut", "skip"] = "cut"
    trend_cut: float = Field(default=0.5, gt=0, le=1)
    daily_loss_limit: float = Field(default=0.05, gt=0, le=1)  # of start-of-day equity
    max_drawdown: float = Field(default=0.2, gt=0, le=1)  # from peak equity

    @model_validator(mode="after")
    def _leverage_within_max(self) -> RiskLimits:
        if self.leverage > self.max_leverage:
            raise ValueError(f"leverage {self.leverage} exceeds max_leverage {self.max_leverage}")
        return self
