"""Free TCP ports for the tests' servers: tests run in parallel (pytest-xdist), so a fixed
port would be taken by another worker's server."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import uvicorn

from microspace.live.server import LiveWebSocketProtocol


def free_port() -> int:
    """A port nobody listens on now, for a server in another process (which binds it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve(app, host: str = "127.0.0.1") -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serve `app` in this event loop on a port the kernel picks (no race with other workers)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = int(sock.getsockname()[1])
    # WebSockets as `serve` runs them (microspace/live/server.py)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws=LiveWebSocketProtocol,
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    # the test process keeps its own signal handling
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.05)
    return server, task, port
