"""Webhook subscriptions and deliveries: orders and loaders."""

from __future__ import annotations

import uuid

from models import WebhookDelivery, WebhookSubscription
from store.loaders import register_by_id
from store.pagination import Order, parse_datetime

WEBHOOK_SUBSCRIPTION_ORDER = Order(
    columns=(WebhookSubscription.created_at, WebhookSubscription.id),
    parsers=(parse_datetime, uuid.UUID),
    descending=True,
)
WEBHOOK_DELIVERY_ORDER = Order(
    columns=(WebhookDelivery.created_at, WebhookDelivery.id),
    parsers=(parse_datetime, uuid.UUID),
    descending=True,
)

register_by_id("webhook_subscription_by_id", WebhookSubscription)
register_by_id("webhook_delivery_by_id", WebhookDelivery)
