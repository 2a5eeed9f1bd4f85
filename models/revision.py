"""Published revisions: immutable copies of a space and its blocks (docs/content.md).

The draft is `spaces` / `blocks`; `spaces.published_revision_id` names the revision widgets
and visitors read (through the `published` views, migrations/published.py). Authors are
named by kind and id only, never by a copy of their name.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Computed, ForeignKeyConstraint, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped

# the content a revision copies: compared column by column to tell PUBLISHED from CHANGED
# (store/revisions.py); a helper adding content columns adds them here and to the tables
SPACE_CONTENT = ("title", "slug", "description")
BLOCK_CONTENT = ("kind", "position", "body", "bodies")


class SpaceRevision(TenantScoped, Base):
    __tablename__ = "space_revisions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "space_id", "number"),
        UniqueConstraint("tenant_id", "space_id", "id"),
        ForeignKeyConstraint(
            ["tenant_id", "space_id"], ["spaces.tenant_id", "spaces.id"], ondelete="CASCADE"
        ),
    )

    space_id: Mapped[uuid.UUID]
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(String(500), default="")
    # member | partner | system (a migration, a schedule): who published or restored
    author_kind: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BlockRevision(TenantScoped, Base):
    """A block as it was in one revision; `id` is the block's own id (column `block_id`)."""

    __tablename__ = "block_revisions"
    __table_args__ = (
        Index("ix_block_revisions_order", "tenant_id", "revision_id", "position", "block_id"),
        ForeignKeyConstraint(
            ["tenant_id", "space_id", "revision_id"],
            ["space_revisions.tenant_id", "space_revisions.space_id", "space_revisions.id"],
            ondelete="CASCADE",
        ),
    )

    revision_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column("block_id", primary_key=True)
    space_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    position: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body_compact: Mapped[str | None] = mapped_column(Text, deferred=True)
    # the other locales' bodies (migration 0039): the revision holds every locale
    bodies: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # a personalised space's link to its template's block (as models/block.py)
    template_block_id: Mapped[uuid.UUID | None]
    overridden: Mapped[bool] = mapped_column(default=False)
    has_merge_fields: Mapped[bool] = mapped_column(
        Computed("strpos(body::text, '{{') > 0", persisted=True)
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
