"""Market rules (precision, limits, fees) and rounding at the exchange boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from risk.manager import MarketRules

QUOTES = ("USDT", "USDC", "USD")


@dataclass(frozen=True, slots=True)
class Market:
    symbol: str  # ccxt unified: BTC/USDT:USDT (perp) or BTC/USDT (spot)
    base: str
    quote: str
    spot: bool
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal
    min_notional: Decimal
    max_leverage: float = 125.0
    mmr_tiers: tuple[tuple[float, float], ...] | None = None  # the exchange's brackets
    taker_fee: float = 0.0005  # of notional: an entry's margin check pays it too

    def amount_to_precision(self, amount: Decimal | float) -> Decimal:
        """Round down: never send more than was sized."""
        return _quantize(Decimal(str(amount)), self.amount_step, ROUND_DOWN)

    def price_to_precision(self, price: Decimal | float) -> Decimal:
        return _quantize(Decimal(str(price)), self.price_tick, ROUND_HALF_EVEN)

    def rules(self) -> MarketRules:
        return MarketRules(self.amount_step, self.price_tick, self.min_amount,
                           float(self.min_notional), self.max_leverage, self.mmr_tiers,
                           self.taker_fee)


def _quantize(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    units = (value / step).to_integral_value(rounding=rounding)
    return (units * step).quantize(step)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def split_symbol(symbol: str) -> tuple[str, str, bool]:
    """'BTC/USDT:USDT' -> ('BTC', 'USDT', False); 'BTC/USDT' -> ('BTC', 'USDT', True)."""
    pair, _, settle = symbol.partition(":")
    base, sep, quote = pair.partition("/")
    if not sep or not base or not quote:
        raise ValueError(f"symbol {symbol!r} is not in ccxt form BASE/QUOTE[:SETTLE]")
    return base, quote, not settle


def symbol_dir(symbol: str) -> str:
    """The folder a symbol's data lives in: 'BTC/USDT:USDT' -> 'BTCUSDT'."""
    base, quote, _ = split_symbol(symbol)
    return f"{base}{quote}"


def dir_symbol(name: str) -> str:
    """'BTCUSDT' -> 'BTC/USDT:USDT' (the perp)."""
    for quote in QUOTES:
        if name.endswith(quote) and len(name) > len(quote):
            return f"{name[:-len(quote)]}/{quote}:{quote}"
    raise ValueError(f"data folder {name!r} does not end in a known quote {QUOTES}")


# Binance USD-M values for the majors; anything else gets rules scaled to its price.
KNOWN = {
    "BTC": ("0.001", "0.1", "100", 125.0),
    "ETH": ("0.001", "0.01", "20", 100.0),
}


def default_market(symbol: str, price: float) -> Market:
    base, quote, spot = split_symbol(symbol)
    if base in KNOWN:
        step, tick, notional, max_lev = KNOWN[base]
    else:
        mag = math.floor(math.log10(price)) if price > 0 else 0
        tick = str(Decimal(1).scaleb(mag - 4))
        step = str(Decimal(1).scaleb(min(max(-mag + 1, -3), 3)))
        notional, max_lev = "5", 50.0
    if spot:
        notional = "5"
    return Market(symbol, base, quote, spot, Decimal(step), Decimal(tick), Decimal(step),
                  Decimal(notional), max_lev)
