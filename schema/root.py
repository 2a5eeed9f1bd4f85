"""The API surface in one screen: root fields, their resolvers and their permissions."""

from __future__ import annotations

import strawberry

from resolvers import blocks, node, spaces, viewer
from schema.blocks import Block, BlockPayload, BlockRemovePayload
from schema.connection import Connection
from schema.node import Node
from schema.permissions import Authenticated, Can
from schema.spaces import Space, SpaceDeletePayload, SpacePayload
from schema.viewer import Viewer


@strawberry.type
class Query:
    viewer: Viewer = strawberry.field(resolver=viewer.get_viewer, extensions=[Authenticated()])
    # node() applies the read check of the type the ID names (see resolvers/node.py)
    node: Node = strawberry.field(resolver=node.get_node, extensions=[Authenticated()])
    space: Space = strawberry.field(resolver=spaces.get_space, extensions=[Can("Space", "read")])
    spaces: Connection[Space] = strawberry.field(
        resolver=spaces.list_spaces, extensions=[Can("Space", "read")]
    )
    block: Block = strawberry.field(resolver=blocks.get_block, extensions=[Can("Block", "read")])


@strawberry.type
class Mutation:
    space_create: SpacePayload = strawberry.mutation(
        resolver=spaces.create_space, extensions=[Can("Space", "create")]
    )
    space_update: SpacePayload = strawberry.mutation(
        resolver=spaces.update_space, extensions=[Can("Space", "update")]
    )
    space_publish: SpacePayload = strawberry.mutation(
        resolver=spaces.publish_space, extensions=[Can("Space", "publish")]
    )
    space_archive: SpacePayload = strawberry.mutation(
        resolver=spaces.archive_space, extensions=[Can("Space", "publish")]
    )
    space_delete: SpaceDeletePayload = strawberry.mutation(
        resolver=spaces.delete_space, extensions=[Can("Space", "delete")]
    )
    block_add: BlockPayload = strawberry.mutation(
        resolver=blocks.add_block, extensions=[Can("Block", "create")]
    )
    block_update: BlockPayload = strawberry.mutation(
        resolver=blocks.update_block, extensions=[Can("Block", "update")]
    )
    block_move: BlockPayload = strawberry.mutation(
        resolver=blocks.move_block, extensions=[Can("Block", "update")]
    )
    block_remove: BlockRemovePayload = strawberry.mutation(
        resolver=blocks.remove_block, extensions=[Can("Block", "delete")]
    )
