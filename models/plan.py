"""A tenant's plan: the limits it bought, set by the operator (`microspace plan-set`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped

# the limited resources, in the order the API and the CLI list them
RESOURCES = ("spaces", "contacts", "emails_per_month", "api_keys", "storage_bytes")


class TenantPlan(TenantScoped, Base):
    """No row, or a null limit, means unlimited."""

    __tablename__ = "tenant_plans"

    name: Mapped[str] = mapped_column(String(64))
    max_spaces: Mapped[int | None]
    max_contacts: Mapped[int | None]
    max_emails_per_month: Mapped[int | None]
    max_api_keys: Mapped[int | None]
    max_storage_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # per file, and the media types the tenant may upload (null: the defaults, docs/files.md)
    max_file_bytes: Mapped[int | None] = mapped_column(BigInteger)
    allowed_media_types: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    def limit(self, resource: str) -> int | None:
        value: int | None = getattr(self, f"max_{resource}")
        return value
