"""Blocks' writes, each defined once as a SQL function: `blockUpdate`'s `app_block_update`
(migration 0021), `blockMove`'s `app_block_move` (0026), `blockAdd`'s `app_block_add`
(0027). The resolver calls them in the
request's transaction; the fast lane gives them the principal and the token hash too, and
they scope the statement and check the credential first (compiler/writes.py)."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import orjson

from store.block_bodies import valid_bodies
from store.events import event_payload

# the functions' arguments after the tenant ($1), as `update_values` and `move_values`
# order them; the bodies as text: PostgreSQL reads as JSON only the one it writes
ARGUMENTS = "$2::uuid, $3::text[], $4::text[], $5::jsonb"
MOVE_ARGUMENTS = "$2::uuid, $3::integer, $4::jsonb"
ADD_ARGUMENTS = "$2::uuid, $3::uuid, $4::text, $5::jsonb, $6::integer, $7::jsonb"


def add_values(
    space_id: uuid.UUID, kind: str, body: dict[str, Any], position: int | None, actor: str
) -> list[Any]:
    """`app_block_add`'s arguments after the tenant: a new block's id, its space, kind,
    body (valid for the kind: store/block_bodies.py `validate_body`), position (None: the
    end) and event."""
    block_id = uuid.uuid4()
    event = event_payload("block.created", block_id, [], actor)
    return [block_id, space_id, kind, orjson.dumps(body).decode(), position, event]


def move_values(block_id: uuid.UUID, position: int, actor: str) -> list[Any]:
    """`app_block_move`'s arguments after the tenant: the id, the position and the event."""
    return [block_id, position, event_payload("block.moved", block_id, ["position"], actor)]


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
    return [block_id, list(valid), bodies, _updated(block_id, actor)]


@functools.lru_cache(maxsize=8192)  # a block is edited again and again, by the same kind
def _updated(block_id: uuid.UUID, actor: str) -> str:
    """A body update's event: the same text for the same block and actor."""
    return event_payload("block.updated", block_id, ["body"], actor)
