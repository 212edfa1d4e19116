"""Signal modules: pure functions of market history that return Signals and TradePlans."""
