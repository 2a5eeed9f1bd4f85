"""The front door: a `POST /graphql` that the fast lane answers, answered before the
middleware stack.

For a request the fast lane answers (microspace/lane/lane.py), the stack only adds headers
and a log line, yet its five layers cost about as much CPU as the lane's own checks. What
the stack adds to such an answer is added here the same way: the request id
(`X-Request-ID`, honoured when it is a plain token), `Vary: Origin`, the GraphQL response
media type when asked for, the request metrics and the access line.

This is the lane's one entrance. A request with an `Origin` header is decided here by the
same CORS rules as the stack's (microspace/web/cors.py), and the verdict rides along to the
stack when the lane does not answer. Everything else goes through the whole stack
untouched: another path or method, a refused origin or a preflight, one without a
`Content-Length` within the body limit, and any request the lane declines, whose body is
replayed.
"""

from __future__ import annotations

import time
import uuid

from asgi_correlation_id import correlation_id
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from core import http
from core.http import Refusal
from microspace.lane.lane import FastLane
from microspace.web.cors import SAME_ORIGIN, VERDICT, Cors
from microspace.web.cors import headers_for as cors_headers
from microspace.web.observability import access, is_safe_id
from microspace.web.state import AppState

PATH = "/graphql"


class FrontDoor:
    def __init__(self, app: ASGIApp, state: AppState, lane: FastLane) -> None:
        self.app = app
        self.state = state
        self.lane = lane
        self.cors = Cors(app, state)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or not self.lane.open
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.state.settings.max_body_bytes
        declared = headers.get("content-length")
        if not (declared and declared.isdigit() and int(declared) <= limit):
            await self.app(scope, receive, send)
            return
        verdict = SAME_ORIGIN
        if "origin" in headers:
            try:
                decided = await self.cors.decide(scope, headers)
            except Exception:  # noqa: BLE001 (an outage: the stack answers it as it answers all)
                await self.app(scope, receive, send)
                return
            if isinstance(decided, Response):
                scope[VERDICT] = decided
                await self.app(scope, receive, send)
                return
            verdict = decided
        started = time.perf_counter()
        try:
            body = await http.read_body(scope, receive, limit)
        except Refusal:  # a body longer than declared: the endpoint reports it
            scope[VERDICT] = verdict
            await self.app(scope, receive, send)
            return
        incoming = headers.get("x-request-id")
        request_id = incoming if incoming and is_safe_id(incoming) else uuid.uuid4().hex
        client = scope["client"][0] if scope.get("client") else "unknown"
        metrics = self.state.metrics
        with metrics.request() as report:
            reply = await self.lane.answer(headers, body, client, request_id)
            if reply is None:
                report.discard()  # the whole way counts this request
            else:
                report(*reply.labels())
        if reply is None:
            scope[VERDICT] = verdict
            await self.app(scope, http.replay(body), send)
            return
        response = reply.response
        status = response.status_code
        raw = response.raw_headers
        if http.wants_graphql_response(headers.get("accept")):
            raw = [
                (k, http.GRAPHQL_RESPONSE.encode()) if k == b"content-type" else (k, v)
                for k, v in raw
            ]
        raw.extend(cors_headers(verdict.origin))
        raw.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": response.body})
        correlation_id.set(request_id)
        access.info(
            "request",
            request_id=request_id,
            method="POST",
            route=PATH,
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
