"""Sign-in records: when a member's or a contact's session started, from roughly where.

Only the user-agent family and the network (/24 for IPv4, /48 for IPv6) are kept: never the
raw address or the full user-agent string.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped
from models.privacy import SubjectLink


class SignIn(TenantScoped, Base):
    __tablename__ = "sign_ins"
    # a contact's sessions go with the contact; a member's go when the member leaves
    __subject__ = SubjectLink("contact_id", "delete")
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "member_id"], ["members.tenant_id", "members.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "contact_id"], ["contacts.tenant_id", "contacts.id"], ondelete="CASCADE"
        ),
    )

    # the member's own sessions: a key, like recorded_by elsewhere (the member's export and
    # departure find them by it)
    member_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        info={"pii": "user.unique_id.pseudonymous"}
    )
    token_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), info={"pii": "user.behavior"}
    )
    user_agent_family: Mapped[str | None] = mapped_column(String(32), info={"pii": "user.device"})
    network: Mapped[str | None] = mapped_column(String(64), info={"pii": "user.location.imprecise"})
