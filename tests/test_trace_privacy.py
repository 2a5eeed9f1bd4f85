"""Traces carry no credential and no personal data.

Invariant guarded here: with tracing on, requests of every kind (a member's POST and GET
with variables, the same document again on the fast lane, a partner key, a widget read by
hash with `?key=`, invitation, export and unsubscribe links, a refused request) leave no
planted token, search term or e-mail address anywhere in what an OTLP collector receives:
span names, attributes, events and statuses alike (the raw export bytes are scanned).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from microspace.app import create_app
from microspace.web import tracing
from tests.factories import mint_key

EMAIL = "planted.person@example.org"
SEARCH = "planted-search-term"
INVITATION = "eyJ2PLANTEDINVITATIONTOKEN.c2ln"
EXPORT = "PLANTEDEXPORTTOKEN"
UNSUBSCRIBE = "PLANTEDUNSUBSCRIBETOKEN"
WIDGET_KEY = "msw_PLANTEDWIDGETKEY"

CREATE = """mutation($input: ContactCreateInput!) {
  contactCreate(input: $input) { contact { id } userErrors { code } } }"""
SEARCHED = "query Searched($s: String) { contacts(search: $s) { totalCount } }"


class Collector:
    """An OTLP/HTTP receiver in this process, on a free port."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def span_names(self) -> list[str]:
        names = []
        for body in self.bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    names.extend(span.name for span in scope.spans)
        return names


async def test_no_span_carries_a_planted_token_or_address(settings, new_tenant, api):
    collector = Collector()
    traced = replace(settings, otel_endpoint=collector.url)
    tenant = await new_tenant()
    partner = await mint_key(api(tenant.token), "partner", ["contacts:read"])
    app = create_app(traced)
    member = {"Authorization": f"Bearer {tenant.token}"}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            created = await c.post(
                "/graphql",
                json={"query": CREATE, "variables": {"input": {"email": EMAIL}}},
                headers=member,
            )
            assert created.json()["data"]["contactCreate"]["userErrors"] == [], created.text
            searched = {"query": SEARCHED, "variables": {"s": SEARCH}}
            for _ in range(2):  # the second time on the fast lane
                r = await c.post("/graphql", json=searched, headers=member)
                assert r.status_code == 200, r.text
            by_get = urlencode({"query": SEARCHED, "variables": json.dumps({"s": EMAIL})})
            assert (await c.get(f"/graphql?{by_get}", headers=member)).status_code == 200
            r = await c.post(
                "/graphql", json=searched, headers={"Authorization": f"Bearer {partner}"}
            )
            assert r.status_code == 200, r.text
            hashed = urlencode(
                {"key": WIDGET_KEY, "extensions": '{"persistedQuery":{"version":1}}'}
            )
            await c.get(f"/graphql?{hashed}")
            await c.get(f"/invitations/{INVITATION}")
            await c.get(f"/exports/{EXPORT}?format=json", headers=member)
            await c.get(f"/unsubscribe/{UNSUBSCRIBE}")
            await c.post("/graphql", json={"query": "{ nope }"}, headers=member)
        tracing.tracer_provider(traced).force_flush()
    finally:
        await app.state.microspace.engine.dispose()
        tracing.shutdown()
        collector.server.shutdown()

    # the scan saw spans of every kind, so an empty export cannot pass it
    names = collector.span_names()
    assert "POST /graphql" in names and "GET /invitations/{token}" in names, names
    assert "GET /exports/{token}" in names and "GET /unsubscribe/{token}" in names, names
    assert any(n.startswith("GraphQL") for n in names), names
    assert any(n.split()[0] in ("SELECT", "INSERT", "BEGIN;") for n in names), names
    secrets = (EMAIL, SEARCH, INVITATION, EXPORT, UNSUBSCRIBE, WIDGET_KEY, tenant.token, partner)
    found = [s for s in secrets for body in collector.bodies if s.encode() in body]
    assert found == []
