"""What differs between exchanges, declared as data: ccxt class, testnet switch, order-rate
limits, conditional-order parameters, exact number fields, and error codes → ccxt classes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ccxt.base.errors import (
    BadRequest,
    BadSymbol,
    DuplicateOrderId,
    InsufficientFunds,
    InvalidNonce,
    InvalidOrder,
    OrderImmediatelyFillable,
    OrderNotFound,
    PermissionDenied,
    RateLimitExceeded,
)


@dataclass(frozen=True)
class Profile:
    ccxt_id: str
    testnet: str  # "sandbox" (set_sandbox_mode) or "demo" (enable_demo_trading)
    order_limits: tuple[tuple[int, float], ...]  # (orders, per seconds), per account
    options: dict = field(default_factory=dict)
    trigger_param: str = "triggerPrice"
    # raw `info` fields that hold exact decimal strings (ccxt's unified numbers are floats)
    filled_field: str | None = None
    average_field: str | None = None
    fee_field: str | None = None
    # a triggered conditional order points at the order that filled it
    actual_order_field: str | None = None
    errors: dict[int, type] = field(default_factory=dict)
    safety: float = 0.95  # stay this fraction under the published limits
    weight_limit: tuple[int, float] = (10**9, 60.0)  # request weight per period
    weights: dict[str, int] = field(default_factory=dict)  # by our endpoint name; default 1
    spot_options: dict = field(default_factory=dict)  # ccxt options that add spot markets
    # ccxt options for the public market data: the perps and spot markets, nothing private
    public_options: dict = field(default_factory=dict)
    # rows per page: candles, funding, OI, long/short ratio
    data_limits: tuple[int, int, int, int] = (1000, 1000, 500, 500)


BINANCE_ERRORS = {
    -1003: RateLimitExceeded, -1021: InvalidNonce, -1102: BadRequest, -1111: InvalidOrder,
    -1116: InvalidOrder, -1121: BadSymbol, -2010: InsufficientFunds, -2011: OrderNotFound,
    -2013: OrderNotFound, -2015: PermissionDenied, -2019: InsufficientFunds,
    -2021: OrderImmediatelyFillable, -2022: InvalidOrder, -4003: InvalidOrder,
    -4014: InvalidOrder, -4028: InvalidOrder, -4116: DuplicateOrderId, -4164: InvalidOrder,
}

# where ccxt's bybit table is coarser than the gateway needs: a resent order's duplicate id
# (its answer was lost) and a trigger the price already passed
BYBIT_ERRORS = {110001: OrderNotFound, 110072: DuplicateOrderId,
                110092: OrderImmediatelyFillable, 110093: OrderImmediatelyFillable}

PROFILES = {
    # Binance USD-M: 300 orders / 10 s and 1 200 / min per account (weights are ccxt's)
    "binanceusdm": Profile(
        "binanceusdm", "demo", ((300, 10.0), (1200, 60.0)),
        options={"fetchCurrencies": False, "defaultType": "swap"},
        filled_field="executedQty", average_field="avgPrice", fee_field="commission",
        actual_order_field="actualOrderId", errors=BINANCE_ERRORS,
        weight_limit=(2400, 60.0),
        weights={"balance": 5, "positions": 5, "my_trades": 5, "funding_history": 30,
                 "klines": 5, "markets": 1, "open_orders": 1, "fetch_order": 1,
                 "create_order": 1, "cancel_order": 1, "open_interest": 1, "spot_balance": 20,
                 "leverage_tiers": 1},
        spot_options={"fetchMarkets": {"types": ["spot", "linear"]}, "fetchMargins": False,
                      "defaultType": "future"},  # "swap" would read BTC/USDT as the perp
        public_options={"fetchMarkets": {"types": ["spot", "linear"]}, "fetchMargins": False,
                        "fetchCurrencies": False, "defaultType": "future"}),
    # Bybit v5: 10 orders / s per symbol for linear; demo trading is the test switch. A
    # unified trading account (every account opened since 2024): said here, so ccxt does
    # not probe /v5/user/query-api and /v5/account/info before its first order
    "bybit": Profile("bybit", "demo", ((10, 1.0),),
                     options={"defaultType": "swap", "fetchMarkets": {"types": ["linear"]},
                              "fetchCurrencies": False, "enableUnifiedAccount": True,
                              "enableUnifiedMargin": False},
                     filled_field="cumExecQty", average_field="avgPrice", fee_field="execFee",
                     errors=BYBIT_ERRORS,
                     public_options={"fetchMarkets": {"types": ["spot", "linear"]},
                                     "fetchCurrencies": False, "defaultType": "swap"},
                     data_limits=(1000, 200, 200, 500)),
    # OKX: 60 orders / 2 s per instrument; the demo environment uses the sandbox flag
    "okx": Profile("okx", "sandbox", ((60, 2.0),), options={"defaultType": "swap"},
                   public_options={"fetchMarkets": {"types": ["spot", "swap"]},
                                   "fetchCurrencies": False, "defaultType": "swap"},
                   data_limits=(300, 100, 100, 100)),
}
