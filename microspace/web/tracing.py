"""OpenTelemetry traces, only when an endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT).

Spans: the HTTP request (ASGI), the GraphQL operation and its resolvers (Strawberry's
extension), and every SQL statement (SQLAlchemy). Exported over OTLP/HTTP in batches.
Span attributes hold operation names and SQL text with bound parameters left out, never
variables or results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from core.config import Settings

_provider: Any = None


def tracer_provider(settings: Settings) -> Any:
    """The process's tracer provider, made once, or None when tracing is off."""
    global _provider
    if not settings.otel_endpoint:
        return None
    if _provider is None:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "microspace"}))
        endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        # Strawberry's extension asks the global provider for its tracer
        trace.set_tracer_provider(provider)
        _provider = provider
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
    app.add_middleware(OpenTelemetryMiddleware, tracer_provider=provider)
    return True


def shutdown() -> None:
    """Send the spans still buffered and stop exporting (at the end of the process)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
