"""derivbot's runtime. The loop (runner.py) and the shared vocabulary (config, clock, markets,
types) live here; the parts live in app/, execution/, operator/, exchanges/ and marketdata/."""
