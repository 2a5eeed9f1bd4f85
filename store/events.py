"""The domain event, written one way: `app_emit_events` (migration 0015) is the only
INSERT into `domain_events`, and `event_payload` the only shape of its payload. `emit` calls
it from Python; the one-statement writes (`app_block_update`, `app_space_update`, ...) from
SQL.

The event names the object (type and global ID) and the fields that changed, never their
values; webhooks read the values at delivery time under the subscriber's policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import text

from core.db import Db
from core.ids import encode_id
from models.domain_event import EVENT_TYPES

# the tenant is explicit: row-level security checks it against the transaction's
EMIT = text("SELECT app_emit_events(:tenant, :topic, CAST(:payloads AS jsonb[]))")


async def emit(
    db: Db,
    topic: str,
    object_ids: uuid.UUID | Sequence[uuid.UUID],
    fields: Iterable[str] = (),
    *,
    actor: str | None = None,
    space: uuid.UUID | None = None,
) -> None:
    """Write one event per object (one statement however many objects, e.g. an import).
    `space`: the space of a block that is gone, for live subscribers (microspace/live/)."""
    if topic not in EVENT_TYPES:
        raise KeyError(topic)  # an event type missing from the catalogue
    ids = [object_ids] if isinstance(object_ids, uuid.UUID) else list(object_ids)
    if not ids:
        return
    changed = list(fields)
    payloads = [event_payload(topic, object_id, changed, actor, space) for object_id in ids]
    await db.execute(EMIT, {"tenant": db.tenant_id, "topic": topic, "payloads": payloads})


def event_payload(
    topic: str,
    object_id: uuid.UUID,
    fields: Iterable[str],
    actor: str | None,
    space: uuid.UUID | None = None,
) -> str:
    """The payload of one event, as JSON text for `app_emit_events`."""
    type_name = EVENT_TYPES[topic][0]
    payload = {
        "type": type_name,
        "id": encode_id(type_name, object_id),
        "fields": list(fields),
        **({"actor": actor} if actor else {}),
        **({"space": encode_id("Space", space)} if space else {}),
    }
    return orjson.dumps(payload).decode()


def envelope(
    topic: str,
    event_id: uuid.UUID,
    occurred_at: str,
    ref: dict[str, Any],
    obj: Any,
    redactions: list[Any],
) -> dict[str, Any]:
    """The body of a webhook delivery (Standard Webhooks' `type`, `timestamp`, `data`)."""
    return {
        "type": topic,
        "timestamp": occurred_at,
        "data": {
            "eventId": str(event_id),
            "objectType": ref.get("type"),
            "id": ref.get("id"),
            "fields": ref.get("fields", []),
            # the object as the subscribing key reads it now (null: gone, or not readable)
            "object": obj,
            "redactions": redactions,
        },
    }
