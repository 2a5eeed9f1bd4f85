"""API keys (partner and widget keys in api_tokens): order and loaders."""

from __future__ import annotations

import uuid

from models import ApiToken
from store.loaders import register_by_id
from store.pagination import Order, parse_datetime

API_KEY_ORDER = Order(
    columns=(ApiToken.created_at, ApiToken.id), parsers=(parse_datetime, uuid.UUID), descending=True
)

register_by_id("api_key_by_id", ApiToken)
