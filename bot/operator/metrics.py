"""Prometheus metrics of the running bot, on their own registry."""

from __future__ import annotations

import hmac
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer


class MetricsPortError(ValueError):
    """The /metrics port cannot be bound (taken, or not ours to take)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.equity = Gauge("derivbot_equity", "Account equity in quote currency", registry=r)
        self.wallet = Gauge("derivbot_wallet", "Realised wallet balance", registry=r)
        self.open_positions = Gauge("derivbot_open_positions", "Open trades", registry=r)
        self.open_risk = Gauge("derivbot_open_risk", "Cash at risk in open trades", registry=r)
        self.orders = Gauge("derivbot_orders", "Orders of open trades by state", ["state"],
                            registry=r)
        self.signal = Gauge("derivbot_signal", "Signed signal strength", ["symbol", "module"],
                            registry=r)
        self.trades = Counter("derivbot_trades", "Trades by outcome", ["outcome"], registry=r)
        self.decisions = Counter("derivbot_risk_decisions", "Risk decisions", ["result", "rule"],
                                 registry=r)
        self.halted = Gauge("derivbot_halted", "1 while new entries are halted", registry=r)
        self.risk_fraction = Gauge("derivbot_risk_fraction", "Risk fraction of the last approval",
                                   registry=r)
        self.alerts = Counter("derivbot_alerts", "Alerts raised", ["symbol", "kind"], registry=r)
        self.alert_deliveries = Counter("derivbot_alert_deliveries",
                                        "Webhook deliveries by outcome", ["outcome"], registry=r)
        self.retries = Counter("derivbot_exchange_retries", "Retried exchange calls",
                               ["endpoint"], registry=r)
        self.request_latency = Histogram(
            "derivbot_exchange_request_seconds", "Exchange request latency", ["endpoint"],
            registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.data_age = Gauge("derivbot_market_data_age_seconds",
                              "Age of the newest closed candle", ["symbol"], registry=r)
        self.venue_stale = Gauge("derivbot_venue_stale",
                                 "1 while a market-data venue is stale (unreachable or behind)",
                                 ["venue"], registry=r)
        self.venue_age = Gauge("derivbot_venue_data_age_seconds",
                               "Age of a market-data venue's newest closed candle", ["venue"],
                               registry=r)
        self.reconcile_seconds = Gauge("derivbot_reconcile_seconds",
                                       "Time from start to reconciled with the exchange",
                                       registry=r)
        self.proposals_pending = Gauge("derivbot_proposals_pending",
                                       "Proposals waiting for a person", registry=r)
        self.proposal_age = Gauge("derivbot_proposal_oldest_age_seconds",
                                  "Age of the oldest pending proposal", registry=r)
        self.pnl = Gauge("derivbot_pnl", "Closed-trade PnL by part (price, fees, funding)",
                         ["part"], registry=r)
        self.bucket_risk = Gauge("derivbot_open_risk_bucket",
                                 "Cash at risk per correlated bucket", ["bucket"], registry=r)
        self.rate_limit_wait = Counter("derivbot_rate_limit_wait_seconds",
                                       "Time spent waiting on our own rate limits", ["limit"],
                                       registry=r)
        self.tick_latency = Histogram(
            "derivbot_tick_seconds", "Time to process one market tick", registry=r,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0))
        self.decision_latency = Histogram(
            "derivbot_decision_seconds",
            "Market update in -> its first order request handed to the gateway (a tick "
            "that sends none: its decisions made)",
            registry=r, buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5))
        self.market_time = Gauge("derivbot_market_time_seconds",
                                 "Timestamp of the latest market data processed", registry=r)
        self.basis_pairs = Gauge("derivbot_basis_pairs", "Basis pairs under way", registry=r)
        self.basis_funding = Gauge("derivbot_basis_funding",
                                   "Funding collected by the basis pairs under way", registry=r)

    def serve(self, host: str, port: int, token: str | None = None):
        """Start /metrics in a thread; returns (server, thread). With `token`, a scrape
        must carry it (`Authorization: Bearer ...`): positions and PnL are not for anyone
        who can reach the port. A port taken is a MetricsPortError naming it."""
        app = make_wsgi_app(self.registry)
        if token:
            app = _bearer(app, token)
        try:
            server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
        except OSError as err:
            raise MetricsPortError(f"metrics.port {port} on {host}: {err.strerror}") from None
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        return server, thread


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_args) -> None:  # every scrape is not a log line
        pass


def _bearer(app, token: str):
    want = f"Bearer {token}".encode()

    def guarded(environ, start_response):
        given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, want):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"),
                                                ("WWW-Authenticate", "Bearer")])
            return [b"401: a valid metrics token is required\n"]
        return app(environ, start_response)

    return guarded
