"""`blockUpdate`'s write, defined once: the SQL function `app_block_update` (migration
0021). The resolver calls it in the request's transaction; the fast lane gives it the
principal and the token hash too, and it scopes the statement and checks the credential
first (compiler/writes.py)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from store.block_bodies import valid_bodies
from store.events import event_payload

# the function's arguments after the tenant ($1), as `update_values` orders them
ARGUMENTS = "$2::uuid, $3::text[], $4::jsonb[], $5::jsonb"


def update_values(
    block_id: uuid.UUID, body: Any, actor: str, *, kind: str | None = None
) -> list[Any] | None:
    """The arguments after the tenant: the id, the body for every kind it is valid for
    (the block's kind is read by the UPDATE itself, no read before it) and the event; None
    when the body is valid for no kind (nothing to write). A `kind` (typed content names
    one) writes only a block of that kind."""
    valid = valid_bodies(body)
    if kind is not None:
        valid = {k: b for k, b in valid.items() if k == kind}
    if not valid:
        return None
    bodies = [orjson.dumps(b).decode() for b in valid.values()]
    event = event_payload("block.updated", block_id, ["body"], actor)
    return [block_id, list(valid), bodies, event]
