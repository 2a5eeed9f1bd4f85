"""`graphql-transport-ws` on `/graphql`: one connection, from upgrade to close.

- Upgrade: a page on another origin may open a socket only when the widget key in the URL
  (`?key=`) allows that origin, or else some tenant or widget key does (as a preflight);
  refused, the upgrade is answered 403. The credential in `connection_init` is then checked
  against the origin where it is authenticated, as an HTTP request's is.
- `connection_init` within the init timeout carries the credential (`authorization`, or
  `token`, or a widget `key`; a widget key may also come in the URL); it is authenticated,
  and refused with close 4401 (unknown, revoked, expired) or 4403 (origin not allowed).
- `subscribe` authenticates again, checks the document (one topic field; a widget's or
  visitor's must be trusted, as over HTTP) and the topic's permission, and joins the hub.
- Frames leave through the socket's bounded queue; its sender closes the connection when
  asked (by the hub: a credential that no longer stands, a slow consumer, shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from graphql import GraphQLSchema
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from core.auth import BROWSER_KINDS, Principal, authenticate, credential
from core.db import Db, unit_of_work
from microspace.live.hub import (
    BAD_REQUEST,
    DUPLICATE_ID,
    FORBIDDEN,
    INIT_TIMEOUT,
    TOO_MANY_INITS,
    UNAUTHORIZED,
    Hub,
    Socket,
    frame_text,
)
from microspace.live.topics import SubscribeError, plan
from microspace.web.cors import Cors, key_in_url
from microspace.web.persisted import PersistedQueryError, requested_hash
from microspace.web.state import AppState
from microspace.web.widget_documents import SHIPPED
from policies.authz import Authorizer, load_tenant_policies
from store.persisted import find_document, sha256_of

SUBPROTOCOL = "graphql-transport-ws"
SUBPROTOCOL_NOT_ACCEPTABLE = 4406


class Connection:
    def __init__(
        self,
        state: AppState,
        hub: Hub,
        schema: GraphQLSchema,
        scope: Scope,
        receive: Receive,
        send: Send,
        origin: str | None,
    ) -> None:
        self.state = state
        self.hub = hub
        self.schema = schema
        self.scope = scope
        self.receive = receive
        self.send = send
        self.origin = origin
        self.socket = Socket(state.settings.live_send_queue)
        self.credential: str | None = None
        self.principal: Principal | None = None
        self.acknowledged = False

    async def run(self) -> None:
        self.hub.attach(self.socket)
        sender = asyncio.create_task(self._sender())
        try:
            await self._receive_loop()
        finally:
            self.hub.detach(self.socket)
            self.socket.close(1000, "")
            with contextlib.suppress(Exception):
                await sender

    async def _sender(self) -> None:
        socket = self.socket
        frames = socket.frames
        send = self.send
        while True:
            # every frame queued since the last wake-up, in one turn: a send that needs not
            # wait (the transport below its high-water mark) returns without yielding
            while frames:
                try:
                    await send({"type": "websocket.send", "text": frame_text(frames.popleft())})
                except Exception:  # noqa: BLE001 - the peer is gone; the receive loop ends too
                    socket.closed = True
                    frames.clear()
                    return
            if socket.closed:
                code, reason = socket.close_code or (1000, "")
                with contextlib.suppress(Exception):
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                return
            await socket.wait()

    async def _receive_loop(self) -> None:
        timeout = self.state.settings.live_init_timeout
        while True:
            try:
                if self.acknowledged:
                    message = await self.receive()
                else:
                    message = await asyncio.wait_for(self.receive(), timeout)
            except TimeoutError:
                self.socket.close(INIT_TIMEOUT, "Connection initialisation timeout")
                return
            if message["type"] == "websocket.disconnect":
                return
            if self.socket.closed:
                continue  # closing: wait for the disconnect
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", "replace")
            await self._handle(text or "")

    async def _handle(self, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.socket.close(BAD_REQUEST, "Invalid message received")
            return
        kind = message["type"]
        if kind == "connection_init":
            await self._init(message.get("payload"))
        elif kind == "ping":
            self.socket.offer('{"type":"pong"}')
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            op_id = message.get("id")
            if isinstance(op_id, str):
                self.hub.remove(self.socket, op_id)
        else:
            self.socket.close(BAD_REQUEST, f"Invalid message type {kind[:40]!r}")

    async def _init(self, payload: Any) -> None:
        if self.credential is not None or self.acknowledged:
            self.socket.close(TOO_MANY_INITS, "Too many initialisation requests")
            return
        self.credential = _credential_of(payload, self.scope) or ""
        principal = await self._authenticate()
        if principal is None:
            return
        self.principal = principal
        self.acknowledged = True
        self.socket.offer('{"type":"connection_ack"}')
        self.socket.ready = True

    async def _authenticate(self, db: Db | None = None) -> Principal | None:
        """The connection's principal now; None (and the socket closing) when it no longer
        stands or may not be used from this page's origin."""

        async def check(db: Db) -> Principal:
            return await authenticate(db, self.credential or None, self.origin)

        if db is None:
            async with unit_of_work(self._db()) as fresh:
                principal = await check(fresh)
        else:
            principal = await check(db)
        if not principal.authenticated:
            reason = (
                f"KEY_{principal.refusal.upper()}" if principal.refusal else "no valid credential"
            )
            self.socket.close(UNAUTHORIZED, f"Unauthorized: {reason}")
            return None
        if principal.origin_refused:
            self.socket.close(FORBIDDEN, "Forbidden: origin not allowed")
            return None
        return principal

    def _db(self) -> Db:
        return Db(
            self.state.sessionmaker,
            statement_timeout=self.state.settings.statement_timeout,
            gate=self.hub.db_gate,
        )

    async def _subscribe(self, message: dict[str, Any]) -> None:
        op_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(op_id, str) or not op_id or not isinstance(payload, dict):
            self.socket.close(BAD_REQUEST, "Invalid subscribe message")
            return
        if not self.acknowledged:
            self.socket.close(UNAUTHORIZED, "Unauthorized")
            return
        if op_id in self.socket.subscriptions:
            self.socket.close(DUPLICATE_ID, f"Subscriber for {op_id[:40]} already exists")
            return
        try:
            refused = await self._join(op_id, payload)
        except SubscribeError as error:
            refused = error
        if refused is not None and not self.socket.closed:
            frame = {"id": op_id, "type": "error", "payload": refused.errors()}
            self.socket.offer(orjson.dumps(frame).decode())

    async def _join(self, op_id: str, payload: dict[str, Any]) -> SubscribeError | None:
        variables = payload.get("variables") or {}
        name = payload.get("operationName")
        if not isinstance(variables, dict) or not (name is None or isinstance(name, str)):
            raise SubscribeError("BAD_REQUEST", "`variables` must be an object.")
        async with unit_of_work(self._db()) as db:
            # again: a credential revoked since the connection opened subscribes nothing
            principal = await self._authenticate(db)
            if principal is None:
                return None
            document = await self._document(db, principal, payload)
            checked = plan(self.schema, document, name, variables, principal.kind)
            policies = self.state.tenant_policies
            await load_tenant_policies(db, policies, principal)
            authz = Authorizer(self.state.enforcer, principal, policies)
            if not authz.can(*checked.topic.needs):
                obj, act = checked.topic.needs
                raise SubscribeError("FORBIDDEN", f"You may not {act} {obj}.")
        assert principal.tenant_id is not None
        client = self.scope.get("client")
        limit = self.hub.add(
            self.socket,
            op_id,
            checked,
            tenant_id=principal.tenant_id,
            kind=principal.kind,
            credential=self.credential or "",
            origin=self.origin,
            client=(client[0], client[1]) if client else None,
        )
        if limit:
            return SubscribeError("SUBSCRIPTION_LIMIT", limit)
        if self.hub.follows is not None:
            # the tenant's events are announced from here on (docs/live.md)
            await self.hub.follows.follow(principal.tenant_id)
        return None

    async def _document(self, db: Db, principal: Principal, payload: dict[str, Any]) -> str:
        """The document to run: a widget's or visitor's must be trusted (as over HTTP)."""
        query = payload.get("query")
        if query is not None and not isinstance(query, str):
            raise SubscribeError("BAD_REQUEST", "`query` must be a string.")
        try:
            digest = requested_hash(payload.get("extensions"))
        except PersistedQueryError as error:
            raise SubscribeError(error.code, str(error)) from None
        if principal.kind not in BROWSER_KINDS and query:
            return query
        digest = digest or (sha256_of(query) if query else None)
        known = SHIPPED.get(digest) if digest else None
        if known is None and digest is not None:
            row = await find_document(db, digest)
            if row is not None and (row.trusted or principal.kind not in BROWSER_KINDS):
                known = row.document
        if known is None:
            if principal.kind in BROWSER_KINDS:
                raise SubscribeError(
                    "PERSISTED_QUERY_REQUIRED",
                    "Widgets may run only trusted documents: send the SHA-256 of a document "
                    "shipped with the widget or registered for your tenant.",
                )
            raise SubscribeError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        if query and query != known:
            raise SubscribeError(
                "PERSISTED_QUERY_HASH_MISMATCH", "The query's SHA-256 is not the hash sent."
            )
        return known


def _credential_of(payload: Any, scope: Scope) -> str | None:
    """The Authorization value from `connection_init`'s payload, or a widget key in the URL."""
    value = None
    if isinstance(payload, dict):
        for name in ("authorization", "Authorization"):
            if isinstance(payload.get(name), str):
                value = payload[name]
                break
        else:
            for name in ("token", "key"):
                if isinstance(payload.get(name), str):
                    value = f"Bearer {payload[name]}"
                    break
    return credential(value, key_in_url(scope))


async def endpoint(
    state: AppState, hub: Hub, schema: GraphQLSchema, scope: Scope, receive: Receive, send: Send
) -> None:
    """One WebSocket connection: the upgrade decided, then the protocol until it closes."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    headers = Headers(scope=scope)
    cors = Cors(_no_app, state)
    origin = cors.cross_origin(scope, headers)
    if origin is not None and not await cors.may_open(origin, key_in_url(scope)):
        # before accept: the server answers the upgrade with HTTP 403
        await send({"type": "websocket.close", "code": 1008, "reason": "Origin not allowed"})
        return
    if SUBPROTOCOL not in scope.get("subprotocols", ()):
        await send({"type": "websocket.accept"})
        await send(
            {
                "type": "websocket.close",
                "code": SUBPROTOCOL_NOT_ACCEPTABLE,
                "reason": f"Subprotocol not acceptable: use {SUBPROTOCOL}",
            }
        )
        return
    await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
    await Connection(state, hub, schema, scope, receive, send, origin).run()


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("the origin check calls no application")
