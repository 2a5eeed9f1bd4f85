#!/usr/bin/env python3
"""CPU per request of a document the server knows against one it has never seen.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/some_migrated_db \\
        python bench/first_request.py

Creates a tenant with twenty spaces of 20 blocks, then sends the bench's q1 (bench/peer/) through
the ASGI app in process, one request at a time: the same document every request
("repeated"), then the same shape with a new alias on every request ("new alias", what
clients that inline names send), then with new whitespace and comments ("new spacing"),
then q1 with its space's ID and its page size written as literals: the same text every
request ("inline repeated") and a new pair of literals on every request ("new literal", what
clients that inline values send: one of the twenty spaces, `first:` from 20 to 100, so every
answer has 20 blocks). Prints the least CPU time per request over batches (a busy machine
only adds time) and the ratio of each variant to the repeated document.

On a shared machine, count instructions of one variant instead (as bench/lane.py does):

    valgrind --tool=callgrind --instr-atstart=no python bench/first_request.py \
        --callgrind "new alias" -n 100

turns instrumentation on for that variant's requests only; divide `Collected` by n.
"""

from __future__ import annotations

import argparse
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from lane import Shape, _call, _settings  # bench/lane.py

PEER = Path(__file__).parent / "peer"
WARM_UP = 200
BATCH = 100
SPACES = 20


async def _seed(url: str) -> tuple[str, list[str]]:
    """A new tenant's owner token and the global IDs of its twenty spaces with 20 blocks."""
    from core.config import async_url
    from core.db import owner_db
    from core.ids import encode_id
    from microspace.commands.tenants import create_tenant
    from models import Block, Space

    owner = async_url(url)
    created = await create_tenant(owner, f"First {uuid.uuid4().hex[:6]}", "bench@example.com")
    spaces = [uuid.uuid4() for _ in range(SPACES)]
    async with owner_db(owner, created.tenant_id) as db:
        for space in spaces:
            db.add(Space(id=space, title="Bench", slug=f"b-{space.hex[:12]}", description=""))
            await db.flush()
            for p in range(20):
                body = {"text": f"Block {p}", "level": 2}
                block = Block(
                    id=uuid.uuid4(), space_id=space, kind="heading", position=p, body=body
                )
                db.add(block)
    return created.token, [encode_id("Space", s) for s in spaces]


def _variants(query: str, spaces: list[str]) -> dict[str, Callable[[int], str]]:
    def inline(i: int) -> str:
        # a new text for every i below 1,620 (twenty spaces x 81 page sizes)
        space, first = spaces[i % SPACES], 20 + (i // SPACES) % 81
        text = query.replace("($spaceId: ID!)", "").replace("$spaceId", f'"{space}"')
        return text.replace("first: 20", f"first: {first}")

    return {
        "repeated": lambda i: query,
        "new alias": lambda i: query.replace("space(", f"s{i}: space(", 1),
        "new spacing": lambda i: f"# request {i}\n" + query.replace("\n", "\n" + " " * (i % 7)),
        "inline repeated": lambda i: inline(0),
        "new literal": inline,
    }


async def main(args: argparse.Namespace) -> None:
    import os

    _settings()
    from microspace.asgi import create

    token, spaces = await _seed(os.environ["DATABASE_URL"])
    app = create()
    query = (PEER / "q1.graphql").read_text()
    variables = {"spaceId": spaces[0]}

    plain = Shape(None, get=False)

    def request(text: str) -> tuple[dict[str, Any], bytes]:
        sent = {"query": text, "variables": variables} if "$spaceId" in text else {"query": text}
        return plain.scope(sent, token)

    variants = _variants(query, spaces)
    for _ in range(WARM_UP):
        assert await _call(app, *request(query)) == 200
        assert await _call(app, *request(variants["inline repeated"](0))) == 200
    if args.callgrind:
        requests = [request(variants[args.callgrind](i)) for i in range(args.n)]
        pid = str(os.getpid())
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)  # noqa: ASYNC221
        for scope, body in requests:
            assert await _call(app, scope, body) == 200
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)  # noqa: ASYNC221
        lane = app.state.fast_lane
        print(f"fast lane answered {lane.answered}, missed {dict(lane.misses)}")
        await app.state.microspace.engine.dispose()
        return
    results: dict[str, float] = {}
    for name, make in variants.items():
        per_batch = []
        offset = 0  # every variant's texts are new to it
        for _ in range(args.n // BATCH):
            # built before the clock starts: the bench measures the server
            requests = [request(make(offset + i)) for i in range(BATCH)]
            offset += BATCH
            began = time.process_time()
            for scope, body in requests:
                status = await _call(app, scope, body)
                assert status == 200, status
            per_batch.append((time.process_time() - began) / BATCH * 1000)
        results[name] = min(per_batch)
    base = results["repeated"]
    for name, ms in results.items():
        print(f"{name:12} {ms:.3f} ms CPU per request ({ms / base:.2f}x repeated)")
    lane = app.state.fast_lane
    print(f"fast lane answered {lane.answered}, missed {dict(lane.misses)}")
    await app.state.microspace.engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000, help="requests per variant")
    parser.add_argument("--callgrind", metavar="VARIANT", help="count this variant's instructions")
    uvloop.run(main(parser.parse_args()))
