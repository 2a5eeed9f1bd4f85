"""`node(id)`: any object by its global ID, with the read check of its own type."""

from __future__ import annotations

import strawberry

from core.errors import NotFound
from core.ids import parse_id
from resolvers import (
    api_keys,
    blocks,
    consent,
    contacts,
    space_access,
    spaces,
    subject_requests,
    webhooks,
)
from schema.context import Info
from schema.node import Node
from schema.permissions import require

# type -> (reader, the policy object its root field checks)
READERS = {
    "Space": (spaces.get_space, "Space"),
    "Block": (blocks.get_block, "Block"),
    "Contact": (contacts.get_contact, "Contact"),
    "SpaceAccess": (space_access.get_space_access, "SpaceAccess"),
    "ConsentEvent": (consent.get_consent_event, "Consent"),
    "SubjectRequest": (subject_requests.get_subject_request, "SubjectRequest"),
    "ApiKey": (api_keys.get_api_key, "ApiKey"),
    "WebhookSubscription": (webhooks.get_webhook_subscription, "WebhookSubscription"),
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
