"""A minimal `graphql-transport-ws` client for the tests (the protocol's own messages,
over the `websockets` library); the Node tests use the real `graphql-ws` client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

SUBPROTOCOL = "graphql-transport-ws"


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1)


async def connect(
    url: str, token: str | None, *, origin: str | None = None, init: bool = True
) -> ClientConnection:
    """An acknowledged connection (or just opened, with `init=False`)."""
    headers = {"Origin": origin} if origin else None
    ws = await websockets.connect(
        ws_url(url), subprotocols=[SUBPROTOCOL], additional_headers=headers, max_size=2**24
    )
    if init:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = await message(ws)
        assert ack["type"] == "connection_ack", ack
    return ws


async def subscribe(
    ws: ClientConnection,
    op_id: str,
    query: str | None,
    variables: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    payload: dict[str, Any] = {"variables": variables or {}, **extra}
    if query is not None:
        payload["query"] = query
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def message(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    """The next message other than a keep-alive ping."""
    while True:
        raw = await asyncio.wait_for(ws.recv(), timeout)
        parsed: dict[str, Any] = json.loads(raw)
        if parsed.get("type") != "ping":
            return parsed


async def nothing_within(ws: ClientConnection, seconds: float) -> bool:
    try:
        got = await message(ws, seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"expected nothing, got {got}")


async def closed_with(ws: ClientConnection, timeout: float = 10) -> tuple[int | None, str]:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as closed:
        rcvd = closed.rcvd
        return (rcvd.code, rcvd.reason) if rcvd else (None, "")
