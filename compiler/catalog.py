"""What the compiler knows: GraphQL object types backed by one table each.

A type lists its scalar fields (column and how it is serialised), its personal fields
(redacted by policy, audited when disclosed), and its relations (to-one objects and child
connections) with the permission each field carries in schema/. Anything not listed here
is not compiled: the resolver path answers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.sql import sqltypes

from models import Block, ConsentEvent, Contact, Space, SpaceAccess
from models.consent import ConsentPurpose
from store.contacts import ACCESS_ORDER, CONSENT_EVENT_ORDER, CONTACT_ORDER
from store.pagination import Order
from store.spaces import BLOCK_ORDER, SPACE_ORDER

Permission = tuple[str, str] | None


@dataclass(frozen=True)
class Keyset:
    """A keyset order as SQL: columns with their cursor kinds, and the direction."""

    columns: tuple[tuple[str, str], ...]  # (column, kind: datetime | uuid | int | text)
    descending: bool
    order: Order  # the resolver path's order: parses `after` the same way
    # the cursor holds only the row's id (a withheld column must not leak through it)
    by_reference: bool = False

    def sql(self, alias: str) -> list[str]:
        """The keys as SQL: a NULL sorts as the order's stand-in (store/pagination.py)."""
        nulls = self.order.nulls or (None,) * len(self.columns)
        return [
            f"{alias}.{c}" if n is None else f"coalesce({alias}.{c}, {_sql_value(n)})"
            for (c, _), n in zip(self.columns, nulls, strict=True)
        ]


def _sql_value(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return "'" + value.replace("'", "''") + "'"


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


@dataclass(frozen=True)
class Consents:
    """A contact's current consent per purpose (store/consent_ledger.py current_consents)."""

    purposes: tuple[str, ...]
    permission: Permission = None


@dataclass
class TableType:
    name: str
    table: str
    scalars: dict[str, tuple[str, str]]  # GraphQL field -> (column, kind)
    # GraphQL field -> (column, category, kind)
    personal: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    subject_column: str | None = None  # whose personal data: the audit's subject
    relations: dict[str, ToOne | Children | Consents] = field(default_factory=dict)
    model: Any = None
    typed_body: str | None = None  # the field giving `body` as its kind's type (compiler/bodies.py)

    def nullable(self, column: str) -> bool:
        return bool(self.model.__table__.c[column].nullable)

    def json_kind(self, column: str, kind: str) -> str:
        """How a column's value becomes JSON text (compiler/sql.py json_text)."""
        if kind != "plain":
            return kind
        column_type = self.model.__table__.c[column].type
        if isinstance(column_type, sqltypes.JSON):
            return "json"
        if isinstance(column_type, sqltypes.Integer):
            return "number"
        return "text"


KINDS = {
    "created_at": "datetime",
    "updated_at": "datetime",
    "occurred_at": "datetime",
    "id": "uuid",
    "position": "int",
    "title": "text",
    "full_name": "text",
}


def keyset_of(order: Order) -> Keyset:
    kinds = KINDS
    columns = tuple((c.key, kinds[c.key]) for c in order.columns)
    by_reference = bool(getattr(order, "by_reference", False))
    return Keyset(
        columns=columns, descending=order.descending, order=order, by_reference=by_reference
    )


def _personal(model: Any, fields: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """Personal fields with the category of their column (models/, the personal-data map)."""
    out = {}
    for graphql_name, spec in fields.items():
        column, _, rest = spec.partition(":")
        kind, _, category = rest.partition(":")
        # a column that is no personal data itself may reveal some (schema/consent.py)
        category = category or model.__table__.c[column].info["pii"]
        out[graphql_name] = (column, category, kind or "plain")
    return out


TIMESTAMPS = {"createdAt": ("created_at", "datetime"), "updatedAt": ("updated_at", "datetime")}
SPACE_KEYSET = keyset_of(SPACE_ORDER)
BLOCK_KEYSET = keyset_of(BLOCK_ORDER)
ACCESS_KEYSET = keyset_of(ACCESS_ORDER)
CONTACT_KEYSET = keyset_of(CONTACT_ORDER)
CONSENT_EVENT_KEYSET = keyset_of(CONSENT_EVENT_ORDER)
# in the schema enum's order (schema/consent.py mirrors models.consent.ConsentPurpose)
# source and policy version exist only once consent was given or withdrawn (schema/consent.py)
REVEALS_CONSENT = "user.privacy_preferences"
PURPOSES = tuple(p.value for p in ConsentPurpose)

TYPES: dict[str, TableType] = {
    "Space": TableType(
        name="Space",
        table=Space.__tablename__,
        model=Space,
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
        model=Block,
        scalars={
            "id": ("id", "global_id"),
            "kind": ("kind", "enum"),
            "position": ("position", "plain"),
            "body": ("body", "plain"),
            **TIMESTAMPS,
        },
        relations={"space": ToOne("Space", "space_id")},
        typed_body="content",
    ),
    "SpaceAccess": TableType(
        name="SpaceAccess",
        table=SpaceAccess.__tablename__,
        model=SpaceAccess,
        scalars={
            "id": ("id", "global_id"),
            "state": ("state", "enum"),
            "invitedAt": ("invited_at", "datetime"),
            "revokedAt": ("revoked_at", "datetime"),
            **TIMESTAMPS,
        },
        personal=_personal(SpaceAccess, {"acceptedAt": "accepted_at:datetime"}),
        subject_column="contact_id",
        relations={
            "contact": ToOne("Contact", "contact_id", ("Contact", "read")),
            "space": ToOne("Space", "space_id", ("Space", "read")),
        },
    ),
    "Contact": TableType(
        name="Contact",
        table=Contact.__tablename__,
        model=Contact,
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
            "consentHistory": Children(
                "ConsentEvent", "contact_id", CONSENT_EVENT_KEYSET, ("Consent", "read")
            ),
            "consents": Consents(PURPOSES, ("Consent", "read")),
        },
    ),
    "ConsentEvent": TableType(
        name="ConsentEvent",
        table=ConsentEvent.__tablename__,
        model=ConsentEvent,
        scalars={
            "id": ("id", "global_id"),
            "purpose": ("purpose", "enum"),
        },
        personal=_personal(
            ConsentEvent,
            {
                "action": "action:enum",
                "source": f"source:enum:{REVEALS_CONSENT}",
                "policyVersion": f"policy_version:plain:{REVEALS_CONSENT}",
                "evidence": "evidence",
                "occurredAt": "occurred_at:datetime",
            },
        ),
        subject_column="contact_id",
        relations={"contact": ToOne("Contact", "contact_id", ("Contact", "read"))},
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
    # `search`: (policy object read in full, column) pairs it may match
    searchable: tuple[tuple[str, str], ...] = ()


ROOTS: dict[str, Root] = {
    "space": Root("Space", ("Space", "read"), by_id=True),
    "block": Root("Block", ("Block", "read"), by_id=True),
    "contact": Root("Contact", ("Contact", "read"), by_id=True),
    "spaces": Root(
        "Space", ("Space", "read"), by_id=False, keyset=SPACE_KEYSET, filters={"status": "status"}
    ),
    # resolvers/contacts.py SEARCHABLE
    "contacts": Root(
        "Contact",
        ("Contact", "read"),
        by_id=False,
        keyset=CONTACT_KEYSET,
        searchable=(
            ("Contact.fullName", "full_name"),
            ("Contact.company", "company"),
            ("Contact.email", "email"),
        ),
    ),
}


# types `node(id)` fetches (schema/node.py), with the policy object their read checks
NODE_POLICIES = {
    "Space": "Space",
    "Block": "Block",
    "Contact": "Contact",
    "SpaceAccess": "SpaceAccess",
    "ConsentEvent": "Consent",
}
