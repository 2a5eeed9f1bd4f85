"""The asset library's operations, storage and rows together: take an upload (inline, or by
upload URL and `complete`), hand out download links, delete. The resolvers call these; the
privacy engine calls `delete_prefixes` and `tenant_prefix` to reach storage.

Every refusal is a `Refused` with a stable code; nothing is kept of a refused upload.
Inspection (an image cleaned and measured, a document's author metadata read) plugs in
through `INSPECTORS` (files/media.py), called once the original's bytes are stored and checked.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.config import Settings
from core.db import Db, unit_of_work
from files import links, media
from files.images import ImageRefused
from files.sniff import DEFAULT_ALLOWED, sniff
from files.storage import HEAD, Storage, TooLarge, asset_key, asset_prefix, tenant_prefix
from models import Asset, AssetState, Contact
from models.asset import kind_of
from store import plans
from store.events import emit

NAME_MAX = 255
OCTET_STREAM = "application/octet-stream"
# the key an upload URL writes: the original only once `complete` checked it, so replaying
# the URL later cannot swap the checked bytes
UPLOAD_NAME = "upload"

# called with (storage, asset) once an original is stored and checked: may set width,
# height, details and variants, and rewrite the original (metadata stripped)
Inspector = Callable[[Storage, Asset], Awaitable[None]]
INSPECTORS: list[Inspector] = [media.inspect]


class Refused(Exception):
    """An upload or asset operation refused: `code` (the GraphQL enum's name), a sentence."""

    def __init__(self, code: str, message: str, field: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Rules:
    """What a tenant may upload: its plan's, else the installation's defaults."""

    max_file_bytes: int
    allowed: frozenset[str]


async def rules_of(db: Db, settings: Settings) -> Rules:
    plan = await plans.plan_of(db)
    most = plan.max_file_bytes if plan is not None else None
    allowed = plan.allowed_media_types if plan is not None else None
    return Rules(
        settings.max_file_bytes if most is None else most,
        DEFAULT_ALLOWED if allowed is None else frozenset(allowed),
    )


def tenant_of(db: Db) -> uuid.UUID:
    if db.tenant_id is None:
        raise RuntimeError("a file operation outside a tenant's transaction")
    return db.tenant_id


def clean_name(name: str) -> str:
    """A file name to keep and to send back: the last path part, no control characters,
    1 to 255 characters; NAME_INVALID otherwise."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", "..") or any(unicodedata.category(c)[0] == "C" for c in name):
        raise Refused(
            "NAME_INVALID",
            "The file name must be 1 to 255 characters without control characters.",
            ["name"],
        )
    if len(name) > NAME_MAX:
        raise Refused(
            "NAME_INVALID", f"The file name may be at most {NAME_MAX} characters.", ["name"]
        )
    return name


async def check_contact(db: Db, contact_id: uuid.UUID | None) -> None:
    if (
        contact_id is not None
        and await db.scalar(select(Contact.id).where(Contact.id == contact_id)) is None
    ):
        raise Refused("CONTACT_NOT_FOUND", "No contact with this ID.", ["contactId"])


def too_large(limit: int) -> Refused:
    return Refused(
        "FILE_TOO_LARGE", f"The file may be at most {limit} bytes on this account.", ["file"]
    )


async def _check_bytes(
    db: Db,
    storage: Storage,
    key: str,
    size: int,
    head: bytes,
    rules: Rules,
    plan_message: Callable[[plans.PlanLimit], str],
) -> str:
    """The sniffed media type of stored bytes, or Refused (and the bytes deleted)."""
    try:
        if size == 0:
            raise Refused("FILE_EMPTY", "The file is empty.", ["file"])
        if size > rules.max_file_bytes:
            raise too_large(rules.max_file_bytes)
        media_type = sniff(head)
        if media_type not in rules.allowed:
            raise Refused(
                "MEDIA_TYPE_NOT_ALLOWED",
                f"Files of type {media_type} (read from the file's bytes) may not be uploaded "
                "on this account.",
                ["file"],
            )
        over = await plans.check(db, "storage_bytes", size)
        if over is not None:
            raise Refused("PLAN_LIMIT", plan_message(over))
    except Refused:
        await storage.delete(key)
        raise
    return media_type


async def _inspect(storage: Storage, asset: Asset) -> None:
    try:
        for inspector in INSPECTORS:
            await inspector(storage, asset)
    except ImageRefused as refused:
        raise Refused(refused.code, refused.message, ["file"]) from None


async def ingest(
    db: Db,
    storage: Storage,
    *,
    name: str,
    data: bytes | AsyncIterable[bytes],
    contact_id: uuid.UUID | None,
    created_by: uuid.UUID | None,
    rules: Rules,
    plan_message: Callable[[plans.PlanLimit], str],
    actor: str | None = None,
) -> Asset:
    """Store an upload whose bytes the API holds (the GraphQL multipart request)."""
    name = clean_name(name)
    await check_contact(db, contact_id)
    asset_id = uuid.uuid4()
    key = asset_key(tenant_of(db), asset_id)
    try:
        stored = await storage.put(key, data, limit=rules.max_file_bytes)
    except TooLarge:
        raise too_large(rules.max_file_bytes) from None
    media_type = await _check_bytes(db, storage, key, stored.size, stored.head, rules, plan_message)
    row = Asset(
        id=asset_id,
        state=AssetState.READY.value,
        kind=kind_of(media_type).value,
        name=name,
        media_type=media_type,
        byte_size=stored.size,
        sha256=stored.sha256,
        storage_key=key,
        contact_id=contact_id,
        created_by=created_by,
    )
    return await _register(db, storage, row, actor)


async def _register(db: Db, storage: Storage, row: Asset, actor: str | None) -> Asset:
    try:
        await _inspect(storage, row)
        db.add(row)
        await db.flush()
        await emit(db, "asset.created", row.id, actor=actor)
    except BaseException:
        await storage.delete_prefix(asset_prefix(tenant_of(db), row.id))
        raise
    return row


@dataclass(frozen=True)
class UploadTicket:
    asset: Asset
    url: str
    expires_at: datetime


async def start_upload(
    db: Db,
    storage: Storage,
    settings: Settings,
    *,
    name: str,
    contact_id: uuid.UUID | None,
    created_by: uuid.UUID | None,
    rules: Rules,
) -> UploadTicket:
    """A pending asset and the URL its bytes go to (a presigned PUT on S3, the API's own
    endpoint on local disk), valid `upload_link_ttl` seconds."""
    name = clean_name(name)
    await check_contact(db, contact_id)
    asset_id = uuid.uuid4()
    key = asset_key(tenant_of(db), asset_id)
    upload = upload_key(key)
    ttl = int(settings.upload_link_ttl)
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl)
    url = await storage.upload_url(upload, expires=ttl)
    if url is None:
        token = links.sign_upload(
            settings.secret(),
            links.UploadLink(upload, rules.max_file_bytes, int(expires_at.timestamp())),
        )
        url = f"{settings.public_url.rstrip('/')}/files/uploads/{token}"
    row = Asset(
        id=asset_id,
        state=AssetState.PENDING.value,
        kind=kind_of(OCTET_STREAM).value,
        name=name,
        media_type=OCTET_STREAM,
        byte_size=0,
        storage_key=key,
        contact_id=contact_id,
        created_by=created_by,
        expires_at=expires_at,
    )
    db.add(row)
    await db.flush()
    return UploadTicket(row, url, expires_at)


def upload_key(storage_key: str) -> str:
    return storage_key.rsplit("/", 1)[0] + "/" + UPLOAD_NAME


async def complete_upload(
    db: Db,
    storage: Storage,
    row: Asset,
    *,
    rules: Rules,
    plan_message: Callable[[plans.PlanLimit], str],
    actor: str | None = None,
) -> Asset:
    """Check the bytes an upload URL received and register them; a refusal deletes the
    pending asset and its bytes."""
    if row.state != AssetState.PENDING.value:
        raise Refused("UPLOAD_ALREADY_COMPLETE", "This upload was completed already.", ["id"])
    upload = upload_key(row.storage_key)
    size = await storage.size(upload)
    if size is None:
        raise Refused(
            "UPLOAD_MISSING",
            "Nothing was uploaded to this asset's upload URL yet (or the upload is still "
            "running); send the bytes, then complete.",
            ["id"],
        )
    head = b"".join([chunk async for chunk in storage.stream(upload, 0, HEAD - 1)]) if size else b""
    try:
        media_type = await _check_bytes(db, storage, upload, size, head, rules, plan_message)
    except Refused:
        await db.delete(row)
        await db.flush()
        raise
    await storage.move(upload, row.storage_key)
    row.state = AssetState.READY.value
    row.media_type = media_type
    row.kind = kind_of(media_type).value
    row.byte_size = size
    row.expires_at = None
    return await _register(db, storage, row, actor)


def download_url(
    settings: Settings,
    row: Asset,
    *,
    public: bool,
    key: str | None = None,
    media_type: str | None = None,
    name: str | None = None,
    now: float | None = None,
) -> str:
    """A signed, short-lived URL of the asset's original (or of one of its variants, by
    `key`, `media_type` and the `name` to save it as); `public` when a shared cache may
    keep the bytes (what a widget shows)."""
    ttl = settings.file_link_ttl
    link = links.FileLink(
        key or row.storage_key,
        media_type or row.media_type,
        name or row.name,
        public,
        links.expiry(time.time() if now is None else now, ttl),
    )
    token = links.sign_download(settings.secret(), link)
    return f"{settings.public_url.rstrip('/')}/files/{token}"


async def delete_asset(db: Db, storage: Storage, row: Asset, *, actor: str | None = None) -> None:
    """The row, then every key under the asset's prefix (original, upload, variants)."""
    await db.delete(row)
    await db.flush()
    if row.state == AssetState.READY.value:
        await emit(db, "asset.deleted", row.id, actor=actor)
    await storage.delete_prefix(asset_prefix(row.tenant_id, row.id))


class StorageNeeded(RuntimeError):
    """Files were to be erased by a caller that gave no storage: nothing was deleted."""


async def erase_stored(db: Db, storage: Storage | None, *where: Any) -> int:
    """Delete from storage the bytes of the assets matching `where` (originals, uploads and
    every variant), before their rows go; how many keys there were. Idempotent."""
    rows: list[Any] = list(await db.scalars(select(Asset).where(*where)))
    if not rows:
        return 0
    if storage is None:
        raise StorageNeeded("erasing files needs the storage they are kept in")
    count = 0
    for row in rows:
        count += await storage.delete_prefix(asset_prefix(row.tenant_id, row.id))
    return count


async def erase_tenant_files(db: Db, storage: Storage) -> int:
    """Every asset of the tenant, rows and bytes (account deletion, retention)."""
    await db.execute(delete(Asset).execution_options(synchronize_session=False))
    return await storage.delete_prefix(tenant_prefix(tenant_of(db)))


async def forget_expired_uploads(
    sessionmaker: async_sessionmaker[AsyncSession], storage: Storage, limit: int = 100
) -> int:
    """Delete the pending uploads past their expiry (rows and bytes), each in its tenant's
    transaction; how many. The worker calls it on every pass."""
    async with sessionmaker() as session:
        found = (
            await session.execute(text("SELECT * FROM app_uploads_expired(:n)"), {"n": limit})
        ).all()
    forgotten = 0
    for tenant_id, asset_id in found:
        async with unit_of_work(Db(sessionmaker)) as db:
            await db.set_tenant(tenant_id)
            row = await db.scalar(
                select(Asset).where(
                    Asset.id == asset_id,
                    Asset.state == AssetState.PENDING.value,
                    Asset.expires_at <= func.now(),
                )
            )
            if row is not None:  # completed or deleted meanwhile otherwise
                await delete_asset(db, storage, row)
                forgotten += 1
    return forgotten
