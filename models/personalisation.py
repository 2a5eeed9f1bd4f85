"""Personalisation jobs: one `spacePersonalise` call, followed by its id (docs/content.md)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped


class JobState(str, enum.Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class PersonalisationJob(TenantScoped, Base):
    """Counts only: which contacts it was for is in the spaces it made, and goes with them."""

    __tablename__ = "personalisation_jobs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "template_id"], ["spaces.tenant_id", "spaces.id"], ondelete="SET NULL"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "requested_by"], ["members.tenant_id", "members.id"], ondelete="SET NULL"
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    template_id: Mapped[uuid.UUID | None]
    requested_by: Mapped[uuid.UUID | None]
    state: Mapped[str] = mapped_column(String(16), default=JobState.RUNNING.value)
    requested: Mapped[int]
    created: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    invited: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
