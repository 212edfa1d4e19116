"""Real exchanges through ccxt: the gateway (execution), profiles, request limits, and the
venue's market-data client (history fetch, live poll)."""
