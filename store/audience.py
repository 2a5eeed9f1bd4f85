"""What a widget key or a visitor session may see of its tenant, as criteria on every
statement of the request (models/tenancy.py applies them next to the tenant criterion).

- A widget key: the published spaces among those bound to the key, and their blocks; no
  contact, access, consent or usage row at all.
- A visitor (a contact who opened an invitation link): the published spaces shared with
  them (invited or accepted, not revoked) and their blocks; their own contact, access,
  consent and usage rows; nothing of any other contact.
- A preview link: the draft of its one space (whatever its status but archived) and its
  blocks; like a widget, no contact, access, consent or usage row at all.
- Any of them: of the assets (files, images), those the visible blocks use, and no other.

Widgets and visitors read the published revision, never the draft (a preview reads the
draft): `published` comes first on the search path of their transaction, so `spaces` and `blocks` name the views of the published
revision (migrations/published.py), for every statement of the request.

Narrowing the session rather than each resolver means `node(id)`, lists, nested lists and
loaders all answer from the same rows: a draft, an archived space, or a space of another
key is NOT_FOUND exactly like a random ID, because to this request it does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, false, select, text
from sqlalchemy.orm import with_loader_criteria

from core.auth import Principal
from core.db import Db
from models import (
    ApiToken,
    Asset,
    Block,
    BlockRevision,
    ConsentEvent,
    Contact,
    Space,
    SpaceAccess,
    SpaceRevision,
    UsageEvent,
)
from models.space import SpaceStatus
from models.space_access import ACTIVE_STATES
from store.assets import used_by

PUBLISHED = SpaceStatus.PUBLISHED.value
ARCHIVED = SpaceStatus.ARCHIVED.value
NARROWED = ("widget", "visitor", "preview")
# credentials bound to spaces by `api_tokens.space_ids`
BOUND = ("widget", "preview")
# who reads published revisions (the `published` views) rather than the draft
PUBLISHED_READERS = ("widget", "visitor")


async def widget_space_ids(db: Db, token_id: uuid.UUID | None) -> list[uuid.UUID]:
    """The spaces a widget key is bound to (issued with the key, resolvers/api_keys.py), or
    a preview link's one space (resolvers/previews.py)."""
    ids = await db.scalar(select(ApiToken.space_ids).where(ApiToken.id == token_id))
    return list(ids or [])


def _spaces(principal: Principal, bound: list[uuid.UUID]) -> ColumnElement[bool]:
    if principal.kind == "widget":
        return and_(Space.id.in_(bound), Space.status == PUBLISHED)
    if principal.kind == "preview":
        # the draft as members edit it, read-only (writes are not in its policy)
        return and_(Space.id.in_(bound), Space.status != ARCHIVED)
    shared = select(SpaceAccess.space_id).where(
        SpaceAccess.contact_id == principal.contact_id, SpaceAccess.state.in_(ACTIVE_STATES)
    )
    return and_(Space.id.in_(shared), Space.status == PUBLISHED)


def _own(column: Any, contact_id: uuid.UUID | None) -> ColumnElement[bool]:
    # a widget speaks for no contact: not one contact row exists for it
    return column == contact_id if contact_id is not None else false()


async def narrow_to_audience(db: Db, principal: Principal) -> None:
    """Hold the request's session to what this widget key, visitor or preview may see."""
    if principal.kind not in NARROWED:
        return
    if principal.kind in PUBLISHED_READERS:
        # transaction-local, like the tenant: a pooled connection never keeps it
        await db.execute(text("SELECT set_config('search_path', 'published, public', true)"))
    bound = await widget_space_ids(db, principal.token_id) if principal.kind in BOUND else []
    spaces = _spaces(principal, bound)
    visible = select(Space.id).where(spaces)
    contact = principal.contact_id if principal.kind == "visitor" else None
    db.narrow(
        [
            with_loader_criteria(Space, spaces, include_aliases=True),
            with_loader_criteria(Block, Block.space_id.in_(visible), include_aliases=True),
            # a file is readable by whoever may read a block that uses it
            with_loader_criteria(
                Asset, Asset.id.in_(used_by(Block.space_id.in_(visible))), include_aliases=True
            ),
            with_loader_criteria(Contact, _own(Contact.id, contact), include_aliases=True),
            with_loader_criteria(
                SpaceAccess, _own(SpaceAccess.contact_id, contact), include_aliases=True
            ),
            with_loader_criteria(
                ConsentEvent, _own(ConsentEvent.contact_id, contact), include_aliases=True
            ),
            with_loader_criteria(
                UsageEvent, _own(UsageEvent.contact_id, contact), include_aliases=True
            ),
            # the history is for members (its policy object too)
            with_loader_criteria(SpaceRevision, false(), include_aliases=True),
            with_loader_criteria(BlockRevision, false(), include_aliases=True),
        ]
    )
