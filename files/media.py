"""Images and documents against storage: an uploaded original inspected once stored
(`inspect`, files.assets' inspector: an image cleaned and measured, a document's author
metadata read), and image variants made on first request, cached beside the original
(files/images.py renders, files/documents.py reads)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
import pyvips

from files import documents
from files.images import CLEANED, VariantSpec, check_cleanable, clean, render, unreadable
from files.storage import CHUNK, Storage

# at most this many renders at once per process: each takes a core and tens of MB
RENDERS = 2
T = TypeVar("T")

_rendering: dict[str, asyncio.Future[int | None]] = {}
# taken in the worker thread, not the event loop: it serves every loop of the process
_renders = threading.BoundedSemaphore(RENDERS)


def _bounded(work: Callable[..., T], *args: Any) -> T:
    with _renders:
        return work(*args)


def original_of(key: str) -> tuple[str, VariantSpec] | None:
    """The original's key and the spec of a variant key (`.../a/<id>/v/<name>`); None for
    any other key."""
    base, _, name = key.rpartition("/v/")
    spec = VariantSpec.parse(name) if base and "/" not in name else None
    return (base + "/original", spec) if spec is not None else None


async def ensure_variant(storage: Storage, key: str) -> int | None:
    """The byte size of the variant kept at `key`, rendered from its original and stored
    first when it is not there yet; None when `key` names no variant or the original is
    gone. Concurrent first requests for one variant render it once."""
    size = await storage.size(key)
    if size is not None:
        return size
    found = original_of(key)
    if found is None:
        return None
    running = _rendering.get(key)
    if running is not None:
        return await asyncio.shield(running)
    future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
    _rendering[key] = future
    try:
        size = await _make(storage, key, *found)
        future.set_result(size)
        return size
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
        raise
    finally:
        del _rendering[key]


@contextlib.asynccontextmanager
async def staged(storage: Storage, key: str) -> AsyncIterator[str]:
    """The object at `key` copied to a temporary file, in chunks: libvips reads it from
    there with shrink-on-load, and no whole original is ever held in memory."""
    with tempfile.TemporaryDirectory(prefix="microspace-image-") as folder:
        path = os.path.join(folder, "original")
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in storage.stream(key):
                await out.write(chunk)
        yield path


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as handle:
        while chunk := await handle.read(CHUNK):
            yield chunk


async def _make(storage: Storage, key: str, original: str, spec: VariantSpec) -> int | None:
    if await storage.size(original) is None:
        return None
    async with staged(storage, original) as path:
        try:
            out = await anyio.to_thread.run_sync(_bounded, render, path, spec)
        except pyvips.Error:
            raise unreadable() from None
    size = (await storage.put(key, out, media_type=spec.media_type)).size
    if await storage.size(original) is None:
        # the asset was deleted or erased while rendering: leave nothing of it behind
        await storage.delete(key)
        return None
    return size


async def inspect(storage: Storage, asset: Any) -> None:
    """files.assets' inspector: images are cleaned (the original rewritten when it carried
    metadata) and measured, or refused when they cannot be; documents' author metadata is
    recorded in `details`."""
    check_cleanable(asset.media_type)
    if asset.media_type in CLEANED:
        await _inspect_image(storage, asset)
    elif documents.readable(asset.media_type) and asset.byte_size <= documents.MAX_READ:
        async with staged(storage, asset.storage_key) as path:
            found = await anyio.to_thread.run_sync(documents.metadata, path, asset.media_type)
        asset.details = {**(asset.details or {}), "documentMetadata": found}


async def _inspect_image(storage: Storage, asset: Any) -> None:
    async with staged(storage, asset.storage_key) as path:
        out = path + ".clean"
        cleaned = await anyio.to_thread.run_sync(_bounded, clean, path, asset.media_type, out)
        if cleaned.rewritten:
            stored = await storage.put(
                asset.storage_key, _file_chunks(out), media_type=asset.media_type
            )
            asset.byte_size = stored.size
            asset.sha256 = stored.sha256
    asset.width, asset.height = cleaned.width, cleaned.height
    asset.details = {
        **(asset.details or {}),
        "placeholder": cleaned.placeholder,
        "metadataRemoved": list(cleaned.removed),
    }
