"""Spaces: a tenant's personalised pages shared with its clients."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped, Timestamps
from models.privacy import SubjectLink


class SpaceStatus(str, enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Space(TenantScoped, Timestamps, Base):
    __tablename__ = "spaces"
    # a space personalised for a contact exists for them alone: their erasure deletes it
    # (its blocks hold merge fields, never their data; a member's overrides might)
    __subject__ = SubjectLink("contact_id", "delete")
    # tenant_id first in every unique key: no constraint error can reveal another tenant's row
    __table_args__ = (UniqueConstraint("tenant_id", "slug"),)

    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=SpaceStatus.DRAFT.value)
    published_at: Mapped[datetime | None]
    # templates and personalised spaces (migration 0035, docs/content.md)
    is_template: Mapped[bool] = mapped_column(default=False)
    template_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        info={"pii": "user.unique_id.pseudonymous"}
    )
    # the member `{{member.fullName}}` names: who created the space (or personalised it)
    member_id: Mapped[uuid.UUID | None]
    follows_template: Mapped[bool] = mapped_column(default=False)
    # a member changed this personalised space's title / description: a republish of the
    # template leaves it alone (migration 0041), as `blocks.overridden` does a block
    title_overridden: Mapped[bool] = mapped_column(default=False)
    description_overridden: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[datetime | None]
    # the revision widgets and visitors read (models/revision.py); NULL: nothing published
    published_revision_id: Mapped[uuid.UUID | None]
