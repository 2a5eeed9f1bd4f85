"""CORS for `/graphql`: per widget key, per tenant for members, exact origins only.

- A cross-origin request is answered with `Access-Control-Allow-Origin: <that origin>` only
  when its credential allows the origin: a widget key its own `allowedOrigins`, a visitor
  session its tenant's widget origins, a member or partner token its tenant's
  `cors_origins` (empty by default: same-origin only).
- Never a wildcard, never `Access-Control-Allow-Credentials`: callers send bearer tokens,
  not cookies, so nothing ambient rides along.
- A disallowed origin gets no CORS headers (the browser refuses), and the request is not
  run at all (403 ORIGIN_NOT_ALLOWED), so a page cannot act blind through a simple request.
  A request with a credential is checked where that credential is authenticated, in the
  same statement (microspace/web/pipeline.py, `core.auth.AUTHENTICATE_FROM`), before
  anything runs; the fast lane checks it in its own statement (microspace/lane/lane.py).
- A preflight carries no credential: it is decided on the widget key in the URL (`?key=`),
  else on whether any tenant or widget key allows the origin; the request that follows is
  checked against its own credential as above.
- Every response varies on Origin (`Vary: Origin`), so a cache never serves one origin's
  headers to another.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.auth import bearer_token, credential, hash_token
from core.db import Db, is_unavailable, unit_of_work
from core.http import Refusal, service_unavailable
from microspace.web.state import AppState

log = logging.getLogger("microspace")
PATHS = ("/graphql",)
ALLOW_METHODS = "GET, POST"
ALLOW_HEADERS = ("authorization", "content-type", "accept")
EXPOSE_HEADERS = "ETag, X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
PREFLIGHT_MAX_AGE = "600"

ORIGINS_OF = text("SELECT app_cors_origins(:hash)")
ORIGIN_KNOWN = text("SELECT app_origin_known(:origin)")


@functools.lru_cache(maxsize=16)  # the API's own public URL, on every request
def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _same_origin(scope: Scope, headers: Headers, origin: str, public: str) -> bool:
    # behind a proxy the Host header may not be the public one: MICROSPACE_PUBLIC_URL is
    host = headers.get("host", "")
    # a WebSocket upgrade's scheme is ws or wss; its page's origin is http or https
    raw = scope.get("scheme", "http")
    scheme = {"ws": "http", "wss": "https"}.get(raw, raw)
    return origin in (f"{scheme}://{host}", f"https://{host}", public)


class Cors:
    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = self.cross_origin(scope, headers)
        if origin is None:
            await self.app(scope, receive, self.with_headers(send, None))
            return
        if scope["method"] == "OPTIONS":
            try:
                answer = await self.preflight(scope, headers, origin)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                # the origin cannot be checked: the outage's 503 (no CORS headers)
                answer = self.unavailable(scope)
            await answer(scope, receive, send)
            return
        if not bearer_token(credential(headers.get("authorization"), key_in_url(scope))):
            await refusal(origin).response()(scope, receive, send)
            return
        # decided with the credential's authentication (`pending`), before anything runs
        check = scope[PENDING] = OriginCheck(origin)
        await self.app(scope, receive, self.with_headers(send, check))

    def cross_origin(self, scope: Scope, headers: Headers) -> str | None:
        """The request's `Origin` when it is another origin than the API's own, so that its
        credential must allow it; None for same-origin and origin-less requests."""
        origin = headers.get("origin")
        if origin is None:
            return None
        public = _origin_of(self.state.settings.public_url)
        return None if _same_origin(scope, headers, origin, public) else origin

    async def preflight(self, scope: Scope, headers: Headers, origin: str) -> Response:
        """A preflight's answer. It carries no credential: it is decided on the widget key
        in the URL (`?key=`), else on whether any tenant or widget key allows the origin."""
        return await self._preflight(headers, origin, key_in_url(scope))

    def unavailable(self, scope: Scope) -> Response:
        """One log line, no traceback, as the pipeline answers an outage."""
        request_id = scope.get("state", {}).get("request_id", "")
        log.warning("database unavailable: request %s answered 503", request_id)
        response = service_unavailable(request_id)
        response.headers["Vary"] = "Origin"
        return response

    async def _origins_of(self, token: str) -> Sequence[str]:
        if len(token) > 200:
            return ()
        async with unit_of_work(Db(self.state.sessionmaker)) as db:
            found = await db.scalar(ORIGINS_OF, {"hash": hash_token(token)})
        return found or ()

    async def may_open(self, origin: str, key: str | None) -> bool:
        """Whether a page on `origin` may open a request before its credential is known (a
        preflight, a WebSocket upgrade): the widget key in the URL allows it, or else any
        tenant or widget key allows the origin. The credential is checked again where it is
        authenticated."""
        widget_key = bearer_token(credential(None, key))
        if widget_key:
            return origin in await self._origins_of(widget_key)
        async with unit_of_work(Db(self.state.sessionmaker)) as db:
            return bool(await db.scalar(ORIGIN_KNOWN, {"origin": origin[:300]}))

    async def _preflight(self, headers: Headers, origin: str, key: str | None) -> Response:
        allowed = await self.may_open(origin, key)
        method = headers.get("access-control-request-method", "")
        asked = [
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        ]
        if (
            not allowed
            or method not in ("GET", "POST")
            or any(h not in ALLOW_HEADERS for h in asked)
        ):
            # no CORS headers: the browser refuses the request it was about to send
            return Response(status_code=403, headers={"Vary": "Origin"})
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ALLOW_METHODS,
                "Access-Control-Allow-Headers": ", ".join(ALLOW_HEADERS),
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                "Vary": "Origin",
            },
        )

    @staticmethod
    def with_headers(send: Send, check: OriginCheck | None) -> Send:
        """`send`, adding the CORS headers: an allowed origin's, or just `Vary: Origin` for
        a same-origin request and while an origin is not (yet) allowed."""

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                origin = check.origin if check is not None and check.allowed else None
                message.setdefault("headers", []).extend(headers_for(origin))
            await send(message)

        return send_with_cors


# the scope key of a browser request's origin check (`OriginCheck`)
PENDING = "microspace.cors"


@dataclass
class OriginCheck:
    """A browser request's origin, to be allowed by its credential where that credential is
    authenticated (microspace/web/pipeline.py): no statement of its own."""

    origin: str
    allowed: bool = False


def pending(scope: Scope) -> OriginCheck | None:
    check: OriginCheck | None = scope.get(PENDING)
    return check


def refusal(origin: str) -> Refusal:
    return Refusal(
        403,
        "ORIGIN_NOT_ALLOWED",
        f"This credential may not be used from {origin[:100]!r}: the origin is not in its "
        "allowed origins.",
        {"Vary": "Origin"},
    )


def key_in_url(scope: Scope) -> str | None:
    """A widget key given in the URL (`core.auth.credential`)."""
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    key: str | None = (params.get("key") or [None])[0]
    return key


def headers_for(origin: str | None) -> list[tuple[bytes, bytes]]:
    """What an allowed request's answer carries: `Vary` always, the origin when echoed."""
    extra = [(b"vary", b"Origin")]
    if origin is not None:
        extra += [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
        ]
    return extra
