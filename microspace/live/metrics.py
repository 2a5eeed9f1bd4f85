"""Live updates' metrics, in the application's registry (served by `/metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class LiveMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sockets = Gauge(
            "microspace_live_sockets", "Open live (WebSocket) connections.", registry=registry
        )
        self.subscriptions = Gauge(
            "microspace_live_subscriptions", "Active subscriptions.", registry=registry
        )
        self.events = Counter(
            "microspace_live_events",
            "Domain events read from the announcements.",
            registry=registry,
        )
        self.executions = Counter(
            "microspace_live_executions",
            "Subscription queries run (one per group of identical subscribers and event).",
            registry=registry,
        )
        self.messages = Counter(
            "microspace_live_messages_fanned_out",
            "`next` messages queued to subscribers.",
            registry=registry,
        )
        self.closed = Counter(
            "microspace_live_closes",
            "Connections the server closed, by close code (4008: slow consumer, dropped).",
            ["reason"],
            registry=registry,
        )
        self.statements = Counter(
            "microspace_live_sql_statements",
            "SQL statements of subscription queries (through the request path), and of the "
            "listener's reads of announced events.",
            registry=registry,
        )
        self.failures = Counter(
            "microspace_live_failures", "Subscription executions that failed.", registry=registry
        )
        self.listener_reconnects = Counter(
            "microspace_live_listener_reconnects",
            "Times the LISTEN connection was opened again after a loss.",
            registry=registry,
        )
