"""Each event's query, run the way an HTTP query runs: through the `/graphql` view's own
`handle` (microspace/app.py), with the subscriber's credential and origin, so that it is
authenticated again, authorized by the current policies, redacted, costed, rate-limited and
audited exactly as the same query sent over HTTP at that moment would be.

The request is made in-process (no socket): a POST of the rewritten query, marked in its
scope as a live execution whose document was checked when subscribed (a widget's trusted
document: microspace/live/protocol.py), so the persisted-query rule is not asked again of
the rewritten text.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response

from core import http
from core.metrics import counting_statements
from microspace.live.hub import FORBIDDEN, UNAUTHORIZED, Answer, Group
from microspace.live.metrics import LiveMetrics
from microspace.live.topics import LIVE_VARIABLE
from microspace.web import cors
from microspace.web.strawberry_adapter import LIVE_SCOPE, OutcomeRequest

Handle = Callable[[OutcomeRequest], Awaitable[Response]]


class Runner:
    def __init__(self, handle: Handle, metrics: LiveMetrics) -> None:
        self.handle = handle
        self.metrics = metrics

    async def __call__(self, group: Group, obj: str | None) -> Answer:
        plan = group.plan
        body = orjson.dumps(
            {
                "query": plan.query,
                "operationName": plan.operation_name,
                "variables": {**plan.variables, LIVE_VARIABLE: obj},
            }
        )
        request = OutcomeRequest(_scope(group), http.replay(body))
        with counting_statements() as statements:
            response = await self.handle(request)
        self.metrics.statements.inc(statements[0])
        return interpret(response.status_code, bytes(response.body))


def _scope(group: Group) -> dict[str, Any]:
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", group.credential.encode("latin-1")),
    ]
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": group.client,
        "server": None,
        "state": {"request_id": f"live-{uuid.uuid4().hex[:16]}"},
        LIVE_SCOPE: True,
    }
    if group.origin is not None:
        # a page on another origin: its credential must allow it, as for an HTTP request
        headers.append((b"origin", group.origin.encode("latin-1")))
        scope[cors.PENDING] = cors.OriginCheck(group.origin)
    return scope


def interpret(status: int, body: bytes) -> Answer:
    """A live answer from an HTTP one: a payload, a request error, or a close."""
    text = body.decode()
    if b'"errors"' not in body:
        return Answer(text)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Answer(text, fatal=True)
    errors = parsed.get("errors") or []
    codes = {(e.get("extensions") or {}).get("code") for e in errors}
    if "UNAUTHENTICATED" in codes:
        reasons = [(e.get("extensions") or {}).get("reason") for e in errors]
        reason = next((r for r in reasons if r), "credential no longer valid")
        return Answer(text, close=(UNAUTHORIZED, f"Unauthorized: {reason}"))
    if "ORIGIN_NOT_ALLOWED" in codes:
        return Answer(text, close=(FORBIDDEN, "Forbidden: origin not allowed"))
    request_error = status == 400 or (parsed.get("data") is None and "data" in parsed)
    if request_error and all("path" not in e for e in errors):
        # a request error (a limit, validation): this query will never run
        return Answer(text, fatal=True)
    return Answer(text)
