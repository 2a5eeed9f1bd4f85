"""Webhook subscriptions of partner keys and the deliveries made to them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class WebhookSubscription(TenantScoped, Base):
    """A partner key's request to be told of some event types at one https URL.

    Payloads are read with the key's own scopes, so a subscription can never carry more
    than the key could read through GraphQL.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "api_key_id"],
            ["api_tokens.tenant_id", "api_tokens.id"],
            ondelete="CASCADE",
        ),
    )
    __mapper_args__ = {"eager_defaults": True}

    api_key_id: Mapped[uuid.UUID]
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    description: Mapped[str] = mapped_column(String(500), default="")
    # the Standard Webhooks signing secret (`whsec_...`): needed in clear to sign, shown once
    secret: Mapped[str] = mapped_column(String(100))
    # after a rotation, the previous secret also signs until previous_expires_at
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_expires_at: Mapped[datetime | None]
    secret_rotated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # set by the first failure after a success; cleared by the next success
    failing_since: Mapped[datetime | None]
    # the owners were told of this failure episode (one e-mail per episode, not per event)
    notified_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(300))

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a delivery made at `now` is signed with: the current one first."""
        previous, until = self.previous_secret, self.previous_expires_at
        if previous is not None and until is not None and now < until:
            return [self.secret, previous]
        return [self.secret]


class WebhookDelivery(TenantScoped, Base):
    """One event for one subscription: its `id` is the `webhook-id` every attempt carries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "subscription_id"],
            ["webhook_subscriptions.tenant_id", "webhook_subscriptions.id"],
            ondelete="CASCADE",
        ),
        Index("ix_webhook_deliveries_listing", "tenant_id", "created_at", "id"),
    )
    __mapper_args__ = {"eager_defaults": True}

    subscription_id: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    # at most 1 KiB of the receiver's last answer, for the delivery log; a receiver may echo
    # what it was sent, so it is treated as personal data (retention clears it)
    response_excerpt: Mapped[str | None] = mapped_column(Text, info={"pii": "user"})
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # start of the current retry window (about a day): creation, or a manual retry
    window_started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # the first failed attempt of the current window: if the subscription has not succeeded
    # since (failing_since <= this) when the delivery dies, the endpoint failed all along
    first_failed_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
