"""The in-process simulated exchange: matching rule, engine, saved state, its gateway.
May import the shared vocabulary (bot.markets, bot.types) only."""
