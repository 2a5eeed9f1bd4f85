"""Assets: the library (get, list), uploads (inline, or by URL and complete), delete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import func, select

from core.errors import ApiError
from core.ids import decode_id
from files import assets
from files.assets import Refused
from files.storage import CHUNK, Storage
from models import Asset as AssetModel
from models import AssetKind, AssetState
from resolvers.plans import limit_message
from schema.connection import Connection, list_connection
from schema.context import Info
from schema.files import (
    Asset,
    AssetDeletePayload,
    AssetErrorCode,
    AssetPayload,
    AssetUploadInput,
    AssetUploadStartInput,
    AssetUploadStartPayload,
    AssetUserError,
    asset_id_of,
)
from store.loaders import load_by_global_id
from store.pagination import Order, parse_datetime

ASSET_ORDER = Order(
    columns=(AssetModel.created_at, AssetModel.id),
    parsers=(parse_datetime, uuid.UUID),
    descending=True,
    tag="created_at.desc",
)
SEARCH_MAX = 200


def storage_of(info: Info) -> Storage:
    storage = info.context.storage
    if storage is None:
        raise RuntimeError("no storage in this context")
    return storage


def user_error(refused: Refused) -> AssetUserError:
    return AssetUserError(
        code=AssetErrorCode[refused.code], field=refused.field, message=refused.message
    )


async def load_asset(info: Info, global_id: str) -> AssetModel:
    """A ready asset of the caller's tenant (and audience); NOT_FOUND otherwise, whatever
    the reason: another tenant's, a pending upload, a deleted one, a random ID."""
    row: AssetModel = await load_by_global_id(info.context.loaders.asset_by_id, global_id, "Asset")
    return row


async def get_asset(info: Info, id: strawberry.ID) -> Asset:
    """One asset of the library."""
    return Asset.from_model(await load_asset(info, id))


async def list_assets(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    search: Annotated[
        str | None,
        strawberry.argument(description="Only assets whose name contains this (any case)."),
    ] = None,
    kind: AssetKind | None = None,
    media_type: Annotated[
        str | None,
        strawberry.argument(description="Only this media type, or a family: `image/`."),
    ] = None,
) -> Connection[Asset]:
    """The tenant's asset library, newest first."""
    where: list[Any] = [AssetModel.state == AssetState.READY.value]
    if search:
        pattern = "%" + _escape_like(search[:SEARCH_MAX].lower()) + "%"
        where.append(func.lower(AssetModel.name).like(pattern, escape="\\"))
    if kind is not None:
        where.append(AssetModel.kind == kind.value)
    if media_type:
        if media_type.endswith("/"):
            where.append(AssetModel.media_type.startswith(media_type, autoescape=True))
        else:
            where.append(AssetModel.media_type == media_type)
    return await list_connection(
        info,
        AssetModel,
        where,
        first,
        after,
        last=last,
        before=before,
        order=ASSET_ORDER,
        convert=Asset.from_model,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contact(global_id: str | None) -> uuid.UUID | None:
    if global_id is None:
        return None
    try:
        return decode_id(global_id, "Contact")
    except ApiError:
        raise Refused("CONTACT_NOT_FOUND", "No contact with this ID.", ["contactId"]) from None


async def _chunks(upload: Any) -> AsyncIterator[bytes]:
    """The bytes of an uploaded part (microspace/web's multipart parsing), in chunks."""
    while chunk := await upload.read(CHUNK):
        yield chunk


async def upload_asset(info: Info, input: AssetUploadInput) -> AssetPayload:
    """Store a small file sent inline (GraphQL multipart request)."""
    ctx = info.context
    try:
        row = await assets.ingest(
            ctx.db,
            storage_of(info),
            name=input.name if input.name is not None else _upload_name(input.file),
            data=_chunks(input.file),
            contact_id=_contact(input.contact_id),
            created_by=ctx.principal.member_id,
            rules=await assets.rules_of(ctx.db, ctx.settings),
            plan_message=lambda over: limit_message(info, over),
            actor=ctx.principal.kind,
        )
    except Refused as refused:
        return AssetPayload(user_errors=[user_error(refused)])
    return AssetPayload(asset=Asset.from_model(row))


def _upload_name(upload: Any) -> str:
    return str(getattr(upload, "filename", None) or "file")


async def start_asset_upload(info: Info, input: AssetUploadStartInput) -> AssetUploadStartPayload:
    """A pending asset and a short-lived URL to PUT its bytes to (any size up to the
    tenant's largest file)."""
    ctx = info.context
    try:
        ticket = await assets.start_upload(
            ctx.db,
            storage_of(info),
            ctx.settings,
            name=input.name,
            contact_id=_contact(input.contact_id),
            created_by=ctx.principal.member_id,
            rules=await assets.rules_of(ctx.db, ctx.settings),
        )
    except Refused as refused:
        return AssetUploadStartPayload(user_errors=[user_error(refused)])
    return AssetUploadStartPayload(
        asset=Asset.from_model(ticket.asset), upload_url=ticket.url, expires_at=ticket.expires_at
    )


async def complete_asset_upload(info: Info, id: strawberry.ID) -> AssetPayload:
    """Check the bytes sent to the upload URL (type from the bytes, size, plan) and add
    the asset to the library; a refusal forgets the upload."""
    ctx = info.context
    pk = decode_id(id, "Asset")
    row = await ctx.db.scalar(select(AssetModel).where(AssetModel.id == pk))
    if row is None:
        return AssetPayload(user_errors=[_not_found()])
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        await assets.delete_asset(ctx.db, storage_of(info), row)
        return AssetPayload(
            user_errors=[
                AssetUserError(
                    code=AssetErrorCode.UPLOAD_EXPIRED,
                    field=["id"],
                    message="This upload's URL expired before it was completed; start again.",
                )
            ]
        )
    try:
        row = await assets.complete_upload(
            ctx.db,
            storage_of(info),
            row,
            rules=await assets.rules_of(ctx.db, ctx.settings),
            plan_message=lambda over: limit_message(info, over),
            actor=ctx.principal.kind,
        )
    except Refused as refused:
        return AssetPayload(user_errors=[user_error(refused)])
    ctx.loaders.forget(row.id, "asset_by_id")
    return AssetPayload(asset=Asset.from_model(row))


def _not_found() -> AssetUserError:
    return AssetUserError(
        code=AssetErrorCode.NOT_FOUND, field=["id"], message="No asset with this ID."
    )


async def delete_asset(info: Info, id: strawberry.ID) -> AssetDeletePayload:
    """Delete an asset: its row, its original and every variant in storage."""
    ctx = info.context
    pk = decode_id(id, "Asset")
    row = await ctx.db.scalar(select(AssetModel).where(AssetModel.id == pk))
    if row is None:
        return AssetDeletePayload(user_errors=[_not_found()])
    await assets.delete_asset(ctx.db, storage_of(info), row, actor=ctx.principal.kind)
    ctx.loaders.forget(pk, "asset_by_id")
    return AssetDeletePayload(deleted_asset_id=asset_id_of(pk))
