"""One storage interface, two backends: a local directory (the quick start) and any
S3-compatible service (production). Keys are tenant-prefixed paths (`asset_key`), and what
belongs to one asset, its original and every variant, shares one prefix, so deleting an
asset, a contact's files or a whole tenant is one `delete_prefix`.

Bytes are moved in chunks (`CHUNK`), never whole: `put` takes an async iterable and `stream`
yields one, so memory stays flat whatever the size.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from core.config import ConfigError, Settings

CHUNK = 1024 * 1024
# S3 multipart part size: at least 5 MiB but for the last part; the one buffer `put` holds
PART = 8 * 1024 * 1024
# bytes kept from the start of an upload, for sniffing its type (files/sniff.py)
HEAD = 8192
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / ".data" / "files"


def tenant_prefix(tenant_id: uuid.UUID) -> str:
    return f"t/{tenant_id}/"


def asset_prefix(tenant_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    return f"{tenant_prefix(tenant_id)}a/{asset_id}/"


def asset_key(tenant_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    """Where an asset's original is kept."""
    return asset_prefix(tenant_id, asset_id) + "original"


def variant_key(storage_key: str, name: str) -> str:
    """Where a variant of the asset kept at `storage_key` is kept: beside the original, so
    deleting the asset's prefix deletes it too. `name` is made by the caller from bounded
    parameters (`w400.webp`), never from raw client input."""
    if not name or "/" in name or name in (".", "..") or name == "original":
        raise ValueError(f"not a variant name: {name!r}")
    return storage_key.rsplit("/", 1)[0] + "/v/" + name


class ObjectMissing(LookupError):
    """No object under the key."""


class TooLarge(ValueError):
    """The bytes went past the limit `put` was given; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Stored:
    """What `put` wrote: its size, SHA-256 and first bytes (for sniffing the type)."""

    size: int
    sha256: bytes
    head: bytes


async def chunks_of(data: bytes) -> AsyncIterator[bytes]:
    for at in range(0, len(data), CHUNK):
        yield data[at : at + CHUNK]
    if not data:
        yield b""


class _Counter:
    """Counts, hashes and keeps the head of the bytes passing through; refuses past `limit`."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = b""

    def take(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise TooLarge(self.limit)
        self.digest.update(chunk)
        if len(self.head) < HEAD:
            self.head += chunk[: HEAD - len(self.head)]

    def stored(self) -> Stored:
        return Stored(self.size, self.digest.digest(), self.head)


class Storage(abc.ABC):
    """Objects by key. `stream(key, start, end)` reads bytes `start` to `end` inclusive (an
    HTTP range); `upload_url` is a presigned PUT where the service has them, else None (the
    API then takes the upload itself: microspace/endpoints/files.py)."""

    kind: str

    @abc.abstractmethod
    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        limit: int | None = None,
        media_type: str | None = None,
    ) -> Stored: ...

    async def get(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(key)])

    @abc.abstractmethod
    def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def size(self, key: str) -> int | None:
        """The object's size, or None when there is none."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the object; deleting what is not there is not an error."""

    @abc.abstractmethod
    async def list(self, prefix: str) -> list[str]:
        """Every key under `prefix`, sorted."""

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under `prefix` (which must end in `/`); how many there were."""
        _check_prefix(prefix)
        keys = await self.list(prefix)
        for key in keys:
            await self.delete(key)
        return len(keys)

    @abc.abstractmethod
    async def move(self, source: str, target: str) -> None:
        """Put the object at `source` under `target` (replacing it), and remove `source`."""

    async def upload_url(
        self, key: str, *, expires: int, media_type: str | None = None
    ) -> str | None:
        return None

    async def close(self) -> None:
        return None


def _check_key(key: str) -> None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a storage key: {key!r}")


def _check_prefix(prefix: str) -> None:
    if not prefix.endswith("/"):
        raise ValueError(f"a prefix ends with '/': {prefix!r}")
    _check_key(prefix[:-1])


def _as_chunks(data: bytes | AsyncIterable[bytes]) -> AsyncIterable[bytes]:
    return chunks_of(data) if isinstance(data, bytes) else data


class LocalStorage(Storage):
    """Files under a directory: `<root>/<key>`, written to a temporary name and renamed, so a
    reader never sees half a file."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        _check_key(key)
        return self.root / key

    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        limit: int | None = None,
        media_type: str | None = None,
    ) -> Stored:
        path = self._path(key)
        await anyio.to_thread.run_sync(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        counter = _Counter(limit)
        try:
            async with await anyio.open_file(partial, "wb") as out:
                async for chunk in _as_chunks(data):
                    counter.take(chunk)
                    await out.write(chunk)
            await anyio.to_thread.run_sync(os.replace, partial, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                await anyio.to_thread.run_sync(partial.unlink)
        return counter.stored()

    async def get(self, key: str) -> bytes:
        # one thread hop, where streaming takes one per open, seek, read and close
        path = self._path(key)
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError:
            raise ObjectMissing(key) from None

    async def stream(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await anyio.open_file(path, "rb")
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        async with handle:
            await handle.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                chunk = await handle.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return (await anyio.to_thread.run_sync(path.stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            await anyio.to_thread.run_sync(path.unlink)

    async def move(self, source: str, target: str) -> None:
        src, dst = self._path(source), self._path(target)
        try:
            await anyio.to_thread.run_sync(os.replace, src, dst)
        except FileNotFoundError:
            raise ObjectMissing(source) from None

    async def list(self, prefix: str) -> list[str]:
        _check_prefix(prefix)
        base = self.root / prefix

        def walk() -> list[str]:
            if not base.is_dir():
                return []
            return sorted(
                p.relative_to(self.root).as_posix()
                for p in base.rglob("*")
                if p.is_file() and not p.name.endswith(".part")
            )

        return await anyio.to_thread.run_sync(walk)

    async def delete_prefix(self, prefix: str) -> int:
        count = await super().delete_prefix(prefix)
        # empty directories left behind say nothing, but would pile up
        base = self.root / prefix

        def prune() -> None:
            for folder in sorted(base.rglob("*"), reverse=True) if base.is_dir() else []:
                if folder.is_dir():
                    with contextlib.suppress(OSError):
                        folder.rmdir()
            with contextlib.suppress(OSError):
                base.rmdir()

        await anyio.to_thread.run_sync(prune)
        return count


class S3Storage(Storage):
    """Any S3-compatible service through aioboto3: one client per process, opened on first
    use; large puts as multipart uploads of `PART` bytes."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    async def client(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                import aioboto3
                from botocore.config import Config

                stack = contextlib.AsyncExitStack()
                config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
                self._client = await stack.enter_async_context(
                    aioboto3.Session().client("s3", config=config, **self._options)
                )
                self._stack = stack
        return self._client

    async def ensure_bucket(self) -> None:
        """Create the bucket when it is missing (tests and first runs; production makes it)."""
        from botocore.exceptions import ClientError

        s3 = await self.client()
        try:
            await s3.head_bucket(Bucket=self.bucket)
        except ClientError:
            await s3.create_bucket(Bucket=self.bucket)

    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        limit: int | None = None,
        media_type: str | None = None,
    ) -> Stored:
        _check_key(key)
        s3 = await self.client()
        counter = _Counter(limit)
        extra = {"ContentType": media_type} if media_type else {}
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in _as_chunks(data):
                counter.take(chunk)
                buffer += chunk
                while len(buffer) >= PART:
                    if upload_id is None:
                        started = await s3.create_multipart_upload(
                            Bucket=self.bucket, Key=key, **extra
                        )
                        upload_id = started["UploadId"]
                    part = bytes(buffer[:PART])
                    del buffer[:PART]
                    number = len(parts) + 1
                    sent = await s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=part,
                    )
                    parts.append({"ETag": sent["ETag"], "PartNumber": number})
            if upload_id is None:
                await s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer), **extra)
            else:
                if buffer:
                    number = len(parts) + 1
                    sent = await s3.upload_part(
                        Bucket=self.bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=bytes(buffer),
                    )
                    parts.append({"ETag": sent["ETag"], "PartNumber": number})
                await s3.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                upload_id = None
        finally:
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return counter.stored()

    async def stream(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        from botocore.exceptions import ClientError

        _check_key(key)
        s3 = await self.client()
        ranged = {"Range": f"bytes={start}-{'' if end is None else end}"} if start or end else {}
        try:
            answer = await s3.get_object(Bucket=self.bucket, Key=key, **ranged)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectMissing(key) from None
            raise
        body = answer["Body"]
        try:
            while chunk := await body.read(CHUNK):
                yield chunk
        finally:
            body.close()

    async def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        _check_key(key)
        s3 = await self.client()
        try:
            head = await s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def delete(self, key: str) -> None:
        _check_key(key)
        s3 = await self.client()
        await s3.delete_object(Bucket=self.bucket, Key=key)

    async def move(self, source: str, target: str) -> None:
        # a server-side copy (one request up to 5 GiB, the largest file by default)
        _check_key(source)
        _check_key(target)
        s3 = await self.client()
        copy = {"Bucket": self.bucket, "Key": source}
        await s3.copy_object(Bucket=self.bucket, Key=target, CopySource=copy)
        await s3.delete_object(Bucket=self.bucket, Key=source)

    async def list(self, prefix: str) -> list[str]:
        _check_prefix(prefix)
        s3 = await self.client()
        keys: list[str] = []
        async for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", ()))
        return sorted(keys)

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.list(prefix)
        s3 = await self.client()
        for at in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[at : at + 1000]]
            await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    async def upload_url(
        self, key: str, *, expires: int, media_type: str | None = None
    ) -> str | None:
        _check_key(key)
        s3 = await self.client()
        url: str = await s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires,
        )
        return url

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
        self._client = self._stack = None


def _missing(exc: Any) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def storage_from(settings: Settings) -> Storage:
    """The storage the settings name; a ConfigError (one line) when they are incomplete."""
    if settings.storage == "local":
        return LocalStorage(Path(settings.storage_dir) if settings.storage_dir else DEFAULT_DIR)
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ConfigError("MICROSPACE_STORAGE=s3 needs MICROSPACE_S3_BUCKET")
        return S3Storage(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    raise ConfigError(f"MICROSPACE_STORAGE must be `local` or `s3`, not {settings.storage!r}")
