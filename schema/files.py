"""Assets (files and images) in GraphQL: the type, the library's arguments, the upload
mutations' inputs and payloads (docs/files.md)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, ClassVar

import strawberry
from strawberry.file_uploads import Upload

from core.ids import encode_id
from files.assets import download_url
from models import Asset as AssetModel
from models import AssetKind
from schema import images
from schema.context import Info
from schema.errors import UserError
from schema.images import ImageFit, ImageFormat
from schema.node import Node
from schema.permissions import Can
from schema.scalars import ByteCount

strawberry.enum(AssetKind, name="AssetKind", description="What an asset is, from its bytes.")


# principals narrowed to an audience (store/audience.py)
NARROWED = ("widget", "visitor", "preview")


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
    def url(
        self,
        info: Info,
        width: Annotated[
            int | None,
            strawberry.argument(
                description="For an image: a variant this wide (64, 128, 256, 512, 768, 1024, "
                "1536 or 2048; never wider than the image), made on first request and kept."
            ),
        ] = None,
        height: Annotated[
            int | None,
            strawberry.argument(description="The variant's box height (one of the widths)."),
        ] = None,
        fit: ImageFit | None = None,
        format: Annotated[
            ImageFormat | None,
            strawberry.argument(description="The variant's format; WEBP when omitted."),
        ] = None,
        quality: Annotated[
            int | None,
            strawberry.argument(
                description="40, 60, 75, 85 or 95; the format's own default when omitted."
            ),
        ] = None,
    ) -> str:
        ctx = info.context
        # only what a widget shows may sit in shared caches; everyone else's is private
        public = ctx.principal.kind == "widget"
        if width is None and height is None and fit is None and format is None and quality is None:
            return download_url(ctx.settings, self.row, public=public)
        return images.variant_url(
            ctx.settings,
            self.row,
            public=public,
            width=width,
            height=height,
            fit=fit,
            format=format,
            quality=quality,
        )

    @strawberry.field(
        description="For an image: its variants' URLs with their widths, for an <img> "
        "srcset, up to the image's own width; null for other files."
    )
    def srcset(self, info: Info, format: ImageFormat = ImageFormat.WEBP) -> str | None:
        ctx = info.context
        public = ctx.principal.kind == "widget"
        return images.srcset(ctx.settings, self.row, public=public, format=format)

    @strawberry.field(
        description="For an image: a tiny blurred preview to show while it loads, a "
        "`data:image/webp;base64,...` URI of a few hundred bytes; null for other files."
    )
    def placeholder(self) -> str | None:
        return images.placeholder(self.row)

    @strawberry.field(
        description="For a document: who made it, as its metadata says (images' metadata "
        "is removed at upload instead). Editors only.",
        extensions=[Can("Asset", "update")],
    )
    def document_metadata(self) -> images.DocumentMetadata | None:
        return images.document_metadata(self.row)

    @strawberry.field(
        description="The contact this file is about (their export and erasure "
        "include it), when one was named.",
        extensions=[Can("Contact", "read")],
    )
    def contact_id(self, info: Info) -> strawberry.ID | None:
        # who a file is about is the contact's data: for those who may read contacts, and
        # never for a widget or a visitor (a file shared with one visitor may be another's)
        if self.row.contact_id is None or info.context.principal.kind in NARROWED:
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
    IMAGE_UNREADABLE = "image_unreadable"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TYPE_UNSUPPORTED = "image_type_unsupported"


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
