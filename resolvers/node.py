"""`node(id)`: any object by its global ID, with the read check of its own type.

Each node type declares its policy object and loader (schema/node.py), so this module keeps
no list of its own: a new node type is reachable the day it declares them.
"""

from __future__ import annotations

import strawberry

from core.errors import NotFound
from core.ids import parse_id
from schema.context import Info
from schema.node import Node, fetchable_node_types
from schema.permissions import require
from store.loaders import load_by_global_id


async def get_node(info: Info, id: strawberry.ID) -> Node:
    """The object with this ID, if the caller may read its type; NOT_FOUND otherwise."""
    type_name, _ = parse_id(id)
    node_type = fetchable_node_types().get(type_name)
    if node_type is None or node_type.node_loader is None:
        raise NotFound()
    require(info, node_type.node_policy, "read")
    loader = getattr(info.context.loaders, node_type.node_loader)
    row = await load_by_global_id(loader, id, type_name)
    if not node_type.visible_to(info.context.principal, row):
        raise NotFound()
    return node_type.from_model(row)  # type: ignore[no-any-return]
