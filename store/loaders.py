"""DataLoaders, built per request: a batch function returns results aligned with its keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from strawberry.dataloader import DataLoader

from core.db import Db
from core.errors import NotFound
from core.ids import decode_id
from models import (
    Block,
    ConsentEvent,
    Contact,
    Space,
    SpaceAccess,
    SubjectRequest,
    SubjectRequestEvent,
)
from store.consent_ledger import current_consents
from store.pagination import (
    ChildPageKey,
    Order,
    Page,
    child_pages,
    count_by_parent,
    parse_datetime,
    parse_int,
)

SPACE_ORDER = Order(
    columns=(Space.created_at, Space.id), parsers=(parse_datetime, uuid.UUID), descending=True
)
BLOCK_ORDER = Order(columns=(Block.position, Block.id), parsers=(parse_int, uuid.UUID))
CONTACT_ORDER = Order(
    columns=(Contact.created_at, Contact.id), parsers=(parse_datetime, uuid.UUID), descending=True
)
ACCESS_ORDER = Order(
    columns=(SpaceAccess.created_at, SpaceAccess.id), parsers=(parse_datetime, uuid.UUID)
)
CONSENT_EVENT_ORDER = Order(
    columns=(ConsentEvent.occurred_at, ConsentEvent.id),
    parsers=(parse_datetime, uuid.UUID),
    descending=True,
    # occurred_at is withheld from some callers: the cursor holds only the event's id
    by_reference=True,
)


async def _events_by_request(db: Db, ids: Sequence[uuid.UUID]) -> list[list[SubjectRequestEvent]]:
    stmt = (
        select(SubjectRequestEvent)
        .where(SubjectRequestEvent.request_id.in_(ids))
        .order_by(SubjectRequestEvent.occurred_at, SubjectRequestEvent.id)
        .execution_options(populate_existing=True)
    )
    grouped: dict[uuid.UUID, list[SubjectRequestEvent]] = {i: [] for i in ids}
    for row in await db.scalars(stmt):
        grouped[row.request_id].append(row)
    return [grouped[i] for i in ids]


async def _by_id(db: Db, model: type[Any], ids: Sequence[uuid.UUID]) -> list[Any]:
    # populate_existing: a mutation earlier in the request may have moved rows in SQL
    stmt = select(model).where(model.id.in_(ids)).execution_options(populate_existing=True)
    rows = await db.scalars(stmt)
    found = {row.id: row for row in rows}
    return [found.get(i) for i in ids]


class Loaders:
    def __init__(self, db: Db) -> None:
        self.space_by_id: DataLoader[uuid.UUID, Space | None] = DataLoader(
            lambda ids: _by_id(db, Space, ids)
        )
        self.block_by_id: DataLoader[uuid.UUID, Block | None] = DataLoader(
            lambda ids: _by_id(db, Block, ids)
        )
        self.blocks_by_space_id: DataLoader[ChildPageKey, Page[Block]] = DataLoader(
            lambda keys: child_pages(db, Block, Block.space_id, BLOCK_ORDER, keys)
        )
        self.block_count_by_space_id: DataLoader[uuid.UUID, int] = DataLoader(
            lambda ids: count_by_parent(db, Block.space_id, ids)
        )
        self._contacts(db)
        self._subject_requests(db)

    def _subject_requests(self, db: Db) -> None:
        self.subject_request_by_id: DataLoader[uuid.UUID, SubjectRequest | None] = DataLoader(
            lambda ids: _by_id(db, SubjectRequest, ids)
        )
        self.subject_request_events_by_request_id: DataLoader[
            uuid.UUID, list[SubjectRequestEvent]
        ] = DataLoader(lambda ids: _events_by_request(db, ids))

    def _contacts(self, db: Db) -> None:
        """Contacts, their consent and their space access (issue 3)."""
        self.contact_by_id: DataLoader[uuid.UUID, Contact | None] = DataLoader(
            lambda ids: _by_id(db, Contact, ids)
        )
        self.space_access_by_id: DataLoader[uuid.UUID, SpaceAccess | None] = DataLoader(
            lambda ids: _by_id(db, SpaceAccess, ids)
        )
        self.consent_event_by_id: DataLoader[uuid.UUID, ConsentEvent | None] = DataLoader(
            lambda ids: _by_id(db, ConsentEvent, ids)
        )
        self.consents_by_contact_id: DataLoader[uuid.UUID, dict[str, ConsentEvent]] = DataLoader(
            lambda ids: current_consents(db, ids)
        )
        self.consent_events_by_contact_id: DataLoader[ChildPageKey, Page[ConsentEvent]] = (
            DataLoader(
                lambda keys: child_pages(
                    db, ConsentEvent, ConsentEvent.contact_id, CONSENT_EVENT_ORDER, keys
                )
            )
        )
        self.consent_event_count_by_contact_id: DataLoader[uuid.UUID, int] = DataLoader(
            lambda ids: count_by_parent(db, ConsentEvent.contact_id, ids)
        )
        self.space_access_by_contact_id: DataLoader[ChildPageKey, Page[SpaceAccess]] = DataLoader(
            lambda keys: child_pages(db, SpaceAccess, SpaceAccess.contact_id, ACCESS_ORDER, keys)
        )
        self.space_access_count_by_contact_id: DataLoader[uuid.UUID, int] = DataLoader(
            lambda ids: count_by_parent(db, SpaceAccess.contact_id, ids)
        )
        self.space_access_by_space_id: DataLoader[ChildPageKey, Page[SpaceAccess]] = DataLoader(
            lambda keys: child_pages(db, SpaceAccess, SpaceAccess.space_id, ACCESS_ORDER, keys)
        )
        self.space_access_count_by_space_id: DataLoader[uuid.UUID, int] = DataLoader(
            lambda ids: count_by_parent(db, SpaceAccess.space_id, ids)
        )

    def forget_contact(self, contact_id: uuid.UUID) -> None:
        """Drop cached reads of a contact after a mutation changed it, its consent or access."""
        forget(self.contact_by_id, contact_id)
        forget(self.consents_by_contact_id, contact_id)
        forget(self.consent_event_count_by_contact_id, contact_id)
        self.consent_events_by_contact_id.clear_all()
        forget(self.space_access_count_by_contact_id, contact_id)
        self.space_access_by_contact_id.clear_all()
        self.space_access_by_space_id.clear_all()
        self.space_access_count_by_space_id.clear_all()

    def forget_space(self, space_id: uuid.UUID) -> None:
        """Drop cached reads of a space after a mutation changed it or its blocks."""
        forget(self.space_by_id, space_id)
        forget(self.block_count_by_space_id, space_id)
        self.blocks_by_space_id.clear_all()


async def load_by_global_id(
    loader: DataLoader[uuid.UUID, Any], global_id: str, type_name: str
) -> Any:
    """The row of the caller's tenant with this global ID; NOT_FOUND otherwise, whatever the
    reason (another tenant's row, a deleted one, a random ID all answer the same)."""
    row = await loader.load(decode_id(global_id, type_name))
    if row is None:
        raise NotFound()
    return row


def forget(loader: DataLoader[Any, Any], key: Any) -> None:
    """Drop one cached key; DataLoader.clear raises for a key it never loaded."""
    try:
        loader.clear(key)
    except KeyError:
        pass
