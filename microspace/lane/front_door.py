"""The front door: a `/graphql` request that the fast lane answers, answered before the
middleware stack.

For a request the fast lane answers (microspace/lane/lane.py), the stack only adds headers
and a log line, yet its layers cost about as much CPU as the lane's own checks. What the
stack adds to such an answer is added here the same way: the request id (`X-Request-ID`,
honoured when it is a plain token), the CORS headers and `Vary: Origin`, the GraphQL
response media type when asked for, the request metrics and the access line.

This is the lane's one entrance, for POSTs and for GETs with a query text. A browser's
request (with another `Origin`) takes the lane too: its statement checks the origin against
the credential's allow-list, the one the CORS middleware reads (microspace/web/cors.py), and
when the credential does not allow it the lane declines and the stack refuses it as always.
A preflight is answered here by the CORS middleware's own rules. Everything else goes
through the whole stack untouched: another path or method, a POST without a
`Content-Length` within the body limit, and any request the lane declines, whose body is
replayed.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from asgi_correlation_id import correlation_id
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from core import http
from core.http import Refusal
from microspace.lane.lane import FastLane
from microspace.web.cors import Cors
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
        if scope["type"] != "http" or scope["path"] != PATH or not self.lane.open:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        headers = _Headers(scope=scope)
        if method == "OPTIONS" and "origin" in headers:
            await self._preflight(scope, receive, send, headers)
        elif method == "POST":
            await self._post(scope, receive, send, headers)
        elif method == "GET" and _operation_in(scope.get("query_string", b"")):
            await self._answer(scope, receive, send, headers, b"")
        else:
            await self.app(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        limit = self.state.settings.max_body_bytes
        declared = headers.get("content-length")
        if not (declared and declared.isdigit() and int(declared) <= limit):
            await self.app(scope, receive, send)
            return
        try:
            body = await http.read_body(scope, receive, limit)
        except Refusal:  # a body longer than declared: the endpoint reports it
            await self.app(scope, receive, send)
            return
        await self._answer(scope, http.replay(body), send, headers, body)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers, body: bytes
    ) -> None:
        """The lane's answer, with what the stack would add; or the whole stack's, the body
        replayed. A cross-origin request's origin is checked by the lane's own statement
        against the credential's allow-list; when the credential does not allow it, the lane
        declines and the stack refuses the origin as it always does."""
        started = time.perf_counter()
        origin = self.cors.cross_origin(scope, headers)
        incoming = headers.get("x-request-id")
        request_id = incoming if incoming and is_safe_id(incoming) else _ids.next()
        client = scope["client"][0] if scope.get("client") else "unknown"
        metrics = self.state.metrics
        with metrics.request() as report:
            if scope["method"] == "GET":
                query_string = scope.get("query_string", b"")
                reply = await self.lane.answer_get(
                    headers, query_string, client, request_id, origin
                )
            else:
                reply = await self.lane.answer(headers, body, client, request_id, origin)
            if reply is None:
                report.discard()  # the whole way counts this request
            else:
                operation, kind, outcome, tenant = reply.labels()
                report(operation, kind, outcome, tenant=tenant)
        if reply is None:
            await self.app(scope, receive, send)
            return
        response = reply.response
        status, raw, content = response.status_code, response.raw_headers, response.body
        if scope["method"] == "GET":
            # the whole way's caching headers, or its 304 (core/http.py get_caching)
            caching = http.get_caching(
                headers,
                bytes(content),
                status=status,
                caller=reply.caller,
                personal=reply.personal,
                widget_max_age=self.state.settings.widget_cache_seconds,
            )
            if caching.status == 304:
                status, content = 304, b""
                raw = [(k, v) for k, v in raw if k not in (b"content-length", b"content-type")]
            raw += [(k.lower().encode(), v.encode()) for k, v in caching.headers.items()]
        if http.wants_graphql_response(headers.get("accept")):
            raw = [
                (k, http.GRAPHQL_RESPONSE.encode()) if k == b"content-type" else (k, v)
                for k, v in raw
            ]
        raw.extend(cors_headers(origin))
        await self._send(scope, send, status, raw, content, request_id, started)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> None:
        """A preflight, answered here by the CORS middleware's own rules (a credential-less
        decision on the widget key in the URL, or on any allowed origin)."""
        started = time.perf_counter()
        origin = self.cors.cross_origin(scope, headers)
        try:
            decided = None if origin is None else await self.cors.preflight(scope, headers, origin)
        except Exception:  # noqa: BLE001 (an outage: the stack answers it as it answers all)
            decided = None
        if decided is None:  # same origin, or the outage's answer
            await self.app(scope, receive, send)
            return
        incoming = headers.get("x-request-id")
        request_id = incoming if incoming and is_safe_id(incoming) else _ids.next()
        raw = decided.raw_headers
        await self._send(scope, send, decided.status_code, raw, decided.body, request_id, started)

    async def _send(
        self,
        scope: Scope,
        send: Send,
        status: int,
        raw: list[tuple[bytes, bytes]],
        body: bytes | memoryview,
        request_id: str,
        started: float,
    ) -> None:
        raw.append((b"x-request-id", request_id.encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
        correlation_id.set(request_id)
        # what `filter_by_level` decides first, without an event to drop (microspace/web/logs.py)
        if access.isEnabledFor(logging.INFO):
            access.info(
                "request",
                request_id=request_id,
                method=scope["method"],
                route=PATH,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )


class _RequestIds:
    """Request ids as `uuid.uuid4().hex` makes them (version 4, RFC 4122 variant), from
    random bytes drawn 4 KiB at a time: a system call for each id cost more than the rest
    of making it. A forked process draws its own."""

    # the version and variant bits `uuid.UUID(..., version=4)` sets
    CLEAR = ~(0xC000 << 48 | 0xF000 << 64)
    SET = 0x8000 << 48 | 4 << 76

    def __init__(self) -> None:
        self.drawn = b""
        self.at = 0

    def next(self) -> str:
        at = self.at
        if at >= len(self.drawn):
            self.drawn, at = os.urandom(4096), 0
        self.at = at + 16
        value = int.from_bytes(self.drawn[at : at + 16], "big") & self.CLEAR | self.SET
        return f"{value:032x}"

    def forget(self) -> None:
        self.drawn, self.at = b"", 0


_ids = _RequestIds()
os.register_at_fork(after_in_child=_ids.forget)


def _operation_in(query_string: bytes) -> bool:
    """Whether a GET carries an operation (a query text or a document's hash), not a visit
    of the GraphQL IDE."""
    return b"query=" in query_string or b"extensions=" in query_string


class _Headers(Headers):
    """Starlette's `Headers` with a lookup that raises nothing: a request's answer reads
    about seven headers, most of them absent, and `Mapping.get` scans the list for each and
    finds an absent one by catching `KeyError`."""

    def get(self, key: str, default: Any = None) -> Any:
        first = self.__dict__.get("_first")
        if first is None:  # each name's first value, as `Headers` finds it
            first = self._first = dict(reversed(self._list))
        name = _NAMES.get(key)
        if name is None:
            name = key.lower().encode("latin-1")
        value = first.get(name)
        return default if value is None else value.decode("latin-1")


# the names a request's answer looks up, encoded once
_NAMES = {
    name: name.encode("latin-1")
    for name in (
        "accept",
        "authorization",
        "content-length",
        "content-type",
        "host",
        "if-none-match",
        "origin",
        "x-request-id",
    )
}
