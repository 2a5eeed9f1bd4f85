"""The Relay `Node` interface, and what `node(id)` needs to know of each node type."""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import strawberry


@strawberry.interface(description="An object with an opaque, globally unique ID.")
class Node:
    id: strawberry.ID

    # A type that `node(id)` can fetch declares the policy object its root field checks and
    # the name of its by-id loader on the request's `Loaders`; the others leave both None.
    node_policy: ClassVar[str | None] = None
    node_loader: ClassVar[str | None] = None

    @classmethod
    def visible_to(cls, principal: Any, row: Any) -> bool:
        """Whether a row the tenant holds may be shown to this principal (a narrower scope
        than the tenant's, such as a subject's own requests). NOT_FOUND when not."""
        return True

    @classmethod
    def from_model(cls, row: Any) -> Any:
        raise NotImplementedError


@functools.cache
def fetchable_node_types() -> dict[str, type[Node]]:
    """Every node type `node(id)` can fetch, by GraphQL name (= the global ID's type).
    Called once the schema is built, when every type module is imported."""
    found: dict[str, type[Node]] = {}
    stack: list[type[Node]] = list(Node.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.node_loader is not None:
            found[cls.__name__] = cls
    return found
