#!/usr/bin/env python3
"""CPU per request of one operation through the ASGI app, in process (no HTTP server).

    DATABASE_URL=postgresql://postgres@127.0.0.1:55432/bench_microspace \\
        python bench/lane.py q1 --params /tmp/microspace-bench/data/microspace_params.tsv

Sends the benchmark's q1, q2 or q3 (bench/peer/) one request at a time, each row's owner
token in turn, after 300 warm-up requests (the fast lane learns documents and tokens), and
prints the CPU time per request: the least and the median over batches of 300, since a
busy machine only ever adds time; and the wall-clock time, which includes PostgreSQL's.
`--origin https://app.example` sends a browser's Origin (the seed allows it), `--get` sends
queries as GraphQL over GET.

`--widget` reads q1's shape as a widget on a shop's page does: the reference widget's
`WidgetSpace` (a space by id with its blocks, and the brand) by hash over GET with the
page's Origin, each row's tenant's widget key in turn (`bench/widget_keys.py` writes them:
`--params data/widget_params.tsv`). Widgets read published revisions.
`--locale de` reads the blocks in a content locale and selects the locale served (with
`--widget`, the widget's `$locale`; else in q1).

On a shared machine, count instructions instead (repeatable whatever else runs; system
calls are not counted):

    valgrind --tool=callgrind --instr-atstart=no python bench/lane.py q1 --callgrind -n 200

turns instrumentation on for the measured requests only; divide `Collected` by n.
With the default warm-up (300 requests) q1's measured reads are new texts for their
credentials (the params rotate over 1,000 rows): `--warm 1000` makes them repeats, which the
lane answers from what it kept (`FastLane._prepared`), as the shared bench's do after their
first second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import uvloop

PEER = Path(__file__).parent / "peer"
WARM_UP = 300
WIDGET_ORIGIN = "https://app.example"  # bench/widget_keys.py allows it
BATCH = 300


def _settings() -> None:
    # the peer benchmark's production settings (bench/peer/system.conf)
    os.environ.setdefault("MICROSPACE_DEV", "false")
    os.environ.setdefault("MICROSPACE_SECRET_KEY", "bench-not-a-production-secret")
    os.environ.setdefault("MICROSPACE_PUBLIC_URL", "https://api.bench.example")
    os.environ.setdefault("MICROSPACE_RATE_LIMIT_BURST", "1000000000")
    os.environ.setdefault("MICROSPACE_RATE_LIMIT_RATE", "1000000000")
    os.environ.setdefault("MICROSPACE_DB_POOL_SIZE", "10")
    os.environ.setdefault("MICROSPACE_DB_MAX_OVERFLOW", "0")


def _request(op: str, query: str, row: list[str], i: int) -> tuple[dict[str, Any], str]:
    _tenant, space, block, token = row
    variables: dict[str, Any] | None = None
    if op == "q1":
        variables = {"spaceId": space}
    elif op == "q3":  # a new body every time: every request writes
        variables = {"blockId": block, "body": {"text": f"edited in process (rev {i})"}}
    return {"query": query, "variables": variables}, token


class Shape:
    """How the requests are sent: a plain POST, with a browser's Origin, or by GET."""

    def __init__(self, origin: str | None, get: bool) -> None:
        self.origin = origin
        self.get = get

    def widget(
        self, space: str, key: str, locale: str | None = None
    ) -> tuple[dict[str, Any], bytes]:
        """widget.js's read of a space: the shipped document by hash, the key in the URL."""
        from microspace.web.widget_documents import HASHES

        persisted = {"persistedQuery": {"version": 1, "sha256Hash": HASHES["WidgetSpace"]}}
        params = {
            "key": key,
            "operationName": "WidgetSpace",
            "variables": json.dumps({"id": space, **({"locale": locale} if locale else {})}),
            "extensions": json.dumps(persisted),
        }
        headers = [(b"host", b"bench"), (b"origin", (self.origin or WIDGET_ORIGIN).encode())]
        return _scope("GET", urlencode(params).encode(), headers), b""

    def scope(self, operation: dict[str, Any], token: str) -> tuple[dict[str, Any], bytes]:
        headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
        if self.origin:
            headers.append((b"origin", self.origin.encode()))
        body, query_string = b"", b""
        if self.get and not operation["query"].lstrip().startswith("mutation"):
            params = {"query": operation["query"], "variables": json.dumps(operation["variables"])}
            query_string = urlencode(params).encode()
        else:
            body = json.dumps(operation).encode()
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        method = "GET" if query_string else "POST"
        return _scope(method, query_string, headers), body


def _scope(method: str, query_string: bytes, headers: list[Any]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": query_string,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> int:
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request is served
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def main(args: argparse.Namespace) -> None:
    _settings()
    from microspace.asgi import create

    app = create()
    rows = [line.split("\t") for line in Path(args.params).read_text().splitlines() if line]
    query = (PEER / f"{args.op}.graphql").read_text()
    if args.locale:
        # the widget's shape: blocks in the visitor's language, and which each is served in
        query = query.replace("blocks(first: 20)", f'blocks(first: 20, locale: "{args.locale}")')
        query = query.replace("position body", "position locale body")
    shape = Shape(args.origin, args.get)
    # built before the clock starts: the bench measures the server, not its own encoding
    if args.widget:
        requests = [
            shape.widget(rows[i % len(rows)][1], rows[i % len(rows)][3], args.locale)
            for i in range(args.n + args.warm)
        ]
    else:
        requests = [
            shape.scope(*_request(args.op, query, rows[i % len(rows)], i))
            for i in range(args.n + args.warm)
        ]
    for scope, body in requests[: args.warm]:
        status = await _call(app, scope, body)
        assert status == 200, status
    lane = app.state.fast_lane
    measured = requests[args.warm :]
    if args.callgrind:
        pid = str(os.getpid())
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)  # noqa: ASYNC221
        for scope, body in measured:
            await _call(app, scope, body)
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)  # noqa: ASYNC221
        return
    per_batch, wall = [], []
    for start in range(0, len(measured) - BATCH + 1, BATCH):
        began, clock = time.process_time(), time.perf_counter()
        for scope, body in measured[start : start + BATCH]:
            await _call(app, scope, body)
        per_batch.append((time.process_time() - began) / BATCH * 1000)
        wall.append((time.perf_counter() - clock) / BATCH * 1000)
    per_batch.sort()
    wall.sort()
    print(
        f"{'widget ' if args.widget else ''}{args.op}: {per_batch[0]:.3f} ms CPU per request (median of batches "
        f"{per_batch[len(per_batch) // 2]:.3f}); fast lane answered {lane.answered}, "
        f"missed {dict(lane.misses)}; wall clock {wall[0]:.3f} ms per request (median "
        f"{wall[len(wall) // 2]:.3f}, PostgreSQL's time included)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("op", choices=["q1", "q2", "q3"])
    parser.add_argument("--params", default="/tmp/microspace-bench/data/microspace_params.tsv")
    parser.add_argument("-n", type=int, default=3000, help="measured requests")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument(
        "--warm",
        type=int,
        default=WARM_UP,
        help="warm-up requests (1000: every row once, so q1's measured reads are repeats, as "
        "in the shared bench's steady state)",
    )
    parser.add_argument("--origin", help="send this Origin header, as a browser page does")
    parser.add_argument("--get", action="store_true", help="queries as GraphQL over GET")
    parser.add_argument(
        "--widget", action="store_true", help="q1's shape as a widget reads it (WidgetSpace)"
    )
    parser.add_argument("--locale", help="q1's blocks in this content locale (docs/content.md)")
    uvloop.run(main(parser.parse_args()))
