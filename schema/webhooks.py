"""Webhook types, inputs and payloads."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, ClassVar

import strawberry
from strawberry.scalars import JSON

from core.ids import encode_id
from models import DeliveryStatus
from models import WebhookDelivery as DeliveryModel
from models import WebhookSubscription as SubscriptionModel
from schema.errors import UserError
from schema.node import Node

strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus")


@strawberry.enum
class WebhookSubscriptionStatus(enum.Enum):
    ACTIVE = "active"
    DISABLED = "disabled"


@strawberry.type(description="A partner key's subscription to some event types at one URL.")
class WebhookSubscription(Node):
    node_policy: ClassVar[str | None] = "WebhookSubscription"
    node_loader: ClassVar[str | None] = "webhook_subscription_by_id"
    url: str
    event_types: list[str]
    description: str
    api_key_id: strawberry.ID = strawberry.field(
        description="Payloads are read with this key's scopes."
    )
    created_at: datetime
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    secret_rotated_at: datetime | None = strawberry.field(
        description="When the signing secret was last rotated."
    )
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="Until then deliveries are also signed with the previous secret."
    )
    pk: strawberry.Private[uuid.UUID]

    @classmethod
    def visible_to(cls, principal: Any, row: Any) -> bool:
        """A partner key sees its own subscriptions only."""
        return bool(principal.kind != "partner" or row.api_key_id == principal.token_id)

    @classmethod
    def from_model(cls, row: SubscriptionModel) -> WebhookSubscription:
        return cls(
            id=strawberry.ID(encode_id("WebhookSubscription", row.id)),
            pk=row.id,
            url=row.url,
            event_types=list(row.event_types),
            description=row.description,
            api_key_id=strawberry.ID(encode_id("ApiKey", row.api_key_id)),
            created_at=row.created_at,
            failing_since=row.failing_since,
            disabled_at=row.disabled_at,
            disabled_reason=row.disabled_reason,
            secret_rotated_at=row.secret_rotated_at,
            previous_secret_expires_at=row.previous_expires_at,
        )

    @strawberry.field
    def status(self) -> WebhookSubscriptionStatus:
        if self.disabled_at is not None:
            return WebhookSubscriptionStatus.DISABLED
        return WebhookSubscriptionStatus.ACTIVE


@strawberry.type(description="One event for one subscription; its ID is the `webhook-id` header.")
class WebhookDelivery(Node):
    node_policy: ClassVar[str | None] = "WebhookSubscription"
    node_loader: ClassVar[str | None] = "webhook_delivery_by_id"
    webhook_id: str = strawberry.field(description="The `webhook-id` every attempt carries.")
    subscription_id: strawberry.ID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    response_excerpt: str | None = strawberry.field(
        description="At most 1 KiB of the receiver's last answer."
    )
    created_at: datetime
    delivered_at: datetime | None
    pk: strawberry.Private[uuid.UUID]

    @classmethod
    def visible_to(cls, principal: Any, row: Any) -> bool:
        """A partner key reads its deliveries through `webhookDeliveries` (which checks the
        subscription is its own); node(id) answers members only."""
        return bool(principal.kind != "partner")

    @classmethod
    def from_model(cls, row: DeliveryModel) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(encode_id("WebhookDelivery", row.id)),
            pk=row.id,
            webhook_id=webhook_id(row.id),
            subscription_id=strawberry.ID(encode_id("WebhookSubscription", row.subscription_id)),
            event_type=row.event_type,
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            response_excerpt=row.response_excerpt,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )


def webhook_id(delivery_id: uuid.UUID) -> str:
    return f"msg_{delivery_id.hex}"


@strawberry.type(description="An event type a subscription may name, with a sample payload.")
class WebhookEventType:
    name: str
    object_type: str = strawberry.field(description="The GraphQL type the event is about.")
    description: str
    sample_payload: JSON = strawberry.field(
        description="What a delivery's body looks like (values are examples)."
    )


@strawberry.enum
class WebhookErrorCode(enum.Enum):
    REQUIRED = "required"
    TOO_LONG = "too_long"
    INVALID_URL = "invalid_url"
    HTTPS_REQUIRED = "https_required"
    PRIVATE_ADDRESS = "private_address"
    UNRESOLVABLE = "unresolvable"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    EVENT_TYPE_NOT_READABLE = "event_type_not_readable"
    NOT_A_PARTNER_KEY = "not_a_partner_key"
    NOT_RETRYABLE = "not_retryable"
    INVALID_OVERLAP = "invalid_overlap"


@strawberry.type(description="Why a webhook mutation was refused; nothing was changed.")
class WebhookUserError(UserError):
    code: WebhookErrorCode
    field: list[str] | None
    message: str


@strawberry.input
class WebhookSubscriptionCreateInput:
    url: str = strawberry.field(description="https only; private addresses are refused.")
    event_types: list[str]
    description: str = ""
    api_key_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Members: the partner key whose scopes read the payloads. A partner key "
        "subscribes for itself and leaves this out.",
    )


@strawberry.input
class WebhookSubscriptionRotateSecretInput:
    id: strawberry.ID
    overlap_seconds: int = strawberry.field(
        default=86400,
        description="How long deliveries are also signed with the previous secret "
        "(0 to 604800 s; default a day).",
    )


@strawberry.type
class WebhookSubscriptionPayload:
    subscription: WebhookSubscription | None = None
    signing_secret: str | None = strawberry.field(
        default=None,
        description="The Standard Webhooks secret (`whsec_...`), shown once: verify "
        "signatures with it.",
    )
    user_errors: list[WebhookUserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookSubscriptionDeletePayload:
    deleted_subscription_id: strawberry.ID | None = None
    user_errors: list[WebhookUserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[WebhookUserError] = strawberry.field(default_factory=list)
