"""Persisted (trusted) GraphQL documents of a tenant, by SHA-256 of their text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped


class PersistedDocument(TenantScoped, Base):
    __tablename__ = "persisted_documents"
    __table_args__ = (UniqueConstraint("tenant_id", "sha256"),)
    __mapper_args__ = {"eager_defaults": True}

    sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)
    # registered by an owner or admin: widgets and visitors may run it
    trusted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # last run by hash, written at most once a minute (store/persisted.py): the automatic
    # ones least recently used are evicted past a tenant's cap
    last_used_at: Mapped[datetime] = mapped_column(server_default=func.now())
