"""Spaces: a tenant's personalised pages shared with its clients."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped, Timestamps


class SpaceStatus(str, enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Space(TenantScoped, Timestamps, Base):
    __tablename__ = "spaces"
    # tenant_id first in every unique key: no constraint error can reveal another tenant's row
    __table_args__ = (UniqueConstraint("tenant_id", "slug"),)

    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=SpaceStatus.DRAFT.value)
    published_at: Mapped[datetime | None]
