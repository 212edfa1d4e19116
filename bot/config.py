"""config.toml → frozen, strictly validated settings; a bad key is an error naming the key.

Any key can also come from the environment, which wins over the file: DERIVBOT_ + the key's
path in capitals with `__` between levels (DERIVBOT_RISK__FRACTION=0.01,
DERIVBOT_DATA__SYMBOLS='["BTC/USDT:USDT"]') — for containers."""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from risk.limits import RiskLimits
from strategies.playbook import SignalSet


class ConfigError(Exception):
    """A config problem, already phrased as one line naming the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExchangeConfig(Strict):
    venue: Literal["binanceusdm", "bybit", "okx"] = "binanceusdm"  # where orders go
    gateway: Literal["sim", "ccxt"] = "sim"  # sim: the built-in exchange; ccxt: a real or local one
    testnet: bool = True  # ccxt: the exchange's testnet/demo
    api_key_env: str = "DERIVBOT_API_KEY"  # the variable holding the API key
    api_secret_env: str = "DERIVBOT_API_SECRET"  # the variable holding the secret
    local_url: str = ""  # a `derivbot exchange serve` on loopback, driven by the bot's data

    @field_validator("local_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError(f"{v!r} is not an http(s) address")
        return v
    rate_limit_ms: float | None = Field(default=None, ge=0)  # ccxt's limiter; None: its own
    throttle: bool = True  # our per-account caps (orders, weight); off only for a limitless local


VenueName = Literal["binanceusdm", "bybit", "okx"]


class MarketDataConfig(Strict):
    """The venues the signals read (public data: no keys), apart from where orders go; read
    whenever the bot trades through ccxt on live data (not a local exchange's own data)."""

    venues: tuple[VenueName, ...] = ("binanceusdm", "bybit", "okx")  # public mainnet data
    # the venue whose candles are decided on ("": the trading venue if listed, else the first)
    primary: Literal["", "binanceusdm", "bybit", "okx"] = ""  # the venue decided on
    local_urls: dict[str, str] = {}  # venue -> a local venue serving its dialect (tests, demos)
    poll_s: float = Field(default=30.0, gt=0)  # seconds between polls of each venue
    stale_after_s: float = Field(default=5400.0, gt=0)  # stale: a failed poll, or candles this old
    history_bars: int = Field(default=720, ge=24, le=5000)  # hours read at start
    record_dir: str = ""  # append all that arrives to this data folder; "": not recorded
    liquidations: bool = True  # stream liquidation prints (Binance, Bybit websockets)
    options: bool = True  # read Deribit's options chain (local_urls.deribit: a local one)
    options_every_s: float = Field(default=300.0, gt=0)  # seconds between chain reads

    @model_validator(mode="after")
    def _venues(self) -> MarketDataConfig:
        if not self.venues:
            raise ValueError("market_data.venues: name at least one venue")
        if len(set(self.venues)) != len(self.venues):
            raise ValueError(f"market_data.venues: a venue is named twice ({self.venues})")
        if self.primary and self.primary not in self.venues:
            raise ValueError(f"market_data.primary: {self.primary!r} is not one of the venues")
        for venue, url in self.local_urls.items():
            if venue not in self.venues and venue != "deribit":
                raise ValueError(f"market_data.local_urls: {venue!r} is not one of the venues")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"market_data.local_urls.{venue}: {url!r} is not an "
                                 "http(s) address")
        return self

    def decision_venue(self, trading: str) -> str:
        return self.primary or (trading if trading in self.venues else self.venues[0])


class DataConfig(Strict):
    dir: str = ""  # empty: the embedded synthetic market
    symbols: tuple[str, ...] = ("BTC/USDT:USDT", "ETH/USDT:USDT")  # ccxt perp symbols traded
    synth_seed: int = 7  # seed of the embedded synthetic market
    synth_days: int = Field(default=365, gt=0)  # its length


class PaperConfig(Strict):
    time_scale: float = Field(default=36_000.0, gt=0)  # market seconds per wall second
    warmup_bars: int = Field(default=720, ge=0)  # read without pacing before trading starts


class SimConfig(Strict):
    start_equity: float = Field(default=100_000.0, gt=0, le=1e12)  # the simulator's wallet
    maker_fee: float = Field(default=0.0002, ge=0, lt=0.01)  # fraction of notional
    taker_fee: float = Field(default=0.0005, ge=0, lt=0.01)  # fraction of notional
    slippage_bps: float = Field(default=1.0, ge=0, lt=100)  # against market fills
    # a resting limit reached by the price fills at most this share of the candle's volume
    # (the rest stays open, partly filled); 0: it fills whole
    volume_share: float = Field(default=0.0, ge=0, le=1)


class MetricsConfig(Strict):
    enabled: bool = True  # serve /metrics
    host: str = "127.0.0.1"  # bind address
    port: int = Field(default=9108, ge=0, le=65535)  # 0: any free port
    # when this variable is set, a scrape needs it as a bearer token (see deploy/)
    token_env: str = "DERIVBOT_METRICS_TOKEN"


class AlertsConfig(Strict):
    webhook_url: str = ""  # POST JSON here when set (e.g. a chat bridge)
    retries: int = Field(default=4, ge=1, le=20)  # delivery attempts per alert
    timeout_s: float = Field(default=5.0, gt=0)  # per attempt

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v


class ApprovalConfig(Strict):
    paper: bool = False  # live always asks a person; paper only when this is true
    tolerance: float = Field(default=0.005, gt=0, lt=0.5)  # price move that voids approval
    expiry_bars: int = Field(default=1, ge=1)  # a proposal lives until its signal's candle ends
    min_wait: float = Field(default=600.0, ge=0)  # ... and at least this many wall seconds
    hold_clock: bool = True  # paper: the paced clock stops while a proposal is in its min_wait


class TelegramConfig(Strict):
    """Proposals to a phone: a message each, with Approve / Reject, for these chats only."""

    enabled: bool = False
    token_env: str = "DERIVBOT_TELEGRAM_TOKEN"  # the bot token comes only from this variable
    chat_ids: tuple[int, ...] = ()  # the chats told, and the only ones whose presses count
    base_url: str = "https://api.telegram.org/bot"  # the Bot API (a local one in tests)
    poll_interval: float = Field(default=1.0, gt=0)  # seconds between looks for presses

    @model_validator(mode="after")
    def _chats(self) -> TelegramConfig:
        if self.enabled and not self.chat_ids:
            raise ValueError("telegram.chat_ids: name at least one chat when enabled")
        return self


class OperatorConfig(Strict):
    enabled: bool = True  # serve the operator page
    host: str = "127.0.0.1"  # beyond loopback needs DERIVBOT_OPERATOR_TOKEN, else no start
    port: int = Field(default=9109, ge=0, le=65535)  # 0: any free port
    # names the page answers to besides its bound address (a reverse proxy's, say); any
    # other Host header is refused (DNS rebinding)
    allowed_hosts: tuple[str, ...] = ()
    # without DERIVBOT_OPERATOR_TOKEN a token is made at start and printed with the page's
    # address; true serves the loopback page without one (anyone on this machine may act)
    allow_unauthenticated_loopback: bool = False


class StateConfig(Strict):
    db: str = "var/derivbot.db"  # the bot's SQLite database
    backups: int = Field(default=5, ge=0, le=1000)  # online copies kept (one at every start)


class StrategyToggle(Strict):
    """Each strategy: on or off, its weight, and how often it may enter."""

    enabled: bool = True  # the strategy may trade
    weight: float = Field(default=1.0, gt=0, le=2)  # scales the risk fraction (within the band)
    reentry: Literal["episode", "cooldown"] = "episode"  # once per signal episode, or timed
    cooldown_hours: float = Field(default=24.0, ge=0)  # "cooldown": hours between entries
    max_trades_per_day: int = Field(default=0, ge=0)  # entries a UTC day, all symbols; 0: any
    # the bars its triggers, ATR, VWAP and regime read; it decides at their close (UTC)
    timeframe: Literal["1h", "4h", "1d"] = "1h"


class StrategiesConfig(Strict):
    funding_fade: StrategyToggle = StrategyToggle()
    oi_divergence_reversal: StrategyToggle = StrategyToggle()
    trapped_trader: StrategyToggle = StrategyToggle()
    liquidation_magnet: StrategyToggle = StrategyToggle(enabled=False, weight=0.5)
    triple_confluence: StrategyToggle = StrategyToggle()
    composite: StrategyToggle = StrategyToggle(weight=0.75)
    # the funding z-score alone, stop 3 ATR(4 h), out after 77 h: off until a walk-forward
    # study says how it trades out of sample
    funding_reversion: StrategyToggle = StrategyToggle(enabled=False)

    def timeframes(self) -> tuple[str, ...]:
        """The coarser bars the enabled strategies read (1 h is always kept)."""
        return tuple(sorted({t.timeframe for _, t in self if isinstance(t, StrategyToggle)
                             and t.enabled and t.timeframe != "1h"}))


class ManagementConfig(Strict):
    """Optional trade management beyond the plan's stop and 40/30/30 targets."""

    trailing_atr: float = Field(default=0.0, ge=0, le=20)  # 0: off; else trail k × ATR
    trail_from: Literal["open", "t1", "t2"] = "t1"  # when the trailing stop starts
    trail_step_atr: float = Field(default=0.25, gt=0, le=5)  # smallest move worth an order
    time_stop_hours: float = Field(default=0.0, ge=0)  # 0: off; else exit if T1 not hit by then


class OrdersConfig(Strict):
    """How a trade's orders go to the exchange: its entry, its targets, its exit."""

    entry_type: Literal["market", "post_only"] = "market"  # post_only: a maker limit (GTX)
    post_only_ticks: int = Field(default=1, ge=0, le=1000)  # passive of the plan's entry by
    post_only_wait_minutes: float = Field(default=60.0, gt=0, le=1440)  # how long it rests
    # refused as a taker (-5022) or unfilled when its time is up: enter at market, or not
    post_only_fallback: Literal["market", "cancel"] = "market"
    # how a trade is closed (time exit, a person, the kill switch): a market order, or an
    # IOC limit exit_band_bps through the last price whose unfilled rest then goes at market
    exit_type: Literal["market", "ioc"] = "market"
    exit_band_bps: float = Field(default=20.0, gt=0, le=1000)
    # the 40/30/30 targets: limits resting in the book, or take-profit orders the exchange
    # holds out of the book until the price is a tick away (Binance's TAKE_PROFIT)
    target_type: Literal["limit", "take_profit"] = "limit"


class BasisConfig(Strict):
    """The delta-neutral basis executor (SPEC §5): spot long + perp short, collect funding."""

    enabled: bool = False  # run the basis executor
    leverage: float = Field(default=2.0, gt=0, le=20)  # the short's; 2×: liquidation ~+49 %
    entry_rate: float = Field(default=0.0003, gt=0, lt=0.01)  # average funding per 8 h to open
    exit_rate: float = Field(default=0.0001, ge=0, lt=0.01)  # last funding below this: close
    average_days: float = Field(default=7.0, gt=0, le=60)
    capital_fraction: float = Field(default=0.25, gt=0, le=1)  # of equity: spot+margin+buffer
    buffer_fraction: float = Field(default=0.1, ge=0, le=1)  # of notional, held back
    margin_buffer: float = Field(default=0.2, ge=0, lt=1)  # of the cushion above maintenance
    drift: float = Field(default=0.02, gt=0, lt=1)  # re-hedge when the legs differ by more
    leg_retries: int = Field(default=3, ge=1, le=10)  # attempts per leg before unwinding
    retry_after_hours: float = Field(default=24.0, ge=0)  # after a pair failed to open
    max_price_age_hours: float = Field(default=2.0, gt=0)  # both legs priced this fresh

    @model_validator(mode="after")
    def _exit_below_entry(self) -> BasisConfig:
        if self.exit_rate >= self.entry_rate:
            raise ValueError(f"basis.exit_rate {self.exit_rate} must be below "
                             f"basis.entry_rate {self.entry_rate}")
        return self


ENV_PREFIX = "DERIVBOT_"


class Config(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", frozen=True, env_prefix=ENV_PREFIX,
                                      env_nested_delimiter="__")

    mode: Literal["paper", "live", "replay"] = "paper"  # live: real money, needs --live too
    exchange: ExchangeConfig = ExchangeConfig()
    market_data: MarketDataConfig = MarketDataConfig()
    data: DataConfig = DataConfig()
    paper: PaperConfig = PaperConfig()
    sim: SimConfig = SimConfig()
    risk: RiskLimits = RiskLimits()
    signals: SignalSet = SignalSet()
    strategies: StrategiesConfig = StrategiesConfig()
    management: ManagementConfig = ManagementConfig()
    orders: OrdersConfig = OrdersConfig()
    basis: BasisConfig = BasisConfig()
    metrics: MetricsConfig = MetricsConfig()
    alerts: AlertsConfig = AlertsConfig()
    approval: ApprovalConfig = ApprovalConfig()
    operator: OperatorConfig = OperatorConfig()
    telegram: TelegramConfig = TelegramConfig()
    state: StateConfig = StateConfig()

    @model_validator(mode="after")
    def _live_needs_real_gateway(self) -> Config:
        if self.mode == "live" and self.exchange.gateway != "ccxt":
            raise ValueError("mode: 'live' needs exchange.gateway = 'ccxt'")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, **_others
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment over the file; no .env or secrets directory is read."""
        return env_settings, init_settings

    def api_credentials(self) -> tuple[str, str] | None:
        """Keys come only from the environment variables that config names."""
        key = os.environ.get(self.exchange.api_key_env)
        secret = os.environ.get(self.exchange.api_secret_env)
        return (key, secret) if key and secret else None


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    kind = first["type"]
    if not key:  # a cross-field rule: its message leads with the key it is about
        return first["msg"].removeprefix("Value error, ")
    var = ENV_PREFIX + "__".join(str(p) for p in first["loc"]).upper()
    source = f" from {var}" if var in os.environ else ""
    if kind == "extra_forbidden":
        return f"{key}: unknown key{source}"
    if kind == "missing":
        return f"{key}: required key is missing"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{key}: {msg} (got {first.get('input')!r}{source})"


def parse_config(raw: dict, environ: bool = False) -> Config:
    """`raw` (a config file's tables) validated; `environ`: DERIVBOT_* variables override it."""
    for key in raw:
        if str(key).startswith("_"):  # never taken for one of pydantic-settings' own arguments
            raise ConfigError(f"{key}: unknown key")
    _finite(raw, "")
    try:
        return Config(**raw) if environ else Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def _finite(value, where: str) -> None:
    """No key takes an infinite or NaN number (TOML allows `inf` and `nan`)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _finite(v, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: {value} is not a finite number")


def load_config(path: str | Path) -> Config:
    """The config file, with the environment's DERIVBOT_* keys over it."""
    return parse_config(read_toml(path), environ=True)


def read_toml(path: str | Path) -> dict:
    """A TOML file's tables; every way it cannot be read is a ConfigError naming it."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    except PermissionError:
        raise ConfigError(f"{path}: not readable (permission denied)") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML: {err}") from None
    return raw
