"""`node(id)`: any object by its global ID, with the read check of its own type."""

from __future__ import annotations

import strawberry

from microspace.context import Info
from microspace.errors import NotFound
from microspace.ids import parse_id
from resolvers import blocks, consent, contacts, space_access, spaces, subject_requests
from schema.node import Node
from schema.permissions import require

READERS = {
    "Space": spaces.get_space,
    "Block": blocks.get_block,
    "Contact": contacts.get_contact,
    "SpaceAccess": space_access.get_space_access,
    "ConsentEvent": consent.get_consent_event,
    "SubjectRequest": subject_requests.get_subject_request,
}


async def get_node(info: Info, id: strawberry.ID) -> Node:
    """The object with this ID, if the caller may read its type; NOT_FOUND otherwise."""
    type_name, _ = parse_id(id)
    reader = READERS.get(type_name)
    if reader is None:
        raise NotFound()
    require(info, type_name, "read")
    return await reader(info, id)
