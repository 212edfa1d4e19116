"""The tables. Money is stored as TEXT of a Decimal so it round-trips exactly."""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import String, TypeDecorator
from sqlalchemy.orm import configure_mappers
from sqlmodel import Field, SQLModel

R = TypeVar("R", bound=SQLModel)


class DecimalText(TypeDecorator):
    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value)


def row(model: type[R], **values: Any) -> R:
    """`model(**values)` for the rows the bot writes on the way to the exchange (orders,
    trades, fills): the same object — a session can add it and flush it — without SQLModel
    setting each field through SQLAlchemy's and pydantic's __setattr__ (≈ 140 µs → 5 µs
    an order). Missing fields take their defaults, as in the constructor."""
    if unknown := values.keys() - model.model_fields.keys():
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    if not model.__mapper__.configured:  # as the constructor's first call would
        configure_mappers()
    obj = model._sa_class_manager.new_instance()
    fields = obj.__dict__
    for name, default, field in _layout(model):
        if name in values:
            fields[name] = values[name]
        elif default is _MADE:
            fields[name] = field.get_default(call_default_factory=True)
        elif default is not _REQUIRED:
            fields[name] = default
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


_MADE, _REQUIRED = object(), object()
_SHARED = (type(None), bool, int, float, str, Decimal)  # immutable: one default serves all


@cache
def _layout(model: type[SQLModel]) -> tuple[tuple[str, Any, Any], ...]:
    """(name, default, field) of each field: the default itself when it is immutable, else
    _MADE (the field makes a fresh one for each row) or _REQUIRED."""
    out = []
    for name, field in model.model_fields.items():
        if field.is_required():
            default = _REQUIRED
        elif field.default_factory is None and isinstance(field.default, _SHARED):
            default = field.default
        else:
            default = _MADE
        out.append((name, default, field))
    return tuple(out)


def money(default: Decimal | None = Decimal(0), **kw) -> Decimal:
    return Field(default=default, sa_type=DecimalText, **kw)


class WrittenThrough:
    """Rows the store writes as one plain upsert (`Store.add`) and never leaves tracked by
    the session (they are read detached): assigning a field stores the value and nothing
    else. SQLModel's own __setattr__ would record SQLAlchemy history and pydantic's
    fields-set for a flush that never comes (≈ 4.3 µs an assignment → 0.15; an order's fill
    assigns a dozen fields across the order and its trade)."""

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__[name] = value


class Trade(WrittenThrough, SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    strategy: str
    symbol: str = Field(index=True)
    side: str  # long | short
    state: str = Field(index=True)
    plan_entry: float
    plan_stop: float
    targets_json: str  # [[price, fraction], ...]
    reasons_json: str = "{}"
    size: Decimal = money()  # approved size
    filled: Decimal = money()  # entry amount actually filled
    exited: Decimal = money()  # amount closed by stop, targets, exits or liquidation
    entry_price: Decimal | None = money(None)
    exit_price: Decimal | None = money(None)  # average over exits
    stop_price: Decimal | None = money(None)  # where the working stop sits now
    risk_cash: float = 0.0
    realised: Decimal = money()  # price PnL
    fees: Decimal = money()
    funding: Decimal = money()
    close_reason: str = ""
    created_at: int = 0
    opened_at: int | None = None
    closed_at: int | None = None
    max_hold_hours: float | None = None  # out at market after this long


class TradeEvent(SQLModel, table=True):
    """Every trade state transition."""

    id: int | None = Field(default=None, primary_key=True)
    trade_id: int = Field(index=True)
    at: int
    from_state: str
    to_state: str
    detail: str = ""


class BasisTrade(SQLModel, table=True):
    """A delta-neutral pair: spot held long, the perp sold short against it."""

    id: int | None = Field(default=None, primary_key=True)
    perp: str = Field(index=True)
    spot: str
    state: str = Field(index=True)  # opening | open | closing | closed | failed
    amount: Decimal = money()  # base amount each leg aims at
    spot_filled: Decimal = money()  # base held: bought − sold
    spot_cost: Decimal = money()  # quote paid for what is held
    perp_filled: Decimal = money()  # contracts short: sold − bought back
    perp_entry: Decimal | None = money(None)
    spot_realised: Decimal = money()
    perp_realised: Decimal = money()
    spot_fees: Decimal = money()
    perp_fees: Decimal = money()
    funding: Decimal = money()
    entry_rate: float = 0.0  # the average funding per 8 h that opened it
    close_reason: str = ""
    created_at: int = 0
    opened_at: int | None = None
    closed_at: int | None = None

    @property
    def fees(self) -> Decimal:
        return self.spot_fees + self.perp_fees

    @property
    def pnl(self) -> Decimal:
        return self.spot_realised + self.perp_realised - self.fees + self.funding


class BasisEvent(SQLModel, table=True):
    """Every basis pair state transition."""

    id: int | None = Field(default=None, primary_key=True)
    basis_id: int = Field(index=True)
    at: int
    from_state: str
    to_state: str
    detail: str = ""


class Order(WrittenThrough, SQLModel, table=True):
    client_id: str = Field(primary_key=True)
    trade_id: int | None = Field(default=None, index=True)  # a directional trade's order
    basis_id: int | None = Field(default=None, index=True)  # or a basis pair's
    leg: str  # entry | stop | t1 | t2 | t3 | exit; basis: spot | perp | spotx | perpx
    symbol: str
    side: str
    type: str
    amount: Decimal = money()
    price: Decimal | None = money(None)
    stop_price: Decimal | None = money(None)
    reduce_only: bool = False
    state: str = Field(index=True)
    filled: Decimal = money()
    average: Decimal | None = money(None)
    fee: Decimal = money()
    exchange_id: str = ""
    reason: str = ""
    updated_at: int = 0


class OrderEvent(SQLModel, table=True):
    """Every order state change."""

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(index=True)
    at: int
    state: str
    filled: Decimal = money()
    detail: str = ""


class FillRow(SQLModel, table=True):
    __tablename__ = "fill"
    id: int | None = Field(default=None, primary_key=True)
    trade_id: int | None = Field(default=None, index=True)
    client_id: str
    exchange_id: str
    symbol: str
    side: str
    amount: Decimal = money()
    price: Decimal = money()
    fee: Decimal = money()
    ts: int
    liquidation: bool = False
    fill_id: str = Field(default="", index=True)  # the exchange's id: a re-read is skipped


class FundingRow(SQLModel, table=True):
    __tablename__ = "funding_payment"
    id: int | None = Field(default=None, primary_key=True)
    trade_id: int | None = Field(default=None, index=True)
    basis_id: int | None = Field(default=None, index=True)
    symbol: str
    ts: int
    rate: float
    notional: Decimal = money()
    amount: Decimal = money()


class PositionRow(SQLModel, table=True):
    __tablename__ = "position"
    symbol: str = Field(primary_key=True)
    contracts: Decimal = money()
    entry_price: Decimal = money()
    margin: Decimal = money()
    liquidation_price: Decimal | None = money(None)
    unrealised: Decimal = money()
    updated_at: int = 0


class EquityRow(SQLModel, table=True):
    __tablename__ = "equity"
    ts: int = Field(primary_key=True)
    equity: Decimal = money()
    wallet: Decimal = money()
    open_positions: int = 0


class SignalRow(SQLModel, table=True):
    __tablename__ = "signal"
    id: int | None = Field(default=None, primary_key=True)
    ts: int = Field(index=True)
    symbol: str
    module: str
    direction: int
    strength: float
    reasons_json: str


class RiskDecision(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ts: int = Field(index=True)
    symbol: str
    strategy: str
    approved: bool
    rule: str = ""
    reason: str = ""
    size: Decimal = money()
    risk_cash: float = 0.0
    fraction: float = 0.0
    cuts_json: str = "[]"
    trade_id: int | None = None


class Meta(SQLModel, table=True):
    key: str = Field(primary_key=True)
    value: str


class HaltRow(SQLModel, table=True):
    """A halt on new entries: when, why, how it releases, and when and by whom it lifted."""

    __tablename__ = "halt"
    id: int | None = Field(default=None, primary_key=True)
    since: int = Field(index=True)
    reason: str
    release: str  # next_day | manual
    lifted_at: int | None = None
    lifted_by: str = ""


class Alert(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ts: int = Field(index=True)
    symbol: str
    kind: str
    message: str
    details_json: str = "{}"


class Proposal(SQLModel, table=True):
    """A new position waiting for a person: executed at most once, never after expiry."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: int = Field(index=True)
    expires_at: int  # market time: the signal's expiry
    waits_until: int = 0  # wall ms: a person has at least until then, whatever the market
    status: str = Field(index=True)  # pending | approved | rejected | expired | executed | refused
    strategy: str
    symbol: str
    side: str
    size: Decimal = money()
    entry: float
    stop: float
    targets_json: str
    risk_cash: float
    margin: float
    liquidation: float
    fraction: float = 0.0
    weight: float = 1.0
    atr: float = 0.0
    regime: str = ""
    reasons_json: str = "{}"
    cuts_json: str = "[]"
    decided_by: str = ""
    decided_at: int | None = None
    reason: str = ""  # why rejected or refused at execution
    trade_id: int | None = None


class AuditRow(SQLModel, table=True):
    """A person's action on the bot (a button, a command): who, when, from where, what,
    and what came of it — refused ones too."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: int = Field(index=True)  # wall time, ms
    market_at: int = 0  # the bot's market time then
    who: str
    where: str  # e.g. "telegram chat 42", "page 127.0.0.1"
    action: str  # approve | reject | status | halt | flatten | ...
    target: str = ""  # e.g. "proposal 12"
    result: str = ""
