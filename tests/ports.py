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
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: each stays bound until all are picked (one at a time, the
    kernel may hand the same port out again once it is closed)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


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
