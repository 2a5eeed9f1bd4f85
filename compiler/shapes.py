"""What a plan is made of: its inputs, its parts and where its result needs a walk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode

Param = Callable[["Inputs"], Any]
# an error the resolver path raises below an object: (path from the object, error, nodes)
Failure = tuple[tuple[str, ...], Exception, list[FieldNode]]
MAX_KEYS = 50  # json_build_object takes at most 100 arguments


@dataclass
class Inputs:
    variables: dict[str, Any]
    default_page_size: int
    max_page_size: int
    # root lookups whose ID failed to decode, by response key: null and this error
    failed: dict[str, Exception] = field(default_factory=dict)
    # `node(id)` roots: the type their ID named, by response key
    chosen: dict[str, str] = field(default_factory=dict)
    # a root list's own argument that failed: (response key, the resolver's error)
    listing_error: tuple[str, Exception] | None = None
    principal: Any = None  # whose rows a widget key or visitor sees (compiler/audience.py)


@dataclass
class Shape:
    """Where a result holds withheld fields: walked to report `extensions.redactions`."""

    items: list[tuple[str, str, Any]] = field(default_factory=list)  # (kind, key, detail)
    # a non-null field of the object fails on its own arguments: the object is null and
    # these are its errors (compiler/plan.py `failure`)
    fails: list[Failure] | None = None

    def __bool__(self) -> bool:
        return bool(self.items or self.fails)


@dataclass
class RootPlan:
    key: str
    nullable: bool
    typename: str | None = None  # `__typename` at the root: a constant, no SQL
    audited: bool = False
    shape: Shape | None = None
    # the caller may not read this root: null (or no data) and this error, made per request
    denied: tuple[Callable[[], Exception], list[FieldNode]] | None = None
    # a lookup by ID: none found is null and NOT_FOUND at its path (its nodes locate it)
    lookup: list[FieldNode] | None = None
    # `node(id)`: the redaction shape of each type it may answer (the ID picks one)
    shapes: dict[str, Shape] | None = None
    nodes: list[FieldNode] | None = None  # the root field's nodes (to locate an error)


@dataclass
class Plan:
    sql: str
    params: list[Param]
    checks: list[Callable[[Inputs], None]]
    roots: list[RootPlan]
