"""Usage events: a contact viewed a space or a block, or downloaded a file block's file. Kept
only while analytics consent holds."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped
from models.privacy import SubjectLink

BROWSING = {"pii": "user.behavior.browsing_history"}


class UsageAction(str, enum.Enum):
    VIEW = "view"
    DOWNLOAD = "download"


class UsageEvent(TenantScoped, Base):
    __tablename__ = "usage_events"
    __subject__ = SubjectLink("contact_id", "delete")
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "space_id"], ["spaces.tenant_id", "spaces.id"], ondelete="CASCADE"
        ),
        # MATCH SIMPLE: a space view (block_id NULL) is not checked against blocks
        ForeignKeyConstraint(
            ["tenant_id", "block_id"], ["blocks.tenant_id", "blocks.id"], ondelete="CASCADE"
        ),
        CheckConstraint("action IN ('view', 'download')", name="usage_events_action_check"),
        Index("ix_usage_events_space", "tenant_id", "space_id", "occurred_at"),
        Index("ix_usage_events_contact", "tenant_id", "contact_id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    contact_id: Mapped[uuid.UUID] = mapped_column(info={"pii": "user.unique_id.pseudonymous"})
    space_id: Mapped[uuid.UUID] = mapped_column(info=BROWSING)
    block_id: Mapped[uuid.UUID | None] = mapped_column(info=BROWSING)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now(), info=BROWSING)
    action: Mapped[str] = mapped_column(
        String(16), default=UsageAction.VIEW.value, server_default="view", info=BROWSING
    )
