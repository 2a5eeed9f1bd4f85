#!/usr/bin/env python3
"""Resident memory of a running server after N and 10 x N requests of one operation.

    python bench/memory.py --pid PID --url http://127.0.0.1:5700/graphql \\
        --params /tmp/microspace-bench/data/microspace_params.tsv --query bench/peer/q2.graphql

Sends the requests with 8 concurrent clients (each row's owner token) and prints the RSS
(from /proc/PID/status) after the first N and after 10 x N requests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import httpx


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def send(url: str, rows: list[list[str]], query: str, count: int, start: int) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(start, start + count):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                token = rows[i % len(rows)][3]
                response = await client.post(
                    url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}
                )
                if response.status_code != 200 or b'"errors"' in response.content:
                    raise RuntimeError(response.text[:300])

        await asyncio.gather(*(worker() for _ in range(8)))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--params", required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("-n", type=int, default=1000)
    a = ap.parse_args()
    rows = [line.split("\t") for line in Path(a.params).read_text().splitlines()]
    query = Path(a.query).read_text()
    before = rss_kib(a.pid)
    await send(a.url, rows, query, a.n, 0)
    first = rss_kib(a.pid)
    await send(a.url, rows, query, 9 * a.n, a.n)
    last = rss_kib(a.pid)
    print(
        json.dumps(
            {
                "rss_start_kib": before,
                f"rss_after_{a.n}_kib": first,
                f"rss_after_{10 * a.n}_kib": last,
                "growth": round(last / first - 1, 4),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
