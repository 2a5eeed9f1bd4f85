"""Domain events: the transactional outbox every mutation writes, and the event catalogue.

An event holds ids and field names, never values: the values a subscriber receives are read
at delivery time, under the subscribing key's policy (microspace/jobs/webhooks.py), so an erased
or withdrawn value is never replayed from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped

# event type -> (GraphQL type of the object it is about, what happened)
EVENT_TYPES: dict[str, tuple[str, str]] = {
    "space.created": ("Space", "A space was created."),
    "space.updated": ("Space", "A space's title, slug or description changed."),
    "space.published": ("Space", "A space's draft was published as a new revision."),
    "space.unpublished": ("Space", "A space's published revision was withdrawn (kept in history)."),
    "space.restored": ("Space", "A revision of a space was copied into its draft."),
    "space.archived": ("Space", "A space was archived."),
    "space.unarchived": ("Space", "An archived space was brought back as a draft."),
    "space.deleted": ("Space", "A space was deleted with its blocks."),
    "block.created": ("Block", "A block was added to a space."),
    "block.updated": ("Block", "A block's body changed."),
    "block.moved": ("Block", "A block moved within its space."),
    "block.deleted": ("Block", "A block was removed."),
    "contact.created": ("Contact", "A contact was created (also once per imported row)."),
    "contact.updated": ("Contact", "A contact's fields changed (also by a correction request)."),
    "contact.deleted": ("Contact", "A contact was deleted."),
    "contact.erased": ("Contact", "A contact was erased at their request: delete your copy."),
    "consent.granted": ("ConsentEvent", "A contact granted consent for a purpose."),
    "consent.withdrawn": ("ConsentEvent", "A contact withdrew consent: stop that processing."),
    "access.granted": ("SpaceAccess", "A contact was invited to a space."),
    "access.revoked": ("SpaceAccess", "A contact's access to a space was revoked."),
    "access.accepted": ("SpaceAccess", "A contact opened their invitation link and accepted it."),
    "subject_request.created": ("SubjectRequest", "A data-subject request was filed."),
    "subject_request.updated": ("SubjectRequest", "A subject request was verified or extended."),
    "subject_request.completed": ("SubjectRequest", "A subject request was carried out."),
    "subject_request.rejected": ("SubjectRequest", "A subject request was rejected."),
    "subject_link.created": ("Contact", "A magic link was made for a contact's own requests."),
    "email.queued": (
        "Space",
        "A \u201cspace updated\u201d e-mail was queued to the space's contacts.",
    ),
    "marketing_email.queued": ("Contact", "A marketing e-mail was queued to a contact."),
    "usage.recorded": ("Space", "A contact viewed a space or block."),
    "policy.updated": ("PolicyRule", "A tenant policy override was set or removed."),
    "api_key.created": ("ApiKey", "An API key was issued."),
    "api_key.rotated": ("ApiKey", "An API key's secret was rotated."),
    "api_key.revoked": ("ApiKey", "An API key was revoked."),
    "webhook_subscription.created": ("WebhookSubscription", "A webhook subscription was made."),
    "webhook_subscription.deleted": ("WebhookSubscription", "A webhook subscription was removed."),
    "webhook_subscription.secret_rotated": (
        "WebhookSubscription",
        "A subscription's signing secret was rotated.",
    ),
    "member.updated": ("Member", "A member corrected their own profile."),
    "member.left": ("Member", "A member left the tenant; their profile was erased."),
    "tenant_profile.updated": ("Tenant", "The tenant's billing profile changed."),
    "brand.updated": ("Tenant", "The brand the tenant's widgets show changed."),
    "content_locales.updated": ("Tenant", "The tenant's content locales or default changed."),
    "account.deletion_requested": (
        "Tenant",
        "An owner asked to delete the account; a confirmation code went to every owner.",
    ),
    "asset.created": ("Asset", "A file or image was added to the library."),
    "asset.deleted": ("Asset", "A file or image was deleted, with its variants."),
    "webhook_subscription.disabled": (
        "WebhookSubscription",
        "A subscription was disabled after a day of failed deliveries.",
    ),
}


class DomainEvent(TenantScoped, Base):
    """One change, written in the transaction of the change: ids and field names, no values.

    `delivered_at` is set once the event is handed to every matching webhook subscription
    (one webhook_deliveries row each); the deliveries carry their own state.
    """

    __tablename__ = "domain_events"

    topic: Mapped[str] = mapped_column(String(64))
    # {"type": GraphQL type, "id": global ID, "fields": [changed field names], "actor": kind}
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    delivered_at: Mapped[datetime | None]
