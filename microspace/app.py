"""The Starlette application: routes, per-request unit of work, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from core import http
from core.auth import Principal, authenticate
from core.config import Settings
from core.db import Db, make_engine, sessionmaker_for
from core.http import Refusal, error_response
from core.limits import Limits
from core.ratelimit import Decision, RateLimited, TokenBuckets
from core.ratelimit import headers as rate_headers
from microspace.exports import export_endpoint
from microspace.state import AppState
from models.pii import validate_categories
from policies.authz import Authorizer, TenantPolicies, load_enforcer, load_tenant_policies
from schema.build import build_schema
from schema.context import Context
from store.loaders import Loaders

log = logging.getLogger("microspace")


class RequestId:
    """Give every request an id, echoed in `X-Request-ID` and in masked errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


class GraphQLApp(GraphQL):
    """Strawberry's ASGI view: one database transaction per HTTP request, strict HTTP rules,
    a rate limit in cost points, and an execution timeout."""

    def __init__(self, state: AppState, **kwargs: Any) -> None:
        settings = state.settings
        super().__init__(
            build_schema(
                limits=Limits.from_settings(settings), compiled_reads=settings.compiled_reads
            ),
            allow_queries_via_get=settings.allow_get_queries,
            **kwargs,
        )
        self.state = state
        self.buckets = TokenBuckets(settings.rate_limit_burst, settings.rate_limit_rate)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            body = await http.read_body(scope, receive, self.state.settings.max_body_bytes)
        except Refusal as refusal:
            await refusal.response()(scope, receive, send)
            return
        request = Request(scope, http.replay(body))
        response = await self.handle(request)
        if http.wants_graphql_response(request.headers.get("accept")) and (
            response.media_type == "application/json"
        ):
            response.headers["content-type"] = http.GRAPHQL_RESPONSE
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        settings = self.state.settings
        db = Db(self.state.sessionmaker, statement_timeout=settings.statement_timeout)
        try:
            context = await self.build_context(request, db)
            decision = self.admit(request, context.principal)
            if decision is not None and not decision.allowed:
                await db.rollback()
                return self.rate_limited(
                    RateLimited(decision, settings.rate_limit_burst, settings.rate_limit_rate)
                )
            try:
                async with asyncio.timeout(settings.execution_timeout):
                    response = await self.run(request, context=context)
            except Refusal as refusal:
                await db.rollback()
                return refusal.response()
            except TimeoutError:
                await db.abandon()
                return error_response(
                    503,
                    "EXECUTION_TIMEOUT",
                    f"The request ran past the {settings.execution_timeout:g} s execution "
                    "timeout and was cancelled; nothing was changed.",
                    limit=settings.execution_timeout,
                )
            except HTTPException as exc:
                await db.rollback()
                if isinstance(exc.__cause__, InvalidOperationTypeError) and request.method == "GET":
                    return error_response(
                        405,
                        "MUTATION_OVER_GET",
                        "Mutations are only accepted over POST.",
                        {"Allow": "POST"},
                    )
                return error_response(exc.status_code, "BAD_REQUEST", exc.reason)
            except StrawberryGraphQLError as exc:
                await db.rollback()
                return error_response(400, "BAD_REQUEST", exc.message)
            refused = getattr(request.state, "rate_limited", None)
            if refused is not None:
                await db.rollback()
                return self.rate_limited(refused)
            if context.failed or db.aborted:
                await db.abandon()
                # the changes are undone, but what the response discloses is still audited
                await self.audit_apart(context)
            else:
                # the audit of what this response discloses commits with it, or not at all
                await context.audit.flush(db)
                await db.commit()
            if getattr(request.state, "request_error", False):
                response.status_code = 400
            if decision is not None:
                final = getattr(request.state, "rate_decision", decision)
                response.headers.update(rate_headers(self.buckets, final))
            return response
        except Exception:
            await db.rollback()
            request_id = request.state.request_id
            log.exception("unexpected error in request %s", request_id)
            return error_response(
                500,
                "INTERNAL_SERVER_ERROR",
                f"Internal error. Quote request id {request_id} to the operator.",
                requestId=request_id,
            )
        finally:
            await db.close()

    async def audit_apart(self, context: Context) -> None:
        """Write the audit entries of a rolled-back request in a transaction of their own."""
        if not len(context.audit) or context.principal.tenant_id is None:
            return
        audit_db = Db(
            self.state.sessionmaker, statement_timeout=self.state.settings.statement_timeout
        )
        try:
            await audit_db.set_tenant(context.principal.tenant_id)
            await context.audit.flush(audit_db)
            await audit_db.commit()
        finally:
            await audit_db.close()

    def admit(self, request: Request, principal: Principal) -> Decision | None:
        """Take one point for the request itself; the query's cost is taken after parsing."""
        if not self.buckets.enabled:
            return None
        # per token or key; per client address for anonymous callers and rejected tokens
        client = request.client.host if request.client else "unknown"
        key = principal.key if principal.authenticated else f"ip:{client}"
        decision = self.buckets.take(key, 1)
        if decision.allowed:

            def charge_cost(cost: int) -> None:
                charged = self.buckets.take(key, max(0, cost - 1))
                request.state.rate_decision = charged
                if not charged.allowed:
                    error = RateLimited(charged, int(self.buckets.burst), self.buckets.rate)
                    request.state.rate_limited = error
                    raise error

            request.state.charge_cost = charge_cost
        return decision

    def rate_limited(self, error: RateLimited) -> Response:
        extensions = {k: v for k, v in (error.extensions or {}).items() if k != "code"}
        headers = rate_headers(self.buckets, error.decision)
        return error_response(429, "RATE_LIMITED", error.message, headers, **extensions)

    def encode_json(self, data: object) -> bytes:
        # orjson: several times faster than json.dumps on large results
        return orjson.dumps(data)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        if request.method == "GET":
            if not self.allow_queries_via_get:
                raise Refusal(
                    405,
                    "GET_NOT_ALLOWED",
                    "Send operations as POST with `Content-Type: application/json`.",
                    {"Allow": "POST"},
                )
            return http.parse_get(request.query_params)
        return http.parse_post(request.content_type, await request.get_body())

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)
        errors = data.get("errors") or []
        request_error = data.get("data") is None and errors and all("path" not in e for e in errors)
        if request_error and http.wants_graphql_response(request.headers.get("accept")):
            # GraphQL-over-HTTP: a request error has no `data` and a 4xx status
            data.pop("data", None)
            request.state.request_error = True
        return data

    async def build_context(self, request: Request, db: Db) -> Context:
        principal = await authenticate(db, request.headers.get("authorization"))
        if principal.tenant_id is not None:
            await load_tenant_policies(db, self.state.tenant_policies, principal)
        return Context(
            request=request,
            request_id=request.state.request_id,
            principal=principal,
            db=db,
            loaders=Loaders(db),
            authz=Authorizer(self.state.enforcer, principal, self.state.tenant_policies),
            settings=self.state.settings,
        )


def create_app(settings: Settings) -> Starlette:
    engine = make_engine(
        settings.app_url(),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        statement_timeout=settings.statement_timeout,
    )
    validate_categories()  # a personal column without a fideslang category stops start-up
    enforcer = load_enforcer()
    state = AppState(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker_for(engine),
        enforcer=enforcer,
        tenant_policies=TenantPolicies(enforcer),
    )
    graphql = GraphQLApp(state, graphql_ide="graphiql" if settings.dev_mode else None)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            log.exception("readiness check failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/exports/{token}", export_endpoint(state), methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.microspace = state
    # the compiled read path: tests flip `.enabled` to hold both paths to one answer
    app.state.compiled_reads = graphql.schema.compiled_reads  # type: ignore[attr-defined]
    app.add_middleware(RequestId)
    # start-up objects (schema, policies, models) never die: keep them out of the cyclic
    # collector's full passes, which otherwise walk them during large responses
    gc.freeze()
    return app
