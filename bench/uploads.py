#!/usr/bin/env python3
"""Resident memory of the API while it takes a large upload (default 1 GiB).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/DB python bench/uploads.py [--mib 1024]
        [--s3-endpoint URL --s3-bucket B --s3-key K --s3-secret S]

Migrates the database, adds a tenant, starts the API (`uvicorn --factory
microspace.asgi:create`) in a process of its own on local storage in a temporary directory
(or on the S3 bucket given), takes its resident memory once it has answered a first
request, then sends the file: `assetUploadStart`, one streamed `PUT` of the bytes to the
upload URL (the API's own route on local storage; S3's presigned PUT otherwise, where the
API never sees the bytes) and `assetUploadComplete`, then downloads it by its signed link.
Meanwhile it samples the API's VmRSS every 20 ms, and prints the start, the peaks and
their growth, and the time taken.

On 2026-12-06, on the shared 2-core machine, local storage, 1 GiB: resident memory 95.0 MiB
at the start, 98.1 MiB at the upload's peak (+3.2 MiB, 17.5 s), +6.2 MiB at the
download's peak (3.2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import async_url
from core.migrate import migrate
from microspace.commands.tenants import create_tenant
from tests.ports import free_port

CHUNK = 1024 * 1024
START = """mutation($n: String!) { assetUploadStart(input: {name: $n}) {
  asset { id } uploadUrl userErrors { code message } } }"""
COMPLETE = """mutation($id: ID!) { assetUploadComplete(id: $id) {
  asset { byteSize mediaType url } userErrors { code message } } }"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


async def body(mib: int) -> AsyncIterator[bytes]:
    # a PDF header, so the upload is accepted, then filler
    first = b"%PDF-1.4\n" + b"\0" * (CHUNK - 9)
    yield first
    block = bytes(range(256)) * (CHUNK // 256)
    for _ in range(mib - 1):
        yield block


async def prepare(url: str) -> str:
    """Migrate the database and add a tenant; its owner's token."""
    await migrate(async_url(url), "microspace_app")
    tenant = await create_tenant(
        async_url(url), f"files bench {uuid.uuid4().hex[:6]}", "bench@example.com"
    )
    return tenant.token


def start_api(args: argparse.Namespace, port: int, data: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MICROSPACE_DEV": "true",
        "MICROSPACE_SECRET_KEY": "bench-files-secret",
        "MICROSPACE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "MICROSPACE_STORAGE": "s3" if args.s3_endpoint else "local",
        "MICROSPACE_STORAGE_DIR": data,
        "MICROSPACE_LOG_LEVEL": "WARNING",
        "MICROSPACE_MAX_FILE_BYTES": str((args.mib + 1) * CHUNK),
    }
    if args.s3_endpoint:
        env |= {
            "MICROSPACE_S3_ENDPOINT_URL": args.s3_endpoint,
            "MICROSPACE_S3_BUCKET": args.s3_bucket,
            "MICROSPACE_S3_ACCESS_KEY_ID": args.s3_key,
            "MICROSPACE_S3_SECRET_ACCESS_KEY": args.s3_secret,
        }
    command = [sys.executable, "-m", "uvicorn", "--factory", "microspace.asgi:create"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


async def measure(args: argparse.Namespace, pid: int, port: int, token: str) -> dict[str, object]:
    api = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=600) as client:
        for _ in range(300):
            try:
                if (await client.get(f"{api}/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        warm = await client.post(
            f"{api}/graphql", json={"query": "{ tenantUsage { plan } }"}, headers=headers
        )
        warm.raise_for_status()
        start = rss_kib(pid)
        sampler = Sampler(pid)
        sampler.start()
        began = time.monotonic()
        started = (
            await client.post(
                f"{api}/graphql",
                json={"query": START, "variables": {"n": "large.pdf"}},
                headers=headers,
            )
        ).json()["data"]["assetUploadStart"]
        put = await client.put(started["uploadUrl"], content=body(args.mib))
        put.raise_for_status()
        done = (
            await client.post(
                f"{api}/graphql",
                json={"query": COMPLETE, "variables": {"id": started["asset"]["id"]}},
                headers=headers,
            )
        ).json()["data"]["assetUploadComplete"]
        seconds = time.monotonic() - began
        if done["userErrors"]:
            raise RuntimeError(done["userErrors"])
        upload_peak = sampler.peak
        # and back: the whole file downloaded by its signed link, streamed
        began = time.monotonic()
        received = 0
        async with client.stream("GET", done["asset"]["url"]) as answer:
            async for chunk in answer.aiter_raw():
                received += len(chunk)
        download_seconds = time.monotonic() - began
        sampler.running = False
        sampler.join()
    return {
        "storage": "s3" if args.s3_endpoint else "local",
        "bytes": done["asset"]["byteSize"],
        "rss_start_mib": round(start / 1024, 1),
        "upload_rss_peak_mib": round(upload_peak / 1024, 1),
        "upload_rss_growth_mib": round((upload_peak - start) / 1024, 1),
        "upload_seconds": round(seconds, 1),
        "downloaded": received,
        "download_rss_growth_mib": round((sampler.peak - start) / 1024, 1),
        "download_seconds": round(download_seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--s3-endpoint")
    ap.add_argument("--s3-bucket")
    ap.add_argument("--s3-key", default="bench")
    ap.add_argument("--s3-secret", default="bench")
    args = ap.parse_args()
    token = asyncio.run(prepare(os.environ["DATABASE_URL"]))
    port, data = free_port(), tempfile.mkdtemp(prefix="microspace-files-bench-")
    server = start_api(args, port, data)
    try:
        print(json.dumps(asyncio.run(measure(args, server.pid, port, token))))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
