"""Personalisation jobs: one `spacePersonalise` call, queued for the worker and followed by
its id (docs/content.md)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped
from models.privacy import SubjectLink


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class PersonalisationJob(TenantScoped, Base):
    """Counts, and who asked: which contacts a queued job is for is in
    `personalisation_job_contacts` until it is carried out, then in the spaces it made."""

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
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    requested: Mapped[int]
    created: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    invited: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
    # what the worker needs to carry it out (migration 0044)
    follow_template: Mapped[bool] = mapped_column(default=True)
    invite: Mapped[bool] = mapped_column(default=True)
    # who queued it, named by the audit entries of its publishes (a member or a key)
    requested_by_kind: Mapped[str | None] = mapped_column(String(16))
    requested_by_principal: Mapped[uuid.UUID | None]
    # why it failed: TemplateErrorCode's value (not_a_template, plan_limit)
    failure: Mapped[str | None] = mapped_column(String(32))


class PersonalisationJobContact(TenantScoped, Base):
    """A contact a queued job is for; deleted when the job is carried out, and with the
    contact's erasure (before the job runs, so it makes nothing for them)."""

    __tablename__ = "personalisation_job_contacts"
    __subject__ = SubjectLink("contact_id", "delete")
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "job_id"],
            ["personalisation_jobs.tenant_id", "personalisation_jobs.id"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "job_id", "contact_id"),
        Index("ix_personalisation_job_contacts_contact", "tenant_id", "contact_id"),
    )

    job_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID] = mapped_column(info={"pii": "user.unique_id.pseudonymous"})
