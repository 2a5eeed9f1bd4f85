#!/usr/bin/env python3
"""Images: peak memory of making variants, and how fast a cached variant is served.

    python bench/images.py memory     # three variants of a 12-megapixel JPEG, peak RSS
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/DB python bench/images.py serve
        [--seconds 10] [--connections 16]  # requests/s: a cached variant against StaticFiles

`memory` writes a 4000x3000 JPEG (noise, so it compresses like a photo: about 10 MB), then
runs the cleaning of it (orientation, metadata) and three variants (2048 WebP, 1024 AVIF,
512 JPEG) in a fresh subprocess, and prints that process's peak resident memory
(`ru_maxrss`) and the same for a subprocess that only imports the module (the baseline).

`serve` migrates the database and adds a tenant, starts the API (`uvicorn --factory
microspace.asgi:create`, one process, local storage in a temporary directory), uploads a
photo, asks `url(width: 1024)` and fetches it once (the variant is made and kept), then
starts Starlette's `StaticFiles` (`uvicorn --factory images:static_app`, one process, the
same flags) over a directory holding the same bytes, and loads each in turn with `wrk`
(else an httpx loop): the API by the variant's signed link, StaticFiles by its path. It
prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# `serve` imports asyncio and the rest itself: `memory`'s subprocess measures its imports

ROOT = Path(__file__).resolve().parent.parent
SPECS = [(2048, "webp"), (1024, "avif"), (512, "jpeg")]


def photo(path: Path, width: int = 4000, height: int = 3000) -> None:
    """Gradients with noise (about 5 MB, like a phone's photo) and its metadata: author,
    GPS position."""
    import pyvips

    xy = pyvips.Image.xyz(width, height)
    red, green = xy[0] * 255 / width, xy[1] * 255 / height
    blue = (xy[0] + xy[1]) * 255 / (width + height)
    noise = pyvips.Image.gaussnoise(width, height, sigma=12, mean=0)
    image = (red.bandjoin([green, blue]) + noise).cast("uchar").copy(interpretation="srgb")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Bench Author")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitude", "48/1 51/1 2400/100")
    image.write_to_file(str(path), Q=90)


# what `memory`'s subprocess runs: nothing imported but the module measured (this script's
# own imports would count in its peak)
CHILD = """
import resource, sys
sys.path.insert(0, sys.argv[3])
from files import images
path, work = sys.argv[1], sys.argv[2]
if work == "variants":
    cleaned = images.clean(path, "image/jpeg", path + ".clean")
    assert cleaned.rewritten  # the photo carries metadata, as a phone's does
    for width, fmt in SPECS:
        images.render(path + ".clean", images.variant_spec(width, format=fmt))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
with open("/proc/self/status") as status:
    hwm = status.read().split("VmHWM:")[1].split()[0]
print(f"{peak:.1f} {int(hwm) / 1024:.1f}")
""".replace("SPECS", repr(SPECS))


def _peak(path: Path, work: str) -> tuple[float, float]:
    """ru_maxrss and VmHWM (MiB) of a subprocess doing `work`. Linux keeps ru_maxrss across
    exec, so the parent stays small: it never loads libvips itself."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), work, str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    rss, hwm = out.stdout.split()
    return float(rss), float(hwm)


def memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        subprocess.run([sys.executable, __file__, "_photo", str(path)], check=True)
        size = path.stat().st_size
        base = _peak(path, "import")
        runs = [_peak(path, "variants") for _ in range(3)]
    print(f"12-megapixel JPEG, {size / 1e6:.1f} MB; cleaned, then variants {SPECS}")
    print(f"ru_maxrss per run (MiB): {[r for r, _ in runs]}; VmHWM: {[h for _, h in runs]}")
    print(f"a process that only imports files.images: {base[0]:.1f} MiB")
    peak = max(r for r, _ in runs)
    print("under 64 MiB:", "yes" if peak < 64 else "NO", f"(worst run {peak:.1f} MiB)")


def static_app() -> Any:
    """Starlette's StaticFiles over BENCH_STATIC_DIR (the comparison's floor)."""
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    folder = os.environ["BENCH_STATIC_DIR"]
    return Starlette(routes=[Mount("/static", StaticFiles(directory=folder))])


UPLOAD = """mutation($input: AssetUploadInput!) { assetUpload(input: $input) {
  asset { id } userErrors { code message } } }"""
VARIANT = "query($id: ID!) { asset(id: $id) { url(width: 1024) } }"


def _uvicorn(target: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "--factory", target, "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    if target.startswith("images:"):  # this file; never the API's path (bench/ shadows names)
        command += ["--app-dir", str(ROOT / "bench")]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})


async def _ready(url: str) -> None:
    import asyncio

    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(600):
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


async def _variant(api: str, token: str, photo_path: Path) -> tuple[str, bytes]:
    """Upload the photo; the variant's signed URL and bytes (made by this first request)."""
    import json

    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    operations = {"query": UPLOAD, "variables": {"input": {"file": None}}}
    async with httpx.AsyncClient(timeout=120) as client:
        sent = await client.post(
            f"{api}/graphql",
            data={"operations": json.dumps(operations), "map": '{"0": ["variables.input.file"]}'},
            files={"0": ("photo.jpg", photo_path.read_bytes(), "image/jpeg")},
            headers=headers,
        )
        asset = sent.json()["data"]["assetUpload"]
        if asset["userErrors"]:
            raise RuntimeError(asset["userErrors"])
        asked = await client.post(
            f"{api}/graphql",
            json={"query": VARIANT, "variables": {"id": asset["asset"]["id"]}},
            headers=headers,
        )
        url = asked.json()["data"]["asset"]["url"]
        first = await client.get(url)
        first.raise_for_status()
        return url, first.content


def _load(url: str, seconds: int, connections: int) -> float:
    """Requests per second: wrk when installed, else an httpx loop."""
    import asyncio
    import re
    import shutil

    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        if "Non-2xx" in out:
            raise RuntimeError(out)
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        assert found, out
        return float(found.group(1))
    return asyncio.run(_httpx_load(url, seconds, connections))


async def _httpx_load(url: str, seconds: int, connections: int) -> float:
    import asyncio
    import time

    import httpx

    done = 0
    end = time.monotonic() + seconds
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=connections)) as client:

        async def one() -> None:
            nonlocal done
            while time.monotonic() < end:
                (await client.get(url)).raise_for_status()
                done += 1

        await asyncio.gather(*[one() for _ in range(connections)])
    return done / seconds


def serve(seconds: int, connections: int) -> None:
    import asyncio
    import shutil
    import uuid

    sys.path.insert(0, str(ROOT))
    from core.config import async_url
    from core.migrate import migrate
    from microspace.commands.tenants import create_tenant
    from tests.ports import free_port

    database = os.environ["DATABASE_URL"]
    asyncio.run(migrate(async_url(database), "microspace_app"))
    tenant = asyncio.run(
        create_tenant(async_url(database), f"images bench {uuid.uuid4().hex[:6]}", "b@example.com")
    )
    folder = Path(tempfile.mkdtemp(prefix="microspace-images-bench-"))
    api_port, static_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    servers = []
    try:
        subprocess.run([sys.executable, __file__, "_photo", str(folder / "photo.jpg")], check=True)
        servers.append(
            _uvicorn(
                "microspace.asgi:create",
                api_port,
                {
                    "MICROSPACE_SECRET_KEY": "bench-images-secret",
                    "MICROSPACE_PUBLIC_URL": api,
                    "MICROSPACE_STORAGE": "local",
                    "MICROSPACE_STORAGE_DIR": str(folder / "files"),
                    "MICROSPACE_LOG_LEVEL": "WARNING",
                    "MICROSPACE_DEV": "true",  # an http public URL; no effect on /files
                },
            )
        )
        asyncio.run(_ready(f"{api}/healthz"))
        url, variant = asyncio.run(_variant(api, tenant.token, folder / "photo.jpg"))
        (folder / "static").mkdir()
        (folder / "static" / "w1024.webp").write_bytes(variant)
        servers.append(
            _uvicorn("images:static_app", static_port, {"BENCH_STATIC_DIR": str(folder / "static")})
        )
        static = f"http://127.0.0.1:{static_port}/static/w1024.webp"
        asyncio.run(_ready(static))
        _load(url, 2, connections)  # warm both
        _load(static, 2, connections)
        ours = _load(url, seconds, connections)
        floor = _load(static, seconds, connections)
        print(f"variant {len(variant)} bytes; {connections} connections, {seconds} s each")
        print(f"API /files/{{token}} (cached variant): {ours:.0f} requests/s")
        print(f"Starlette StaticFiles, same bytes:     {floor:.0f} requests/s")
        print(f"ratio {ours / floor:.2f} (wanted >= 0.8)")
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_photo":  # libvips loaded outside the parent
        photo(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["memory", "serve"])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.what == "memory":
        memory()
    else:
        serve(args.seconds, args.connections)


if __name__ == "__main__":
    main()
