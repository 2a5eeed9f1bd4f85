"""A tenant's plan: the limits it bought, set by the operator (`microspace plan-set`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped

# the limited resources, in the order the API and the CLI list them
RESOURCES = ("spaces", "contacts", "emails_per_month", "api_keys")


class TenantPlan(TenantScoped, Base):
    """No row, or a null limit, means unlimited."""

    __tablename__ = "tenant_plans"

    name: Mapped[str] = mapped_column(String(64))
    max_spaces: Mapped[int | None]
    max_contacts: Mapped[int | None]
    max_emails_per_month: Mapped[int | None]
    max_api_keys: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    def limit(self, resource: str) -> int | None:
        value: int | None = getattr(self, f"max_{resource}")
        return value
