"""Where orders go: the Gateway protocol, the simulated exchange (sim/), ccxt's (ccxt/), the
local exchange on loopback (localex/), the fault injector. May import marketdata and state."""
