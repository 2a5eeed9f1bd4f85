"""OpenTelemetry traces, only when an endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT).

Spans: the HTTP request (ASGI), the GraphQL operation and its resolvers (Strawberry's
extension), and every SQL statement (SQLAlchemy). Exported over OTLP/HTTP in batches.

A path or query string may be a credential (`/invitations/{token}`, `?key=`, a GET query's
variables), and instrumentation libraries add attributes of their own. So what leaves the
process is decided in one place, the exporter (`scrubbed`): HTTP spans are named by their
route template, only attributes in SAFE_ATTRIBUTES are kept, exception events keep their
type and status its code, never a message (database errors quote values).
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from core.config import Settings

# one provider per process: OpenTelemetry's global provider, which Strawberry's extension
# asks for its tracer, cannot be replaced once set
_provider: Any = None
_exporter: Any = None


def tracer_provider(settings: Settings) -> Any:
    """The process's tracer provider, made once, or None when tracing is off; its spans go
    to the endpoint of the latest settings."""
    global _provider, _exporter
    if not settings.otel_endpoint:
        return None
    if _provider is None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "microspace"}))
        _exporter = scrubbed()
        provider.add_span_processor(BatchSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
        _provider = provider
    _exporter.aim(settings.otel_endpoint.rstrip("/") + "/v1/traces")
    return _provider


def schema_extensions(settings: Settings) -> list[Any]:
    if tracer_provider(settings) is None:
        return []
    return [GraphQLSpans]


def _no_arguments(args: dict[str, Any], info: Any) -> dict[str, Any]:
    return {}


def _extension_class() -> Any:
    from strawberry.extensions.tracing import OpenTelemetryExtension

    class Spans(OpenTelemetryExtension):
        """Strawberry's spans without the document text or resolver arguments: either may
        hold personal data (a search term, an e-mail address)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(arg_filter=_no_arguments, **kwargs)

        def on_operation(self) -> Generator[None, None, None]:
            inner = super().on_operation()
            document = self.execution_context.query
            self.execution_context.query = None  # the operation span records no document
            try:
                next(inner)
            finally:
                self.execution_context.query = document
            yield
            with contextlib.suppress(StopIteration):
                next(inner)

    return Spans


def GraphQLSpans() -> Any:
    return _extension_class()()


# what a span may carry out of the process: methods, statuses, route templates, SQL text
# (statements bind their values), GraphQL operation and field names
SAFE_ATTRIBUTES = frozenset(
    {
        "http.method",
        "http.request.method",
        "http.status_code",
        "http.response.status_code",
        "http.route",
        "http.scheme",
        "url.scheme",
        "http.flavor",
        "network.protocol.version",
        "db.system",
        "db.name",
        "db.statement",
        "db.operation",
        "net.peer.name",
        "net.peer.port",
        "server.address",
        "server.port",
        "component",
        "graphql.operation.name",
        "graphql.operation.type",
        "graphql.parentType",
        "graphql.path",
        "graphql.field_name",
    }
)


def scrubbed() -> Any:
    """An OTLP/HTTP span exporter that passes on only what SAFE_ATTRIBUTES allows."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExporter

    class Scrubbed(SpanExporter):
        def __init__(self) -> None:
            self.endpoint: str | None = None
            self.inner: Any = None

        def aim(self, endpoint: str) -> None:
            if endpoint != self.endpoint:
                self.endpoint, self.inner = endpoint, OTLPSpanExporter(endpoint=endpoint)

        def export(self, spans: Any) -> Any:
            return self.inner.export([scrub(span) for span in spans])

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(self.inner.force_flush(timeout_millis))

    return Scrubbed()


def scrub(span: Any) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import SpanKind, Status

    attributes = {k: v for k, v in (span.attributes or {}).items() if k in SAFE_ATTRIBUTES}
    name = span.name
    if span.kind is SpanKind.SERVER:
        method = attributes.get("http.request.method") or attributes.get("http.method") or ""
        name = f"{method} {attributes.get('http.route', 'unmatched')}".strip()
    events = [
        Event(
            e.name,
            {k: v for k, v in (e.attributes or {}).items() if k == "exception.type"},
            e.timestamp,
        )
        for e in span.events
    ]
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def route_of(app: Starlette, scope: dict[str, Any]) -> str:
    """The template of the route a request matches (`/invitations/{token}`), never its path."""
    from starlette.routing import Match

    for route in app.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def instrument(app: Starlette, engine: AsyncEngine, settings: Settings) -> bool:
    """A span per HTTP request and per SQL statement; False (and nothing done) when off."""
    provider = tracer_provider(settings)
    if provider is None:
        return False
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # its declared range stops below SQLAlchemy 2.1, whose engine events it uses unchanged
    # (tests/test_tracing.py checks that statements are traced)
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )

    def details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        route = route_of(app, scope)
        return f"{scope.get('method', '')} {route}".strip(), {"http.route": route}

    app.add_middleware(
        OpenTelemetryMiddleware,
        tracer_provider=provider,
        default_span_details=details,
        exclude_spans=["receive", "send"],
    )
    return True


def shutdown() -> None:
    """Send the spans still buffered and stop tracing the app's engine (at the end of an
    app's life; the provider itself lives as long as the process and flushes at exit)."""
    if _provider is not None:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        _provider.force_flush()
        SQLAlchemyInstrumentor().uninstrument()
