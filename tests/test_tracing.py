"""OpenTelemetry traces: off unless an endpoint is configured; when on, one trace holds the
HTTP request, the GraphQL operation and its SQL statements, sent over OTLP/HTTP.

Invariants guarded here:
- with no endpoint, no tracing middleware or schema extension is installed;
- with an endpoint, a collector (a local HTTP server here) receives spans of all three kinds,
  and none carries the request's variables.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from strawberry.extensions.tracing import OpenTelemetryExtension

from microspace.app import create_app
from microspace.web import tracing


def _middleware_names(app) -> list[str]:
    return [m.cls.__name__ for m in app.user_middleware]


async def test_no_endpoint_no_tracing(settings):
    app = create_app(replace(settings, otel_endpoint=None))
    try:
        assert "OpenTelemetryMiddleware" not in _middleware_names(app)
        assert tracing.schema_extensions(replace(settings, otel_endpoint=None)) == []
    finally:
        await app.state.microspace.engine.dispose()


async def test_spans_reach_the_configured_collector(settings, new_tenant):
    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)  # a free port: tests run in parallel
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    traced = replace(settings, otel_endpoint=f"http://127.0.0.1:{port}")
    tenant = await new_tenant()
    app = create_app(traced)
    try:
        assert "OpenTelemetryMiddleware" in _middleware_names(app)
        (factory,) = tracing.schema_extensions(traced)
        assert isinstance(factory(), OpenTelemetryExtension)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            secret = "variable-value-never-traced"
            auth = {"Authorization": f"Bearer {tenant.token}"}
            r = await c.post(
                "/graphql",
                json={
                    "query": "query Traced($s: String) { a: contacts(search: $s) { totalCount } "
                    'b: contacts(search: "literal-value-never-traced") { totalCount } }',
                    "variables": {"s": secret},
                },
                headers=auth,
            )
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            # the same again, answered by the fast lane: its statement is traced too
            lane = app.state.fast_lane
            answered = lane.answered
            known = "query Known { spaces(first: 1) { totalCount } }"
            for _ in range(2):
                await c.post("/graphql", json={"query": known}, headers=auth)
            assert lane.answered == answered + 1
        tracing.tracer_provider(traced).force_flush()
    finally:
        await app.state.microspace.engine.dispose()
        tracing.shutdown()
        server.shutdown()
        server.server_close()

    names: set[str] = set()
    statements: list[str] = []
    for path, body in received:
        assert path == "/v1/traces"
        assert secret.encode() not in body
        assert b"literal-value-never-traced" not in body
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                names.update(span.name for span in scope.spans)
                statements += [
                    a.value.string_value
                    for span in scope.spans
                    for a in span.attributes
                    if a.key == "db.statement"
                ]
    assert any(n.startswith("POST /graphql") for n in names), names
    assert any("GraphQL" in n or "Traced" in n for n in names), names
    assert any(n.split()[0] in ("SELECT", "select") or "SELECT" in n for n in names), names
    assert any("app_lane_known" in sql for sql in statements), "the lane's statement"
