"""Assets: files and images in a tenant's library. The bytes live in storage
(files/storage.py); the row holds what the API says about them and where they are."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKeyConstraint, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped, Timestamps
from models.privacy import SubjectLink


class AssetKind(str, enum.Enum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    OTHER = "other"


class AssetState(str, enum.Enum):
    # an upload URL was handed out; the `complete` mutation has not checked the bytes yet
    PENDING = "pending"
    READY = "ready"


DOCUMENTS = ("application/pdf", "application/vnd.", "application/msword", "text/")


def kind_of(media_type: str) -> AssetKind:
    """The library's coarse kind of a (sniffed) media type."""
    top = media_type.split("/", 1)[0]
    if top in ("image", "video", "audio"):
        return AssetKind(top)
    if media_type.startswith(DOCUMENTS):
        return AssetKind.DOCUMENT
    return AssetKind.OTHER


class Asset(TenantScoped, Timestamps, Base):
    """One file. `storage_key` is the original's key, tenant-prefixed
    (`files.storage.asset_key`); a variant's key is derived from it (`files.storage.variant_key`)
    and recorded in `variants` by name: {"w400.webp": {"key", "media_type", "byte_size",
    "width", "height"}}. Deleting the asset deletes every key under its prefix."""

    __tablename__ = "assets"
    # rows with bytes in storage: erasure deletes those first (files.assets.erase_stored)
    __stored__ = True
    # an asset about one contact is theirs: exported with them, erased with them (bytes too)
    __subject__ = SubjectLink("contact_id", "delete")
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"],
            ["contacts.tenant_id", "contacts.id"],
            ondelete="SET NULL (contact_id)",
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    state: Mapped[str] = mapped_column(String(16), default=AssetState.READY.value)
    kind: Mapped[str] = mapped_column(String(16))
    # the file name the uploader gave (shown in the library, sent as the download's name)
    name: Mapped[str] = mapped_column(String(255))
    # sniffed from the bytes, never the client's word
    media_type: Mapped[str] = mapped_column(String(127))
    byte_size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    sha256: Mapped[bytes | None]
    storage_key: Mapped[str] = mapped_column(Text)
    variants: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # what inspection found (a document's author, an image's placeholder, ...)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        info={"pii": "user.unique_id.pseudonymous"}
    )
    created_by: Mapped[uuid.UUID | None]
    # a pending upload is forgotten (row and bytes) after this
    expires_at: Mapped[datetime | None]
