"""Webhook subscriptions and deliveries: get, list, create, delete, retry; the event types.

A partner key (scope `webhooks:manage`) manages its own subscriptions only; owners and
admins manage every key's. Delivery itself is the worker's (microspace/jobs/webhooks.py).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import strawberry
from sqlalchemy import ColumnElement, select
from strawberry.scalars import JSON

from core.auth import Principal
from core.egress import EgressRefused, check_url, resolve_public
from core.errors import NotFound
from core.ids import encode_id
from models import EVENT_TYPES, ApiToken, DeliveryStatus
from models import WebhookDelivery as DeliveryModel
from models import WebhookSubscription as SubscriptionModel
from policies.authz import Authorizer
from resolvers.api_keys import load_key
from resolvers.webhook_payloads import READ_GATES, sample_payload
from schema.connection import Connection, list_connection
from schema.context import Info
from schema.webhooks import (
    WebhookDelivery,
    WebhookDeliveryPayload,
    WebhookErrorCode,
    WebhookEventType,
    WebhookSubscription,
    WebhookSubscriptionCreateInput,
    WebhookSubscriptionDeletePayload,
    WebhookSubscriptionPayload,
    WebhookSubscriptionRotateSecretInput,
    WebhookUserError,
)
from store.loaders import load_by_global_id
from store.webhooks import WEBHOOK_DELIVERY_ORDER, WEBHOOK_SUBSCRIPTION_ORDER

MAX_DESCRIPTION = 500
MAX_EVENT_TYPES = 100
MAX_OVERLAP = 7 * 24 * 3600


def _error(code: WebhookErrorCode, field: str, message: str) -> WebhookSubscriptionPayload:
    return WebhookSubscriptionPayload(
        user_errors=[WebhookUserError(code=code, field=[field], message=message)]
    )


def _own(info: Info) -> list[ColumnElement[bool]]:
    """A partner key sees its own subscriptions only; members see all of the tenant's."""
    principal = info.context.principal
    if principal.kind == "partner":
        return [SubscriptionModel.api_key_id == principal.token_id]
    return []


async def load_subscription(info: Info, global_id: str) -> SubscriptionModel:
    loader = info.context.loaders.webhook_subscription_by_id
    row: SubscriptionModel = await load_by_global_id(loader, global_id, "WebhookSubscription")
    principal = info.context.principal
    if principal.kind == "partner" and row.api_key_id != principal.token_id:
        raise NotFound()
    return row


async def get_webhook_subscription(info: Info, id: strawberry.ID) -> WebhookSubscription:
    """One subscription."""
    return WebhookSubscription.from_model(await load_subscription(info, id))


async def list_webhook_subscriptions(
    info: Info, first: int | None = None, after: str | None = None
) -> Connection[WebhookSubscription]:
    """Subscriptions, newest first."""
    return await list_connection(
        info,
        SubscriptionModel,
        _own(info),
        first,
        after,
        order=WEBHOOK_SUBSCRIPTION_ORDER,
        convert=WebhookSubscription.from_model,
    )


def list_webhook_event_types() -> list[WebhookEventType]:
    """Every event type, with what it is about and a sample payload."""
    return [
        WebhookEventType(
            name=name,
            object_type=type_name,
            description=text,
            sample_payload=cast(JSON, sample_payload(name)),
        )
        for name, (type_name, text) in EVENT_TYPES.items()
    ]


async def _subscribing_key(
    info: Info, input: WebhookSubscriptionCreateInput
) -> ApiToken | WebhookSubscriptionPayload:
    principal = info.context.principal
    if principal.kind == "partner":
        own = encode_id("ApiKey", principal.token_id) if principal.token_id else None
        if input.api_key_id is not None and input.api_key_id != own:
            return _error(
                WebhookErrorCode.NOT_A_PARTNER_KEY,
                "apiKeyId",
                "A partner key subscribes for itself: leave apiKeyId out.",
            )
        return await load_key(info, own or "")
    if input.api_key_id is None:
        return _error(WebhookErrorCode.REQUIRED, "apiKeyId", "Name the partner key to deliver as.")
    key = await load_key(info, input.api_key_id)
    if key.kind != "partner" or key.revoked_at is not None:
        return _error(WebhookErrorCode.NOT_A_PARTNER_KEY, "apiKeyId", "Give an active partner key.")
    return key


def _event_type_errors(types: list[str], authz: Authorizer) -> WebhookSubscriptionPayload | None:
    if not types:
        return _error(WebhookErrorCode.REQUIRED, "eventTypes", "Name at least one event type.")
    if len(types) > MAX_EVENT_TYPES:
        return _error(WebhookErrorCode.TOO_LONG, "eventTypes", "Too many event types.")
    for name in types:
        if name not in EVENT_TYPES:
            return _error(
                WebhookErrorCode.UNKNOWN_EVENT_TYPE,
                "eventTypes",
                f"Unknown event type {name!r}; `webhookEventTypes` lists them.",
            )
        type_name = EVENT_TYPES[name][0]
        if not authz.can(READ_GATES.get(type_name, type_name), "read"):
            return _error(
                WebhookErrorCode.EVENT_TYPE_NOT_READABLE,
                "eventTypes",
                f"The key's scopes cannot read {type_name}, so it cannot subscribe to {name}.",
            )
    return None


async def _url_error(info: Info, url: str) -> WebhookSubscriptionPayload | None:
    development = info.context.settings.dev_mode
    try:
        target = check_url(url.strip(), development=development)
        if not development:
            await resolve_public(target)
    except EgressRefused as refused:
        return _error(WebhookErrorCode[refused.code], "url", str(refused))
    return None


async def create_webhook_subscription(
    info: Info, input: WebhookSubscriptionCreateInput
) -> WebhookSubscriptionPayload:
    """Subscribe a partner key to event types at an https URL; returns the signing secret once."""
    key = await _subscribing_key(info, input)
    if isinstance(key, WebhookSubscriptionPayload):
        return key
    if len(input.description) > MAX_DESCRIPTION:
        return _error(
            WebhookErrorCode.TOO_LONG, "description", f"At most {MAX_DESCRIPTION} characters."
        )
    types = list(dict.fromkeys(t.strip() for t in input.event_types))
    key_principal = Principal(
        kind="partner", tenant_id=key.tenant_id, subjects=tuple(key.scopes), token_id=key.id
    )
    problem = _event_type_errors(types, info.context.authz.for_principal(key_principal))
    problem = problem or await _url_error(info, input.url)
    if problem is not None:
        return problem
    row = SubscriptionModel(
        id=uuid.uuid4(),
        api_key_id=key.id,
        url=input.url.strip(),
        event_types=types,
        description=input.description.strip(),
        secret=_new_secret(),
    )
    info.context.db.add(row)
    await info.context.db.flush()
    await info.context.emit("webhook_subscription.created", row.id, ["eventTypes", "url"])
    info.context.audit.record("webhook_create", None, [encode_id("WebhookSubscription", row.id)])
    return WebhookSubscriptionPayload(
        subscription=WebhookSubscription.from_model(row), signing_secret=row.secret
    )


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def rotate_webhook_secret(
    info: Info, input: WebhookSubscriptionRotateSecretInput
) -> WebhookSubscriptionPayload:
    """A new signing secret, returned once; deliveries carry a signature with each of the new
    and the previous secret for `overlapSeconds` (a second rotation ends the first's overlap)."""
    row = await load_subscription(info, input.id)
    if not 0 <= input.overlap_seconds <= MAX_OVERLAP:
        return _error(
            WebhookErrorCode.INVALID_OVERLAP,
            "overlapSeconds",
            f"overlapSeconds must be between 0 and {MAX_OVERLAP} (seven days).",
        )
    now = datetime.now(UTC)
    row.previous_secret, row.secret = row.secret, _new_secret()
    row.previous_expires_at = now + timedelta(seconds=input.overlap_seconds)
    row.secret_rotated_at = now
    await info.context.db.flush()
    await info.context.emit("webhook_subscription.secret_rotated", row.id, ["secret"])
    info.context.audit.record(
        "webhook_rotate_secret", None, [encode_id("WebhookSubscription", row.id)]
    )
    return WebhookSubscriptionPayload(
        subscription=WebhookSubscription.from_model(row), signing_secret=row.secret
    )


async def delete_webhook_subscription(
    info: Info, id: strawberry.ID
) -> WebhookSubscriptionDeletePayload:
    """Stop and remove a subscription with its delivery log."""
    row = await load_subscription(info, id)
    await info.context.db.delete(row)
    await info.context.emit("webhook_subscription.deleted", row.id)
    gid = encode_id("WebhookSubscription", row.id)
    info.context.audit.record("webhook_delete", None, [gid])
    return WebhookSubscriptionDeletePayload(deleted_subscription_id=strawberry.ID(gid))


async def list_webhook_deliveries(
    info: Info,
    subscription_id: strawberry.ID | None = None,
    status: DeliveryStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Connection[WebhookDelivery]:
    """The delivery log, newest first."""
    where: list[ColumnElement[bool]] = []
    if subscription_id is not None:
        where.append(
            DeliveryModel.subscription_id == (await load_subscription(info, subscription_id)).id
        )
    elif own := _own(info):
        where.append(DeliveryModel.subscription_id.in_(select(SubscriptionModel.id).where(*own)))
    if status is not None:
        where.append(DeliveryModel.status == status.value)
    return await list_connection(
        info,
        DeliveryModel,
        where,
        first,
        after,
        order=WEBHOOK_DELIVERY_ORDER,
        convert=WebhookDelivery.from_model,
    )


async def retry_webhook_delivery(info: Info, id: strawberry.ID) -> WebhookDeliveryPayload:
    """Send a delivery again now (a replay keeps its `webhook-id`), with a fresh retry window."""
    loader = info.context.loaders.webhook_delivery_by_id
    row = await load_by_global_id(loader, id, "WebhookDelivery")
    subscription = await load_subscription(
        info, encode_id("WebhookSubscription", row.subscription_id)
    )
    if subscription.disabled_at is not None:
        return WebhookDeliveryPayload(
            user_errors=[
                WebhookUserError(
                    code=WebhookErrorCode.NOT_RETRYABLE,
                    field=["id"],
                    message="The subscription was disabled after failing; subscribe again.",
                )
            ]
        )
    now = datetime.now(UTC)
    row.status, row.next_attempt_at, row.window_started_at = (
        DeliveryStatus.PENDING.value,
        now,
        now,
    )
    row.first_failed_at = None
    await info.context.db.flush()
    info.context.audit.record("webhook_retry", None, [encode_id("WebhookDelivery", row.id)])
    return WebhookDeliveryPayload(delivery=WebhookDelivery.from_model(row))
