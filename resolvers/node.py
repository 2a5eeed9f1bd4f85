"""`node(id)`: any object by its global ID, with the read check of its own type."""

from __future__ import annotations

import strawberry

from core.errors import NotFound
from core.ids import parse_id
from resolvers import blocks, consent, contacts, space_access, spaces, subject_requests
from schema.context import Info
from schema.node import Node
from schema.permissions import require
from store.pagination import PageSizeLimit

# type -> (reader, the policy object its root field checks)
READERS = {
    "Space": (spaces.get_space, "Space"),
    "Block": (blocks.get_block, "Block"),
    "Contact": (contacts.get_contact, "Contact"),
    "SpaceAccess": (space_access.get_space_access, "SpaceAccess"),
    "ConsentEvent": (consent.get_consent_event, "Consent"),
    "SubjectRequest": (subject_requests.get_subject_request, "SubjectRequest"),
}


async def get_node(info: Info, id: strawberry.ID) -> Node:
    """The object with this ID, if the caller may read its type; NOT_FOUND otherwise."""
    type_name, _ = parse_id(id)
    entry = READERS.get(type_name)
    if entry is None:
        raise NotFound()
    reader, obj = entry
    require(info, obj, "read")
    return await reader(info, id)


async def get_nodes(info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
    """The objects with these IDs, in order: each one missing is null plus NOT_FOUND at its
    own index, and the others still come back."""
    maximum = info.context.settings.max_page_size
    if len(ids) > maximum:
        raise PageSizeLimit(f"`ids` may hold at most {maximum} IDs.", argument="ids", limit=maximum)
    # awaitables as list items: graphql-core awaits each and places its error at its index
    return [get_node(info, id) for id in ids]  # type: ignore[misc]
