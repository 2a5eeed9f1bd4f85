"""The Starlette application: routes, per-request unit of work, lifespan."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import casbin
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from cross_web import HTTPException

from microspace.auth import authenticate
from microspace.config import Settings
from microspace.context import Context
from microspace.db import Db, make_engine, sessionmaker_for
from policies.authz import Authorizer, load_enforcer
from resolvers.loaders import Loaders
from schema.build import build_schema

log = logging.getLogger("microspace")


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    enforcer: casbin.Enforcer


def error_response(status: int, code: str, message: str, **extensions: Any) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return JSONResponse(body, status_code=status)


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
    """Strawberry's ASGI view, with one database transaction per HTTP request."""

    def __init__(self, state: AppState, **kwargs: Any) -> None:
        super().__init__(build_schema(), **kwargs)
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        db = Db(self.state.sessionmaker)
        try:
            context = await self.build_context(request, db)
            try:
                response = await self.run(request, context=context)
            except HTTPException as exc:
                await db.rollback()
                return error_response(exc.status_code, "BAD_REQUEST", exc.reason)
            except StrawberryGraphQLError as exc:
                await db.rollback()
                return error_response(400, "BAD_REQUEST", exc.message)
            if context.failed:
                await db.rollback()
            else:
                await db.commit()
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

    async def build_context(self, request: Request, db: Db) -> Context:
        principal = await authenticate(db, request.headers.get("authorization"))
        return Context(
            request=request,
            request_id=request.state.request_id,
            principal=principal,
            db=db,
            loaders=Loaders(db),
            authz=Authorizer(self.state.enforcer, principal),
            settings=self.state.settings,
        )


def create_app(settings: Settings) -> Starlette:
    engine = make_engine(
        settings.app_url(), pool_size=settings.pool_size, max_overflow=settings.max_overflow
    )
    state = AppState(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker_for(engine),
        enforcer=load_enforcer(),
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
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.state.microspace = state
    app.add_middleware(RequestId)
    return app
