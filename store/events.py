"""`emit`: the one way a mutation writes its domain event, in its own transaction.

The event names the object (type and global ID) and the fields that changed, never their
values; webhooks read the values at delivery time under the subscriber's policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import insert

from core.db import Db
from core.ids import encode_id
from models.domain_event import EVENT_TYPES, DomainEvent


async def emit(
    db: Db,
    topic: str,
    object_ids: uuid.UUID | Sequence[uuid.UUID],
    fields: Iterable[str] = (),
    *,
    actor: str | None = None,
) -> None:
    """Write one event per object (one statement however many objects, e.g. an import)."""
    type_name = EVENT_TYPES[topic][0]  # KeyError: an event type missing from the catalogue
    ids = [object_ids] if isinstance(object_ids, uuid.UUID) else list(object_ids)
    if not ids:
        return
    changed = list(fields)
    rows = [
        {
            # a core INSERT skips the ORM's stamping: the tenant is explicit (RLS checks it)
            "tenant_id": db.tenant_id,
            "id": uuid.uuid4(),
            "topic": topic,
            "payload": {
                "type": type_name,
                "id": encode_id(type_name, object_id),
                "fields": changed,
                **({"actor": actor} if actor else {}),
            },
        }
        for object_id in ids
    ]
    await db.execute(insert(DomainEvent), rows)


def with_event(update_sql: str, first_param: int) -> str:
    """`update_sql` (an UPDATE ... RETURNING id, ...) that also writes its domain event, in
    the same statement: one round trip. The event's topic and payload are the parameters
    `first_param` and `first_param + 1` (see `event_payload`); none is written when the
    UPDATE matches no row."""
    return (
        f"WITH u AS ({update_sql}), e AS (INSERT INTO domain_events (tenant_id, id, topic, "
        f"payload) SELECT $1, gen_random_uuid(), ${first_param}, ${first_param + 1}::jsonb "
        "FROM u) SELECT * FROM u"
    )


def event_payload(topic: str, object_id: uuid.UUID, fields: Iterable[str], actor: str) -> str:
    """The payload `emit` writes, as JSON text for `with_event`."""
    type_name = EVENT_TYPES[topic][0]
    payload = {
        "type": type_name,
        "id": encode_id(type_name, object_id),
        "fields": list(fields),
        **({"actor": actor} if actor else {}),
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
