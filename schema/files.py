"""Assets (files and images) in GraphQL: the type, the library's arguments, the upload
mutations' inputs and payloads (docs/files.md)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import ClassVar

import strawberry
from strawberry.file_uploads import Upload

from core.ids import encode_id
from files.assets import download_url
from models import Asset as AssetModel
from models import AssetKind
from schema.context import Info
from schema.errors import UserError
from schema.node import Node
from schema.scalars import ByteCount

strawberry.enum(AssetKind, name="AssetKind", description="What an asset is, from its bytes.")


@strawberry.type(
    description="A file or image in the tenant's library. Its type is read from its bytes; "
    "its bytes are downloaded from `url`, a short-lived signed link."
)
class Asset(Node):
    node_policy: ClassVar[str | None] = "Asset"
    node_loader: ClassVar[str | None] = "asset_by_id"
    name: str = strawberry.field(description="The file name given at upload.")
    kind: AssetKind
    media_type: str = strawberry.field(description="Sniffed from the bytes, e.g. `image/png`.")
    byte_size: ByteCount
    width: int | None = strawberry.field(description="In pixels, for images; else null.")
    height: int | None = strawberry.field(description="In pixels, for images; else null.")
    created_at: datetime
    row: strawberry.Private[AssetModel]

    @classmethod
    def from_model(cls, row: AssetModel) -> Asset:
        return cls(
            id=strawberry.ID(encode_id("Asset", row.id)),
            name=row.name,
            kind=AssetKind(row.kind),
            media_type=row.media_type,
            byte_size=ByteCount(row.byte_size),
            width=row.width,
            height=row.height,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(
        description="A signed link to the bytes, valid for `MICROSPACE_FILE_LINK_TTL` "
        "seconds (a few minutes): fetch it again rather than storing it. It answers range "
        "requests."
    )
    def url(self, info: Info) -> str:
        ctx = info.context
        # only what a widget shows may sit in shared caches; everyone else's is private
        return download_url(ctx.settings, self.row, public=ctx.principal.kind == "widget")

    @strawberry.field(
        description="The contact this file is about (their export and erasure "
        "include it), when one was named."
    )
    def contact_id(self) -> strawberry.ID | None:
        if self.row.contact_id is None:
            return None
        return strawberry.ID(encode_id("Contact", self.row.contact_id))


@strawberry.enum
class AssetErrorCode(enum.Enum):
    NAME_INVALID = "name_invalid"
    FILE_EMPTY = "file_empty"
    FILE_TOO_LARGE = "file_too_large"
    MEDIA_TYPE_NOT_ALLOWED = "media_type_not_allowed"
    PLAN_LIMIT = "plan_limit"
    CONTACT_NOT_FOUND = "contact_not_found"
    UPLOAD_MISSING = "upload_missing"
    UPLOAD_ALREADY_COMPLETE = "upload_already_complete"
    UPLOAD_EXPIRED = "upload_expired"
    NOT_FOUND = "not_found"


@strawberry.type(description="Why an asset mutation was refused; nothing was kept.")
class AssetUserError(UserError):
    code: AssetErrorCode
    field: list[str] | None
    message: str


@strawberry.input(
    description="A small file sent in this request (the GraphQL multipart "
    "request specification); larger files go by `assetUploadStart`."
)
class AssetUploadInput:
    file: Upload
    name: str | None = strawberry.field(
        default=None, description="The name to keep; the uploaded file's own name if omitted."
    )
    contact_id: strawberry.ID | None = strawberry.field(
        default=None, description="The contact this file is about (a contract for one client)."
    )


@strawberry.input(description="A file to send straight to storage, by the URL returned.")
class AssetUploadStartInput:
    name: str
    contact_id: strawberry.ID | None = None


@strawberry.type
class AssetPayload:
    asset: Asset | None = None
    user_errors: list[AssetUserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssetUploadStartPayload:
    asset: Asset | None = strawberry.field(
        default=None, description="The pending asset: complete it once the bytes are sent."
    )
    upload_url: str | None = strawberry.field(
        default=None,
        description="Send the file's bytes here with one HTTP PUT, then call "
        "`assetUploadComplete`.",
    )
    expires_at: datetime | None = None
    user_errors: list[AssetUserError] = strawberry.field(default_factory=list)


@strawberry.type
class AssetDeletePayload:
    deleted_asset_id: strawberry.ID | None = None
    user_errors: list[AssetUserError] = strawberry.field(default_factory=list)


def asset_id_of(pk: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(encode_id("Asset", pk))
