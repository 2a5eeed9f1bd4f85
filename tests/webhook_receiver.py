"""A real HTTP receiver on loopback for webhook tests (uvicorn on a port of 5710-5719)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    status: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; `answer(request number, webhook-id)` picks the status code.
    `serving` gives it a free port (tests run in parallel); `location` is where a 301/302
    points."""

    port: int = 0
    answer: Callable[[int, str], int] = lambda n, wid: 200
    reply: bytes = b"ok"
    delay: float = 0.0
    location: str = "http://127.0.0.1:9/elsewhere"
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status = self.answer(len(self.received) + 1, headers.get("webhook-id", ""))
        self.received.append(Received(headers, body.decode(), status))
        if self.delay:
            await asyncio.sleep(self.delay)
        extra = [(b"location", self.location.encode())] if status in (301, 302) else []
        await send({"type": "http.response.start", "status": status, "headers": extra})
        await send({"type": "http.response.body", "body": self.reply})

    def accepted_ids(self) -> list[str]:
        return [r.webhook_id for r in self.received if 200 <= r.status < 300]

    def verify_all(self, secret: str) -> None:
        """Every request's signature verifies with the standardwebhooks library."""
        hook = Webhook(secret)
        for request in self.received:
            hook.verify(request.body, request.headers)


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[Receiver]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", receiver.port))
    receiver.port = sock.getsockname()[1]
    config = uvicorn.Config(receiver, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    # the test process keeps its own signal handling
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
