"""CPU per delivered frame of a live fan-out, in process, without a network.

    PYTHONPATH=. python bench/live/sendpath.py N ROUNDS [prof]

N WebSocket connections, each a uvicorn protocol object over a transport that discards what
it is written (the kernel's send is not counted), opened by a real upgrade request, each with
a connection's sender task (microspace/live/protocol.py) behind two wrappers of `send` (what
the application's middleware adds); ROUNDS times, one answer (a widget's space of 20 blocks,
2.1 KB) is delivered by the hub to all N. Prints the process's CPU per frame (all rounds,
min and median of the rounds) and the hub's `deliver` alone; `prof` adds a cProfile listing.
PROTO=live runs the protocol `serve` runs (microspace/live/server.py); unset, uvicorn's own
sans-I/O protocol. WRAP=0..n sets the number of wrappers.
"""

import asyncio
import cProfile
import gc
import logging
import os
import pstats
import sys
import time
import uuid

import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState

from microspace.live import protocol as P
from microspace.live.hub import Answer, Group, Hub, Socket

N = int(sys.argv[1])
ROUNDS = int(sys.argv[2])
PROF = len(sys.argv) > 3 and sys.argv[3] == "prof"
WRAP = int(os.environ.get("WRAP", "2"))


class T:
    def __init__(self):
        self.n = 0
        self.bytes = 0

    def write(self, d):
        self.n += 1
        self.bytes += len(d)

    def writelines(self, ds):
        for d in ds:
            self.write(d)

    def is_closing(self):
        return False

    def get_extra_info(self, k, default=None):
        return ("127.0.0.1", 1) if k in ("peername", "sockname") else default

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def close(self):
        pass

    def get_write_buffer_size(self):
        return 0


body = (
    '{"data":{"s":{"title":"T","description":"'
    + "d" * 300
    + '","status":"PUBLISHED","blocks":['
    + ",".join('{"body":"' + "b" * 80 + '"}' for _ in range(20))
    + "]}}}"
)
group = None
conns = []


def wrap(send):
    async def sender(message):
        if message["type"] == "http.response.start":
            pass
        await send(message)

    return sender


async def app(scope, receive, send):
    await receive()
    for _ in range(WRAP):
        send = wrap(send)
    await send({"type": "websocket.accept", "subprotocol": "graphql-transport-ws"})
    c = P.Connection.__new__(P.Connection)
    c.send = send
    c.socket = Socket(64)
    conns.append(c)
    group.subscribers[(c.socket, "1")] = '{"id":"1","type":"next","payload":'
    await asyncio.create_task(c._sender())


REQ = (
    b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
)


async def main():
    global group

    class Metrics:
        class C:
            def inc(self, *a):
                pass

            def dec(self, *a):
                pass

            def labels(self, **k):
                return self

        def __getattr__(self, n):
            return self.C()

    hub = Hub(Metrics(), per_connection=100, per_tenant=100000)
    hub.freezer.stopped = True
    group = Group(("k",), None, uuid.uuid4(), "widget", "", None, None)
    ws = "websockets-sansio"
    if os.environ.get("PROTO") == "live":
        from microspace.live.server import LiveWebSocketProtocol as ws
    config = Config(app=app, ws=ws, ws_per_message_deflate=False, lifespan="off")
    config.load()
    state = ServerState()
    ts = []
    for _ in range(N):
        p = config.ws_protocol_class(config, state, {})
        t = T()
        ts.append(t)
        p.connection_made(t)
        p.data_received(REQ)
        p.stop_keepalive() if hasattr(p, "stop_keepalive") else None
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(conns) == N, len(conns)
    base = sum(t.n for t in ts)
    gc.collect()
    gc.freeze()
    prof = cProfile.Profile() if PROF else None
    cpu = 0
    per = []
    dl = []
    for r in range(ROUNDS):
        c0 = time.process_time_ns()
        if prof:
            prof.enable()
        d0 = time.process_time_ns()
        hub.deliver(group, Answer(body))
        dl.append((time.process_time_ns() - d0) / N)
        want = N * (r + 1)
        while sum(t.n for t in ts) - base < want:
            await asyncio.sleep(0)
        if prof:
            prof.disable()
        cpu += time.process_time_ns() - c0
        per.append((time.process_time_ns() - c0) / N)
    sent = sum(t.n for t in ts) - base
    print(
        f"N={N} rounds={ROUNDS} frames={sent} cpu/frame={cpu / sent / 1000:.2f} us min={min(per) / 1000:.2f} median={sorted(per)[len(per) // 2] / 1000:.2f} deliver_median={sorted(dl)[len(dl) // 2] / 1000:.2f} wrap={WRAP} proto={os.environ.get('PROTO')}"
    )
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    sys.stdout.flush()
    os._exit(0)


logging.disable(logging.CRITICAL)
uvloop.install()
try:
    asyncio.run(main())
finally:
    sys.stdout.flush()
    os._exit(0)
