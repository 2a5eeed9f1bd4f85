"""Space access: which contacts a space is shared with, and where each invitation stands."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped, Timestamps
from models.privacy import SubjectLink


class AccessState(str, enum.Enum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


ACTIVE_STATES = (AccessState.INVITED.value, AccessState.ACCEPTED.value)


class SpaceAccess(TenantScoped, Timestamps, Base):
    __tablename__ = "space_access"
    __subject__ = SubjectLink("contact_id", "delete")
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "space_id"], ["spaces.tenant_id", "spaces.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        UniqueConstraint("tenant_id", "space_id", "contact_id"),
        Index("ix_space_access_contact", "tenant_id", "contact_id", "created_at", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    space_id: Mapped[uuid.UUID]
    contact_id: Mapped[uuid.UUID] = mapped_column(info={"pii": "user.unique_id.pseudonymous"})
    state: Mapped[str] = mapped_column(String(16), default=AccessState.INVITED.value)
    invited_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # when the person accepted: their own behaviour
    accepted_at: Mapped[datetime | None] = mapped_column(info={"pii": "user.behavior"})
    revoked_at: Mapped[datetime | None]
