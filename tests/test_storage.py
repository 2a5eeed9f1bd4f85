"""The storage interface (files/storage.py), the same tests on local disk and on a real S3
server (SeaweedFS, tests/s3_server.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from files.storage import (
    CHUNK,
    PART,
    LocalStorage,
    ObjectMissing,
    Storage,
    TooLarge,
    asset_key,
    asset_prefix,
    variant_key,
)
from tests.s3_server import S3Server, ready_storage


@pytest.fixture(params=["local", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "files")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    s3 = await ready_storage(server, f"t-{uuid.uuid4().hex[:20]}")
    yield s3
    await s3.close()


async def pieces(total: int, size: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield bytes([sent // size % 251]) * n
        sent += n


async def test_put_get_stream_list_and_delete(storage: Storage) -> None:
    tenant, asset = uuid.uuid4(), uuid.uuid4()
    key = asset_key(tenant, asset)
    stored = await storage.put(key, b"hello, world")
    assert (stored.size, stored.head) == (12, b"hello, world")
    assert await storage.get(key) == b"hello, world"
    assert await storage.size(key) == 12
    assert b"".join([c async for c in storage.stream(key, 7, 11)]) == b"world"
    assert b"".join([c async for c in storage.stream(key, 7)]) == b"world"
    await storage.put(key + "-upload", b"moved")
    await storage.move(key + "-upload", key)
    assert (await storage.get(key), await storage.size(key + "-upload")) == (b"moved", None)
    await storage.put(key, b"hello, world")
    small = variant_key(key, "w400.webp")
    await storage.put(small, b"variant")
    assert await storage.list(asset_prefix(tenant, asset)) == sorted([key, small])
    assert await storage.delete_prefix(asset_prefix(tenant, asset)) == 2
    assert await storage.list(asset_prefix(tenant, asset)) == []
    assert await storage.size(key) is None
    with pytest.raises(ObjectMissing):
        await storage.get(key)
    await storage.delete(key)  # deleting what is gone is not an error


async def test_a_large_put_goes_in_parts_and_reads_back_in_ranges(storage: Storage) -> None:
    key = asset_key(uuid.uuid4(), uuid.uuid4())
    total = PART * 2 + 12345  # two full multipart parts and a short last one on S3
    stored = await storage.put(key, pieces(total, CHUNK))
    assert stored.size == total == await storage.size(key)
    got = 0
    async for chunk in storage.stream(key):
        assert len(chunk) <= CHUNK
        got += len(chunk)
    assert got == total
    tail = b"".join([c async for c in storage.stream(key, total - 10, total - 1)])
    assert tail == bytes([(total - 1) // CHUNK % 251]) * 10


async def test_past_the_limit_nothing_is_kept(storage: Storage) -> None:
    tenant, asset = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(TooLarge):
        await storage.put(asset_key(tenant, asset), pieces(PART + CHUNK, CHUNK), limit=PART)
    assert await storage.list(asset_prefix(tenant, asset)) == []


async def test_keys_that_climb_out_are_refused(storage: Storage) -> None:
    for key in ("../x", "/etc/passwd", "t/a/../../x", "", "t//x"):
        with pytest.raises(ValueError):
            await storage.put(key, b"x")
    with pytest.raises(ValueError):
        variant_key("t/1/a/2/original", "../original")
    with pytest.raises(ValueError):
        await storage.delete_prefix("t")  # a prefix without its slash would take t2/ too


async def test_an_upload_url_takes_a_put_on_s3(s3_server: S3Server) -> None:
    s3 = await ready_storage(s3_server, f"t-{uuid.uuid4().hex[:20]}")
    key = asset_key(uuid.uuid4(), uuid.uuid4())
    url = await s3.upload_url(key, expires=60)
    assert url is not None
    async with httpx.AsyncClient() as client:
        answer = await client.put(url, content=b"straight to storage")
    assert answer.status_code == 200, answer.text
    assert await s3.get(key) == b"straight to storage"
    await s3.close()
    assert await LocalStorage(Path("/nonexistent")).upload_url(key, expires=60) is None
