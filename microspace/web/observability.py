"""Request ids, access lines, and the `/metrics` and `/readyz` endpoints."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.auth import bearer_token
from core.config import Settings
from core.http import RETRY_AFTER_UNAVAILABLE, error_response
from core.metrics import Metrics
from core.shared_limits import RedisTokenBuckets
from microspace.web.state import AppState

access = structlog.get_logger("microspace.access")
log = logging.getLogger("microspace")
# an incoming X-Request-ID is honoured when it is a plain token: nothing that could forge or
# break a log line
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def is_safe_id(value: str) -> bool:
    return bool(SAFE_ID.match(value))


class RequestContext:
    """Put the request id (set by asgi-correlation-id) where handlers and logs find it, and
    write one access line per request naming the route, never the raw path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from asgi_correlation_id import correlation_id

        request_id = correlation_id.get() or ""
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            access.info(
                "request",
                method=scope.get("method"),
                route=route_of(scope),
                status=status[0],
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def route_of(scope: Scope) -> str:
    """The route template a request matched (`/exports/{token}`), or `unmatched`."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", []):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


def metrics_endpoint(state: AppState, metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        refused = metrics_refusal(state.settings, request.headers.get("authorization"))
        if refused is not None:
            return refused
        await refresh_outbox(state, metrics)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint


def readiness_endpoint(
    state: AppState, shared: RedisTokenBuckets | None
) -> Callable[[Request], Awaitable[Response]]:
    """`/readyz`: 503 (with `Retry-After`) while the database cannot be reached; ready with
    an unreachable Redis, whose absence the body names (the local rate limits decide)."""

    async def endpoint(_: Request) -> Response:
        try:
            async with state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means: not ready
            log.warning("readiness check failed: %s", type(exc).__name__)
            # like every endpoint during an outage: probes and balancers know when to ask again
            retry = {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)}
            return JSONResponse({"status": "unavailable"}, status_code=503, headers=retry)
        body: dict[str, str] = {"status": "ok"}
        if shared is not None:
            error = await shared.check()
            body["rateLimits"] = "shared" if error is None else "local"
            if error is not None:
                body["redis"] = "unreachable"
                body["detail"] = (
                    f"Redis is unreachable ({error}): each process applies its own local "
                    "rate limits until it is back."
                )
        return JSONResponse(body)

    return endpoint


def metrics_refusal(settings: Settings, authorization: str | None) -> Response | None:
    """Why a scrape is refused, or None. The series name operations, backlogs and pool
    pressure: with `MICROSPACE_METRICS_TOKEN` only its bearer reads them; without it nobody
    in production, anybody in development (the quick start has no token)."""
    expected = settings.metrics_token
    if expected:
        given = bearer_token(authorization) or ""
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return error_response(
            401,
            "UNAUTHENTICATED",
            "Send the metrics token (MICROSPACE_METRICS_TOKEN) as `Authorization: Bearer ...`.",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if settings.dev_mode:
        return None
    return error_response(
        403,
        "METRICS_TOKEN_NOT_SET",
        "Metrics are off in production until MICROSPACE_METRICS_TOKEN is set; the scraper "
        "then sends it as `Authorization: Bearer ...`.",
    )


async def refresh_outbox(state: AppState, metrics: Metrics) -> None:
    """Due outbox rows and webhook deliveries of every tenant, through the functions that
    may list them (keys only)."""
    try:
        async with asyncio.timeout(2):
            async with state.engine.connect() as conn:
                due = await conn.scalar(text("SELECT count(*) FROM app_outbox_due(1000)"))
                hooks = await conn.scalar(
                    text("SELECT count(*) FROM app_webhook_deliveries_due(1000)")
                )
        metrics.outbox_due.set(float(due or 0))
        metrics.webhooks_due.set(float(hooks or 0))
    except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the database cannot
        log.warning("metrics: outbox backlog unavailable: %s", type(exc).__name__)
