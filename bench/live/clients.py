#!/usr/bin/env python3
"""The load generator of bench/live/run.py: N WebSocket connections, one subscription each,
speaking `graphql-transport-ws` with the `websockets` library (a process of its own, so its
CPU is not the server's).

    python bench/live/clients.py WS_URL TOKEN SHA256 SPACE_ID N [RAMP]

Prints `open <n>` once every connection is acknowledged and subscribed, then records the
wall-clock time of every `next` message it receives. On a line `dump` on stdin it prints one
JSON line {"received": [[connection, time], ...], "closed": n} and keeps going; on `quit` it
exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import websockets

SUBPROTOCOL = "graphql-transport-ws"


async def one(
    i: int, url: str, token: str, digest: str, space: str, received: list, closed: list
) -> None:
    ws = await websockets.connect(
        url, subprotocols=[SUBPROTOCOL], open_timeout=120, ping_interval=None, max_queue=64
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 120))
    while ack["type"] == "ping":
        await ws.send('{"type":"pong"}')
        ack = json.loads(await asyncio.wait_for(ws.recv(), 120))
    assert ack["type"] == "connection_ack", ack
    ext = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    payload = {"variables": {"id": space}, "extensions": ext}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
    return_ws.append((i, ws))
    asyncio.get_running_loop().create_task(listen(i, ws, received, closed))


async def listen(i: int, ws, received: list, closed: list) -> None:
    try:
        async for raw in ws:
            now = time.time()
            # cheap checks: the payload itself is not parsed on the hot path
            if raw.startswith('{"id":"1","type":"next"'):
                received.append((i, now))
            elif '"ping"' in raw[:20]:
                await ws.send('{"type":"pong"}')
            elif '"error"' in raw[:40]:
                print("error", raw[:300], file=sys.stderr, flush=True)
    except websockets.ConnectionClosed as exc:
        closed.append((i, exc.rcvd.code if exc.rcvd else None))


return_ws: list = []


async def main() -> None:
    url, token, digest, space, n = sys.argv[1:6]
    ramp = int(sys.argv[6]) if len(sys.argv) > 6 else 50
    received: list[tuple[int, float]] = []
    closed: list[tuple[int, int | None]] = []
    gate = asyncio.Semaphore(ramp)

    async def opened(i: int) -> None:
        async with gate:
            await one(i, url, token, digest, space, received, closed)

    started = time.time()
    await asyncio.gather(*(opened(i) for i in range(int(n))))
    print(f"open {len(return_ws)} in {time.time() - started:.1f} s", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "dump":
            print(json.dumps({"received": received, "closed": len(closed)}), flush=True)
            received.clear()
        elif line in ("quit", ""):
            for _, ws in return_ws:
                await ws.close()
            return


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
