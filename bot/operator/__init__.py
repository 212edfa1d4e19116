"""The operator's face: approval gate, page, status, signals dashboard, alerts and webhook,
metrics, telemetry, replay report. May import exchanges, marketdata, strategies, risk, state."""
