"""What the compiler knows: GraphQL object types backed by one table each.

A type lists its scalar fields (column and how it is serialised), its personal fields
(redacted by policy, audited when disclosed), and its relations (to-one objects and child
connections) with the permission each field carries in schema/. Anything not listed here
is not compiled: the resolver path answers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from models import Block, Contact, Space, SpaceAccess
from store.loaders import ACCESS_ORDER, BLOCK_ORDER, CONTACT_ORDER, SPACE_ORDER
from store.pagination import Order

Permission = tuple[str, str] | None


@dataclass(frozen=True)
class Keyset:
    """A keyset order as SQL: columns with their cursor kinds, and the direction."""

    columns: tuple[tuple[str, str], ...]  # (column, kind: datetime | uuid | int)
    descending: bool
    order: Order  # the resolver path's order: parses `after` the same way


@dataclass(frozen=True)
class ToOne:
    target: str  # GraphQL type name
    column: str  # this table's column holding the target's id
    permission: Permission = None


@dataclass(frozen=True)
class Children:
    target: str
    parent_column: str  # the child table's column holding this row's id
    keyset: Keyset
    permission: Permission = None


@dataclass
class TableType:
    name: str
    table: str
    scalars: dict[str, tuple[str, str]]  # GraphQL field -> (column, kind)
    personal: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (column, category)
    subject_column: str | None = None  # whose personal data: the audit's subject
    relations: dict[str, ToOne | Children] = field(default_factory=dict)


def _keyset(order: Order) -> Keyset:
    kinds = {"created_at": "datetime", "id": "uuid", "position": "int"}
    columns = tuple((c.key, kinds[c.key]) for c in order.columns)
    return Keyset(columns=columns, descending=order.descending, order=order)


def _personal(model: Any, fields: dict[str, str]) -> dict[str, tuple[str, str]]:
    out = {}
    for graphql_name, column in fields.items():
        category = model.__table__.c[column].info["pii"]
        out[graphql_name] = (column, category)
    return out


TIMESTAMPS = {"createdAt": ("created_at", "datetime"), "updatedAt": ("updated_at", "datetime")}
SPACE_KEYSET = _keyset(SPACE_ORDER)
BLOCK_KEYSET = _keyset(BLOCK_ORDER)
ACCESS_KEYSET = _keyset(ACCESS_ORDER)
CONTACT_KEYSET = _keyset(CONTACT_ORDER)

TYPES: dict[str, TableType] = {
    "Space": TableType(
        name="Space",
        table=Space.__tablename__,
        scalars={
            "id": ("id", "global_id"),
            "title": ("title", "plain"),
            "slug": ("slug", "plain"),
            "description": ("description", "plain"),
            "status": ("status", "enum"),
            "publishedAt": ("published_at", "datetime"),
            **TIMESTAMPS,
        },
        relations={
            "blocks": Children("Block", "space_id", BLOCK_KEYSET),
            "contacts": Children("SpaceAccess", "space_id", ACCESS_KEYSET, ("SpaceAccess", "read")),
        },
    ),
    "Block": TableType(
        name="Block",
        table=Block.__tablename__,
        scalars={
            "id": ("id", "global_id"),
            "kind": ("kind", "enum"),
            "position": ("position", "plain"),
            "body": ("body", "plain"),
            **TIMESTAMPS,
        },
        relations={"space": ToOne("Space", "space_id")},
    ),
    "SpaceAccess": TableType(
        name="SpaceAccess",
        table=SpaceAccess.__tablename__,
        scalars={
            "id": ("id", "global_id"),
            "state": ("state", "enum"),
            "invitedAt": ("invited_at", "datetime"),
            "revokedAt": ("revoked_at", "datetime"),
            **TIMESTAMPS,
        },
        personal=_personal(SpaceAccess, {"acceptedAt": "accepted_at"}),
        subject_column="contact_id",
        relations={
            "contact": ToOne("Contact", "contact_id", ("Contact", "read")),
            "space": ToOne("Space", "space_id", ("Space", "read")),
        },
    ),
    "Contact": TableType(
        name="Contact",
        table=Contact.__tablename__,
        scalars={"id": ("id", "global_id"), **TIMESTAMPS},
        personal=_personal(
            Contact,
            {
                "email": "email",
                "fullName": "full_name",
                "company": "company",
                "jobTitle": "job_title",
                "phone": "phone",
                "locale": "locale",
            },
        ),
        subject_column="id",
        relations={
            "spaces": Children("SpaceAccess", "contact_id", ACCESS_KEYSET, ("SpaceAccess", "read")),
        },
    ),
}


@dataclass(frozen=True)
class Root:
    """A root query field: one row by global ID, or a top-level connection."""

    target: str
    permission: tuple[str, str]
    by_id: bool
    keyset: Keyset | None = None
    # connection arguments the compiler understands besides first/after: name -> column
    filters: dict[str, str] = field(default_factory=dict)


ROOTS: dict[str, Root] = {
    "space": Root("Space", ("Space", "read"), by_id=True),
    "block": Root("Block", ("Block", "read"), by_id=True),
    "contact": Root("Contact", ("Contact", "read"), by_id=True),
    "spaces": Root(
        "Space", ("Space", "read"), by_id=False, keyset=SPACE_KEYSET, filters={"status": "status"}
    ),
    # `search` is left to the resolver path (its filter needs read on the searched fields)
    "contacts": Root("Contact", ("Contact", "read"), by_id=False, keyset=CONTACT_KEYSET),
}
