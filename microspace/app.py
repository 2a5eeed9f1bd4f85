"""The Starlette application: routes, the `/graphql` endpoint, lifespan."""

from __future__ import annotations

import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from core import access_log, http
from core.config import Settings
from core.db import make_engine, sessionmaker_for
from core.http import Refusal
from core.limits import Limits
from core.outcome import RequestOutcome
from core.ratelimit import CostExceedsBurst, TokenBuckets
from core.ratelimit import headers as rate_headers
from core.shared_limits import RedisTokenBuckets
from files.storage import storage_from
from microspace.endpoints.exports import export_endpoint
from microspace.endpoints.files import download_endpoint, upload_endpoint
from microspace.endpoints.invitations import invitation_endpoint
from microspace.endpoints.previews import preview_endpoint
from microspace.endpoints.unsubscribe import unsubscribe_endpoint
from microspace.endpoints.widget import widget_script
from microspace.lane import front_door
from microspace.lane.lane import FastLane
from microspace.live import Live
from microspace.web import tracing
from microspace.web.cors import Cors
from microspace.web.graphiql import PREFIX as GRAPHIQL_PREFIX
from microspace.web.graphiql import asset as graphiql_asset
from microspace.web.logs import configure_structlog
from microspace.web.observability import (
    RequestContext,
    is_safe_id,
    metrics_endpoint,
    readiness_endpoint,
)
from microspace.web.pipeline import Pipeline
from microspace.web.state import AppState
from microspace.web.strawberry_adapter import OutcomeRequest, StrawberryView
from models.pii import validate_categories
from policies.authz import TenantPolicies, load_enforcer
from privacy.erasure import StepHook
from schema.build import build_schema
from schema.context import Context

log = logging.getLogger("microspace")


class GraphQLApp(StrawberryView):
    """The `/graphql` endpoint: strict HTTP rules, a rate limit in cost points, and one
    opened request (a unit of work, within the execution timeout) per HTTP request."""

    def __init__(self, pipeline: Pipeline, **kwargs: Any) -> None:
        settings = pipeline.state.settings
        limits = Limits.from_settings(settings)
        super().__init__(
            build_schema(
                extra_extensions=tracing.schema_extensions(settings),
                limits=limits,
                compiled_reads=settings.compiled_reads,
            ),
            # GET by hash is always open (widget reads, CDN caching); GET with a query text
            # as configured (StrawberryView.parse_http_body)
            allow_queries_via_get=True,
            **kwargs,
        )
        self.get_text_queries = settings.allow_get_queries
        self.pipeline = pipeline
        self.buckets = TokenBuckets(settings.rate_limit_burst, settings.rate_limit_rate)
        # with REDIS_URL, one budget for every process (core/shared_limits.py)
        self.shared = (
            RedisTokenBuckets(
                settings.redis_url,
                settings.rate_limit_burst,
                settings.rate_limit_rate,
                prefix=settings.redis_prefix,
                on_fallback=pipeline.state.metrics.rate_limit_fallbacks.inc,
            )
            if settings.redis_url
            else None
        )
        # documents the compiled read path answered before, answered again without Strawberry
        reads = self.schema.compiled_reads  # type: ignore[attr-defined]
        self.fast = FastLane(pipeline, reads, limits, self.buckets, self.shared)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            body = await http.read_body(scope, receive, self.body_limit(scope))
        except Refusal as refusal:
            await refusal.response()(scope, receive, send)
            return
        request = OutcomeRequest(scope, http.replay(body))
        with self.pipeline.state.metrics.request() as report:
            response = await self.handle(request)
            report(*outcome_labels(request, response), tenant=tenant_label(request))
        if request.method == "GET" and response.media_type == "application/json":
            response = self.cached(request, response)
        if http.wants_graphql_response(request.headers.get("accept")) and (
            response.media_type == "application/json"
        ):
            response.headers["content-type"] = http.GRAPHQL_RESPONSE
        await response(scope, receive, send)

    def body_limit(self, scope: Scope) -> int:
        """A file upload (multipart) may be larger than an operation; nothing else."""
        settings = self.pipeline.state.settings
        content_type = Headers(scope=scope).get("content-type")
        if scope["method"] == "POST" and http.is_multipart(content_type):
            return max(settings.max_body_bytes, settings.max_upload_bytes)
        return settings.max_body_bytes

    async def handle(self, request: OutcomeRequest) -> Response:
        async def step(context: Context) -> Response:
            request.state.context = context
            context.outcome.caller = context.principal.kind
            await self.admit(request, context)
            response = await self.execute(request, context)
            # read before the audit is flushed with the commit
            context.outcome.personal = len(context.audit) > 0
            return self.finish(response, context.outcome)

        return await self.pipeline.serve(request, step, request.outcome)

    async def admit(self, request: Request, context: Context) -> None:
        """Take one point for the request itself; the query's cost is taken after parsing."""
        if not self.buckets.enabled:
            return
        principal = context.principal
        # per token or key; per client address for anonymous callers and rejected tokens
        client = request.client.host if request.client else "unknown"
        key = principal.key if principal.authenticated else f"ip:{client}"
        if self.shared is not None:
            await context.outcome.admit_shared(self.shared, key)
        else:
            context.outcome.admit(self.buckets, key)
        self.refuse_if_limited(context.outcome)

    def finish(self, response: Response, outcome: RequestOutcome) -> Response:
        """Apply what the limits decided during execution to the HTTP answer."""
        self.refuse_if_limited(outcome)
        if outcome.request_error:
            response.status_code = 400
        if outcome.decision is not None:
            response.headers.update(rate_headers(self.buckets, outcome.decision))
        return response

    def cached(self, request: OutcomeRequest, response: Response) -> Response:
        """A GET's caching headers, or 304 Not Modified (core/http.py get_caching)."""
        outcome = request.outcome
        caching = http.get_caching(
            request.headers,
            bytes(response.body),
            status=response.status_code,
            caller=outcome.caller,
            personal=outcome.personal,
            widget_max_age=self.pipeline.state.settings.widget_cache_seconds,
        )
        if caching.status == 304:
            kept = {
                k: v
                for k, v in response.headers.items()
                if k not in ("content-length", "content-type")
            }
            response = Response(status_code=304, headers=kept)
        response.headers.update(caching.headers)
        return response

    def refuse_if_limited(self, outcome: RequestOutcome) -> None:
        error = outcome.refusal
        if error is None:
            return
        self.pipeline.state.metrics.rate_limited.inc()
        extensions = {k: v for k, v in (error.extensions or {}).items() if k != "code"}
        if isinstance(error, CostExceedsBurst):
            # final: no Retry-After, as no wait would admit it
            raise Refusal(400, "COST_EXCEEDS_BURST", error.message, **extensions)
        headers = rate_headers(self.buckets, error.decision)
        raise Refusal(429, "RATE_LIMITED", error.message, headers, **extensions)


def outcome_labels(request: OutcomeRequest, response: Response) -> tuple[str | None, str, str]:
    """(operation name, operation type, outcome) of a GraphQL request, for its metrics."""
    context = getattr(request.state, "context", None)
    name, kind = getattr(context, "operation", None) or (None, "unknown")
    status = response.status_code
    if status == 200:
        result = "partial" if request.outcome.graphql_errors else "ok"
    elif status == 429:
        result = "rate_limited"
    elif status == 503:
        result = "unavailable" if getattr(context, "unavailable", True) else "timeout"
    else:
        result = "rejected" if status < 500 else "error"
    return name, kind, result


def tenant_label(request: OutcomeRequest) -> str:
    """Whose operation names a request may add to the metrics (core/metrics.py)."""
    principal = getattr(getattr(request.state, "context", None), "principal", None)
    tenant = getattr(principal, "tenant_id", None)
    return str(tenant) if tenant is not None else "anonymous"


def create_app(settings: Settings, *, erasure_after_step: StepHook | None = None) -> Starlette:
    settings = settings.with_public_url()  # production refuses to start without it
    engine = make_engine(
        settings.app_url(),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        statement_timeout=settings.statement_timeout,
    )
    validate_categories()  # a personal column without a fideslang category stops start-up
    access_log.install()  # export links are secrets: the access log shows the route only
    enforcer = load_enforcer()
    state = AppState(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker_for(engine),
        enforcer=enforcer,
        tenant_policies=TenantPolicies(enforcer),
        erasure_after_step=erasure_after_step,
        storage=storage_from(settings),
    )
    pipeline = Pipeline(state)
    graphql = GraphQLApp(pipeline, graphql_ide="graphiql" if settings.dev_mode else None)
    # subscriptions on the same path; each event's query runs through `graphql.handle`
    live = Live(state, graphql.schema._schema, graphql.handle)  # type: ignore[attr-defined]
    state.metrics.watch_engine(engine)
    state.metrics.watch_caches(graphql.schema.compiled_reads.caches)  # type: ignore[attr-defined]
    configure_structlog()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await live.stop()
        await engine.dispose()
        await state.storage.close()
        if graphql.shared is not None:
            await graphql.shared.close()
        tracing.shutdown()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", live),
            Route("/exports/{token}", export_endpoint(pipeline), methods=["GET"]),
            Route("/unsubscribe/{token}", unsubscribe_endpoint(state), methods=["GET", "POST"]),
            Route("/invitations/{token}", invitation_endpoint(pipeline), methods=["GET", "POST"]),
            Route("/previews/{token}", preview_endpoint(pipeline), methods=["GET"]),
            Route("/widget.js", widget_script(state), methods=["GET"]),
            Route("/files/{token}", download_endpoint(state), methods=["GET", "HEAD"]),
            Route("/files/uploads/{token}", upload_endpoint(state), methods=["PUT"]),
            Route("/healthz", healthz),
            Route("/readyz", readiness_endpoint(state, graphql.shared)),
            Route("/metrics", metrics_endpoint(state, state.metrics)),
            # GraphiQL's own files, in development mode only, like GraphiQL itself
            *(
                [Route(f"{GRAPHIQL_PREFIX}/{{name}}", graphiql_asset, methods=["GET"])]
                if settings.dev_mode
                else []
            ),
        ],
        lifespan=lifespan,
    )
    app.state.microspace = state
    # the compiled read path: tests flip `.enabled` to hold both paths to one answer
    app.state.compiled_reads = graphql.schema.compiled_reads  # type: ignore[attr-defined]
    app.state.fast_lane = graphql.fast
    app.state.live = live
    app.add_middleware(Cors, state=state)
    app.add_middleware(RequestContext)
    # outermost: an incoming X-Request-ID is honoured when it is a plain token, else replaced
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        validator=is_safe_id,
        generator=lambda: uuid.uuid4().hex,
    )
    # what the fast lane answers skips the layers above (microspace/lane/front_door.py)
    app.add_middleware(front_door.FrontDoor, state=state, lane=graphql.fast)
    tracing.instrument(app, engine, settings)  # outermost, when an endpoint is configured
    # start-up objects (schema, policies, models) never die: keep them out of the cyclic
    # collector's full passes, which otherwise walk them during large responses
    gc.freeze()
    return app
