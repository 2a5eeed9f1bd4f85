#!/usr/bin/env python3
"""Live updates under load: 10,000 subscriptions on one API process.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/some_migrated_db \\
        python bench/live/run.py [--subscribers 10000] [--changes 6]

Starts one API process (`server.py serve`, production settings), seeds a tenant with a space
and widget keys bound to it (a widget's trusted subscription document registered by the
owner), and runs the load generator (bench/live/clients.py) in processes of their own:

1. statements per change: 1,000 subscribers of one document and one widget key, then 1,000
   split over 4 widget keys (4 policy identities); each change is a real mutation
   (`spaceUnpublish` / `spacePublish` alternately, each announced to widgets), sent to the
   API; the API's own counters (`/metrics`) give the subscription executions and their SQL
   statements, and the listener's reads;
2. fan-out: N subscribers (one connection each, over 2 client processes) of one key; the
   time from sending each mutation to each subscriber's receipt of its `next` message
   (p50, p99, max), and the server's resident memory before and after the subscribers
   connected (per subscription, its connection included).

Prints a JSON summary; the machine's load average is part of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).with_name("clients.py")
METRICS_TOKEN = "bench-live-metrics"
DOCUMENT = (
    "subscription WidgetSpaceLive($id: ID!) { spaceChanged(id: $id) { id title description "
    "status blocks(first: 20) { edges { node { id kind position body } } } } }"
)
UNPUBLISH = "mutation($id: ID!) { spaceUnpublish(id: $id) { space { id status } } }"
PUBLISH = "mutation($id: ID!) { spacePublish(id: $id) { space { id status } } }"
KEY = """mutation($input: ApiKeyCreateInput!) { apiKeyCreate(input: $input) { secret
  userErrors { code message } } }"""
REGISTER = """mutation($input: PersistedDocumentRegisterInput!) {
  persistedDocumentRegister(input: $input) { document { sha256 } userErrors { code } } }"""


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def cpu_idle() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


async def seed(url: str) -> tuple[uuid.UUID, str, str]:
    from core.config import async_url
    from core.db import owner_db
    from core.ids import encode_id
    from microspace.commands.tenants import create_tenant
    from models import Block, Space

    owner = async_url(url)
    created = await create_tenant(owner, f"Live {uuid.uuid4().hex[:6]}", "live@example.com")
    space = uuid.uuid4()
    async with owner_db(owner, created.tenant_id) as db:
        db.add(Space(id=space, title="Live", slug=f"l-{space.hex[:12]}", description=""))
        await db.flush()
        for p in range(20):
            body = {"text": f"Block {p}", "level": 2}
            db.add(Block(id=uuid.uuid4(), space_id=space, kind="heading", position=p, body=body))
    return created.tenant_id, created.token, encode_id("Space", space)


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, timeout=60)
        self.token = token

    async def __call__(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        body: dict[str, Any] = r.json()
        assert r.status_code == 200 and "errors" not in body, body
        return body

    async def metrics(self) -> dict[str, float]:
        r = await self.http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        found: dict[str, float] = {}
        for line in r.text.splitlines():
            if line.startswith("microspace_live_") and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                found[name] = float(value)
        return found


async def widget_key(owner: Api, space: str) -> str:
    variables = {"input": {"kind": "WIDGET", "name": "bench", "scopes": [], "spaceIds": [space]}}
    result = await owner(KEY, variables)
    return str(result["data"]["apiKeyCreate"]["secret"])


class Clients:
    """One load-generator process."""

    def __init__(self, ws: str, token: str, digest: str, space: str, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CLIENTS), ws, token, digest, space, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def opened(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def dump(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("dump\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def quit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=120)


async def wait_subscriptions(api: Api, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await api.metrics()).get("microspace_live_subscriptions", 0) >= n:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{n} subscriptions not reached")


ANSWERED: list[float] = []  # when each mutation's answer came (its commit is done then)


async def changes(owner: Api, space: str, n: int, pause: float) -> list[float]:
    """`n` mutations, unpublish and publish alternately; the time each was sent."""
    sent = []
    for i in range(n):
        await asyncio.sleep(pause)
        sent.append(time.time())
        await owner(UNPUBLISH if i % 2 == 0 else PUBLISH, {"id": space})
        ANSWERED.append(time.time())
    await asyncio.sleep(pause)
    return sent


def latencies(sent: list[float], received: list[tuple[int, float]]) -> list[float]:
    """Each receipt's delay after the change it answers (the latest one sent before it)."""
    out = []
    for _, at in received:
        before = [s for s in sent if s <= at]
        if before:
            out.append(at - before[-1])
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """A process's CPU time so far, user and system (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


async def statements_per_change(
    owner: Api, ws: str, space: str, digest: str, keys: list[str], total: int, n: int
) -> dict[str, Any]:
    before = await owner.metrics()
    groups = [Clients(ws, key, digest, space, total // len(keys)) for key in keys]
    for c in groups:
        c.opened()
    await wait_subscriptions(owner, total)
    start = await owner.metrics()
    sent = await changes(owner, space, n, 1.5)
    end = await owner.metrics()
    received = sum(len(c.dump()["received"]) for c in groups)
    for c in groups:
        c.quit()
    del before
    return {
        "subscribers": total,
        "identities": len(keys),
        "changes": len(sent),
        "messages_received": received,
        "executions_per_change": (
            end["microspace_live_executions_total"] - start["microspace_live_executions_total"]
        )
        / len(sent),
        "sql_statements_per_change": (
            end["microspace_live_sql_statements_total"]
            - start["microspace_live_sql_statements_total"]
        )
        / len(sent),
    }


async def main(args: argparse.Namespace) -> None:
    url = os.environ["DATABASE_URL"]
    # the seed writes through the models: the database first at the code's head
    subprocess.run([sys.executable, str(ROOT / "server.py"), "migrate"], check=True, cwd=ROOT)  # noqa: ASYNC221
    tenant, token, space = await seed(url)
    port = args.port
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MICROSPACE_")},
        "DATABASE_URL": url,
        "MICROSPACE_SECRET_KEY": uuid.uuid4().hex * 2,
        "MICROSPACE_PUBLIC_URL": "https://api.bench.example",
        "MICROSPACE_METRICS_TOKEN": METRICS_TOKEN,
        "MICROSPACE_LOG_LEVEL": "WARNING",
        "MICROSPACE_LIVE_MAX_SUBSCRIPTIONS_PER_TENANT": str(args.subscribers * 2),
        "MICROSPACE_LIVE_SEND_QUEUE": "64",
    }
    # started once, never awaited: the run talks to it over HTTP
    server = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, str(ROOT / "server.py"), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    ws = f"ws://127.0.0.1:{port}/graphql"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(300):
                try:
                    if (await probe.get(f"{base}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        owner = Api(base, token)
        await owner(PUBLISH, {"id": space})
        registered = await owner(REGISTER, {"input": {"document": DOCUMENT}})
        digest = registered["data"]["persistedDocumentRegister"]["document"]["sha256"]
        keys = [await widget_key(owner, space) for _ in range(4)]
        # the space ends each change pair published: it is withdrawn first
        load0 = os.getloadavg()
        rss_start = rss_kib(server.pid)
        one = await statements_per_change(owner, ws, space, digest, keys[:1], 1000, 4)
        four = await statements_per_change(owner, ws, space, digest, keys, 1000, 4)
        await asyncio.sleep(2)
        rss0 = rss_kib(server.pid)
        half = args.subscribers // 2
        started = time.time()
        loads = [Clients(ws, keys[0], digest, space, half) for _ in range(2)]
        opened = [c.opened() for c in loads]
        await wait_subscriptions(owner, 2 * half)
        ramp = time.time() - started
        await asyncio.sleep(3)
        rss1 = rss_kib(server.pid)
        idle0 = cpu_idle()
        cpu0 = cpu_seconds(server.pid)
        before = await owner.metrics()
        ANSWERED.clear()
        sent = await changes(owner, space, args.changes, 3.0)
        answered = list(ANSWERED)
        after = await owner.metrics()
        cpu1 = cpu_seconds(server.pid)
        idle1 = cpu_idle()
        dumps = [c.dump() for c in loads]
        received = [r for d in dumps for r in d["received"]]
        delays = latencies(sent, received)
        for c in loads:
            c.quit()
        per_change = []
        for i, s in enumerate(sent):
            end = sent[i + 1] if i + 1 < len(sent) else float("inf")
            mine = [at - s for _, at in received if s <= at < end]
            per_change.append(
                {
                    "sent_at": s,
                    "received": len(mine),
                    "mutation_s": answered[i] - s,
                    "p50": pct(mine, 0.5),
                    "p99": pct(mine, 0.99),
                    "max": max(mine) if mine else None,
                    # from the mutation's answer (its commit, hence the NOTIFY, done)
                    "p99_after_answer": pct([d - (answered[i] - s) for d in mine], 0.99),
                }
            )
        summary = {
            "tenant": str(tenant),
            "load_average_at_start": load0,
            "load_average_at_end": os.getloadavg(),
            "machine_idle_during_fanout": (idle1[0] - idle0[0]) / max(1, idle1[1] - idle0[1]),
            "statements_one_identity": one,
            "statements_four_identities": four,
            "fanout": {
                "subscribers": 2 * half,
                "clients": opened,
                "ramp_seconds": round(ramp, 1),
                "changes": len(sent),
                "messages_expected": len(sent) * 2 * half,
                "messages_received": len(received),
                "closed_by_server": sum(d["closed"] for d in dumps),
                "latency_p50_s": pct(delays, 0.5),
                "latency_p99_s": pct(delays, 0.99),
                "latency_max_s": max(delays) if delays else None,
                "per_change": per_change,
                # the API process's CPU (user + system) over the changes: the mutations and
                # executions included, mostly the frames' sends
                "server_cpu_user_s": round(cpu1[0] - cpu0[0], 3),
                "server_cpu_system_s": round(cpu1[1] - cpu0[1], 3),
                "server_cpu_us_per_message": round(
                    (sum(cpu1) - sum(cpu0)) * 1e6 / max(1, len(received)), 2
                ),
                "executions": after["microspace_live_executions_total"]
                - before["microspace_live_executions_total"],
            },
            "rss_kib_at_start": rss_start,
            "rss_kib_before": rss0,
            "rss_kib_after": rss1,
            # after the small runs (their memory may be reused) and from the start
            "rss_bytes_per_subscription": (rss1 - rss0) * 1024 / (2 * half),
            "rss_bytes_per_subscription_from_start": (rss1 - rss_start) * 1024 / (2 * half),
            "metrics_after": after,
        }
        print(json.dumps(summary, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=6)
    parser.add_argument("--port", type=int, default=8765)
    asyncio.run(main(parser.parse_args()))
