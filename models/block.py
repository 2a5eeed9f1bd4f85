"""Content blocks: typed, ordered pieces of a space."""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import FetchedValue, ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped, Timestamps


class BlockKind(str, enum.Enum):
    HEADING = "heading"
    RICH_TEXT = "rich_text"
    LINK = "link"
    FILE = "file"
    VIDEO = "video"
    EMBED = "embed"
    CHECKLIST = "checklist"
    IMAGE = "image"
    GALLERY = "gallery"


class Block(TenantScoped, Timestamps, Base):
    __tablename__ = "blocks"
    __table_args__ = (
        # composite: a block can never point into another tenant's space
        ForeignKeyConstraint(
            ["tenant_id", "space_id"], ["spaces.tenant_id", "spaces.id"], ondelete="CASCADE"
        ),
        Index("ix_blocks_space_position", "tenant_id", "space_id", "position"),
        # deferred: a reorder passes through duplicates inside one statement (migration 0007)
        UniqueConstraint(
            "tenant_id",
            "space_id",
            "position",
            name="blocks_space_position_key",
            deferrable=True,
            initially="DEFERRED",
        ),
    )

    space_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    position: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # `body` as the API writes JSON, or NULL; set by a trigger on every write of `body`
    # (migration 0034), read by compiled statements only
    body_compact: Mapped[str | None] = mapped_column(Text, deferred=True)
    # the template block this one was copied from, and whether a member changed the copy
    template_block_id: Mapped[uuid.UUID | None]
    overridden: Mapped[bool] = mapped_column(default=False)
    # whether the body holds a merge field: reads of other blocks skip them; set by the
    # trigger that sets `body_compact` (migrations 0035, 0045)
    has_merge_fields: Mapped[bool] = mapped_column(
        server_default=FetchedValue(), server_onupdate=FetchedValue()
    )
    # the other locales' bodies, locale -> body (store/locales.py); `body` is the default's
    bodies: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
