"""The command line and the wiring of each mode (replay, paper, ccxt sessions, exchange serve).
May import everything below it: runner, execution, operator, exchanges, marketdata."""
