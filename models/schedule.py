"""Scheduled publishing: a space's pending publish or unpublish, and its outcome once the
worker carried it out (microspace/jobs/schedules.py)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped


class ScheduleAction(str, enum.Enum):
    PUBLISH = "publish"
    UNPUBLISH = "unpublish"


class SpaceSchedule(TenantScoped, Base):
    """One pending action at most per space and action (a partial unique index); the row
    stays once done, with its outcome."""

    __tablename__ = "space_schedules"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "space_id"], ["spaces.tenant_id", "spaces.id"], ondelete="CASCADE"
        ),
    )

    space_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(16))
    run_at: Mapped[datetime]
    created_by_kind: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    done_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
