"""Contacts, their consent ledger and their space access: orders, loaders and search."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, or_
from strawberry.dataloader import DataLoader

from core.db import Db
from models import ConsentEvent, Contact, SpaceAccess
from store.consent_ledger import current_consents
from store.loaders import Loaders, register, register_by_id
from store.pagination import ChildPageKey, Order, Page, child_pages, count_by_parent, parse_datetime

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

# What a contact search may match, for both read paths (resolvers/contacts.py and
# compiler/plan.py): (policy object the caller must read in full, column), in this order.
# A masked or withheld field is never matched, so search is no oracle for it.
SEARCHABLE = (
    ("Contact.fullName", Contact.full_name),
    ("Contact.company", Contact.company),
    ("Contact.email", Contact.email),
)
SEARCH_MAX = 200  # characters of `search` used


def search_columns(can: Callable[[str, str], bool]) -> list[Any]:
    """The searchable columns the caller may read in full (`can` is `Authorizer.can`)."""
    return [column for obj, column in SEARCHABLE if can(obj, "read")]


def search_pattern(search: str | None) -> str | None:
    """The ILIKE pattern of `search`; None when it is empty or blank (no filter)."""
    if not search or not search.strip():
        return None
    text = search[:SEARCH_MAX].strip()
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_matches(columns: Sequence[Any], pattern: Any) -> ColumnElement[bool]:
    """How a search matches: any of `columns` contains the pattern, case-insensitively.
    The compiler renders it over its own aliases and parameter."""
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


register_by_id("contact_by_id", Contact)
register_by_id("space_access_by_id", SpaceAccess)
register_by_id("consent_event_by_id", ConsentEvent)


@register("consents_by_contact_id")
def _consents(db: Db) -> DataLoader[uuid.UUID, dict[str, ConsentEvent]]:
    return DataLoader(lambda ids: current_consents(db, ids))


@register("consent_events_by_contact_id")
def _consent_events(db: Db) -> DataLoader[ChildPageKey, Page[ConsentEvent]]:
    return DataLoader(
        lambda keys: child_pages(
            db, ConsentEvent, ConsentEvent.contact_id, CONSENT_EVENT_ORDER, keys
        )
    )


@register("consent_event_count_by_contact_id")
def _consent_event_count(db: Db) -> DataLoader[uuid.UUID, int]:
    return DataLoader(lambda ids: count_by_parent(db, ConsentEvent.contact_id, ids))


@register("space_access_by_contact_id")
def _access_by_contact(db: Db) -> DataLoader[ChildPageKey, Page[SpaceAccess]]:
    return DataLoader(
        lambda keys: child_pages(db, SpaceAccess, SpaceAccess.contact_id, ACCESS_ORDER, keys)
    )


@register("space_access_count_by_contact_id")
def _access_count_by_contact(db: Db) -> DataLoader[uuid.UUID, int]:
    return DataLoader(lambda ids: count_by_parent(db, SpaceAccess.contact_id, ids))


@register("space_access_by_space_id")
def _access_by_space(db: Db) -> DataLoader[ChildPageKey, Page[SpaceAccess]]:
    return DataLoader(
        lambda keys: child_pages(db, SpaceAccess, SpaceAccess.space_id, ACCESS_ORDER, keys)
    )


@register("space_access_count_by_space_id")
def _access_count_by_space(db: Db) -> DataLoader[uuid.UUID, int]:
    return DataLoader(lambda ids: count_by_parent(db, SpaceAccess.space_id, ids))


def forget_contact(loaders: Loaders, contact_id: uuid.UUID) -> None:
    """Drop cached reads of a contact after a mutation changed it, its consent or access."""
    loaders.forget(
        contact_id,
        "contact_by_id",
        "consents_by_contact_id",
        "consent_event_count_by_contact_id",
        "space_access_count_by_contact_id",
    )
    loaders.reset(
        "consent_events_by_contact_id",
        "space_access_by_contact_id",
        "space_access_by_space_id",
        "space_access_count_by_space_id",
    )
