"""What the compiler knows: GraphQL object types backed by one table each.

Two halves. Stated here: which table backs a type, how its relations join (to-one objects
and child connections with their keyset orders), whose personal data a row holds, the root
fields the compiler plans. Derived from the schema's own declarations when it is built
(schema/declared.py hands them over through `CompiledReads.bind`): which fields read a
column and how they serialise, which are personal data and of what category
(`@personalData`), and the permission each field carries (`Can`). A field the schema adds
to a compiled type is compiled with it when it reads a column; anything else is answered
by the resolver path (tests/test_compiled_catalog.py keeps the list of those).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLSchema, get_named_type
from sqlalchemy.sql import sqltypes

from models import Block, ConsentEvent, Contact, Space, SpaceAccess, SpaceRevision
from models.consent import ConsentPurpose
from store.contacts import ACCESS_ORDER, CONSENT_EVENT_ORDER, CONTACT_ORDER, SEARCHABLE
from store.pagination import Order
from store.revisions import REVISION_ORDER
from store.spaces import BLOCK_ORDER, SPACE_ORDER

Permission = tuple[str, str] | None


@dataclass(frozen=True)
class Declared:
    """What the schema declares of one field (schema/declared.py)."""

    python_name: str  # the attribute a plain field reads: the column of the same name
    permission: Permission = None  # its `Can(obj, act)`
    category: str | None = None  # its `@personalData` category: redacted by policy
    resolved: bool = False  # it has a resolver of its own (a relation, a computed value)


@dataclass(frozen=True)
class SchemaFacts:
    # GraphQL type -> GraphQL field -> what it declares
    fields: dict[str, dict[str, Declared]]
    # node types `node(id)` fetches -> the policy object their read checks (Node.node_policy)
    node_policies: dict[str, str]


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
    # or the target row whose `parent` column holds this row's id and whose `key` column
    # holds the field's `argument` (a space's revision by number)
    keyed: tuple[str, str, str] | None = None


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
    # `Consent` field -> its `@personalData` category (from the schema)
    categories: dict[str, str] = field(default_factory=dict)


@dataclass
class TableType:
    name: str
    table: str
    # GraphQL field -> (column, kind); filled from the schema's declarations
    scalars: dict[str, tuple[str, str]] = field(default_factory=dict)
    # GraphQL field -> (column, category, kind)
    personal: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    subject_column: str | None = None  # whose personal data: the audit's subject
    relations: dict[str, ToOne | Children | Consents] = field(default_factory=dict)
    model: Any = None
    typed_body: str | None = None  # the field giving `body` as its kind's type (compiler/bodies.py)
    # the field (and column) of a body with merge fields, filled in per reader (objects.py)
    merged_body: str | None = None
    # fields with a resolver of their own that the plan computes in SQL (compiler/computed.py)
    computed: tuple[str, ...] = ()
    # bodies per locale (compiler/locales.py): `locale` is served; `locale` below is the
    # read's `locale` argument (a `Requested`) when it names one
    localized: bool = False
    locale: Any = None

    def nullable(self, column: str) -> bool:
        return bool(self.model.__table__.c[column].nullable)

    def compact(self, column: str) -> str | None:
        """The column holding a JSON column's text as the API writes it, if any (`NULL`
        where it could not be made: migration 0034)."""
        twin = f"{column}_compact"
        return twin if twin in self.model.__table__.c else None

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
    "number": "int",
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


SPACE_KEYSET = keyset_of(SPACE_ORDER)
BLOCK_KEYSET = keyset_of(BLOCK_ORDER)
ACCESS_KEYSET = keyset_of(ACCESS_ORDER)
CONTACT_KEYSET = keyset_of(CONTACT_ORDER)
CONSENT_EVENT_KEYSET = keyset_of(CONSENT_EVENT_ORDER)
REVISION_KEYSET = keyset_of(REVISION_ORDER)
# in the schema enum's order (schema/consent.py mirrors models.consent.ConsentPurpose)
PURPOSES = tuple(p.value for p in ConsentPurpose)

# The tables behind the compiled types; fields, categories and permissions are filled in
# from the schema (`build_catalog`). In the order `node(id)` tries them.
TABLES: tuple[TableType, ...] = (
    TableType(
        name="Space",
        table=Space.__tablename__,
        model=Space,
        relations={
            "blocks": Children("Block", "space_id", BLOCK_KEYSET),
            "contacts": Children("SpaceAccess", "space_id", ACCESS_KEYSET),
            "template": ToOne("Space", "template_id"),
            "personalisedFor": ToOne("Contact", "contact_id"),
            "revisions": Children("SpaceRevision", "space_id", REVISION_KEYSET),
            "published": ToOne("SpaceRevision", "published_revision_id"),
            "revision": ToOne("SpaceRevision", "", keyed=("space_id", "number", "number")),
        },
        computed=("state",),
    ),
    TableType(
        name="SpaceRevision",
        table=SpaceRevision.__tablename__,
        model=SpaceRevision,
        relations={"space": ToOne("Space", "space_id")},
        computed=("authorId",),
    ),
    TableType(
        name="Block",
        table=Block.__tablename__,
        model=Block,
        relations={"space": ToOne("Space", "space_id")},
        typed_body="content",
        merged_body="body",
        localized=True,
    ),
    TableType(
        name="Contact",
        table=Contact.__tablename__,
        model=Contact,
        subject_column="id",
        relations={
            "spaces": Children("SpaceAccess", "contact_id", ACCESS_KEYSET),
            "consentHistory": Children("ConsentEvent", "contact_id", CONSENT_EVENT_KEYSET),
            "consents": Consents(PURPOSES),
        },
    ),
    TableType(
        name="SpaceAccess",
        table=SpaceAccess.__tablename__,
        model=SpaceAccess,
        subject_column="contact_id",
        relations={
            "contact": ToOne("Contact", "contact_id"),
            "space": ToOne("Space", "space_id"),
        },
    ),
    TableType(
        name="ConsentEvent",
        table=ConsentEvent.__tablename__,
        model=ConsentEvent,
        subject_column="contact_id",
        relations={"contact": ToOne("Contact", "contact_id")},
    ),
)


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


# the root fields planned; their permissions come from the schema's `Can`
ROOTS: dict[str, Root] = {
    "space": Root("Space", ("", ""), by_id=True),
    "block": Root("Block", ("", ""), by_id=True),
    "contact": Root("Contact", ("", ""), by_id=True),
    "spaces": Root(
        "Space", ("", ""), by_id=False, keyset=SPACE_KEYSET, filters={"status": "status"}
    ),
    # contact search: one definition for both read paths (store/contacts.py)
    "contacts": Root(
        "Contact",
        ("", ""),
        by_id=False,
        keyset=CONTACT_KEYSET,
        searchable=tuple((obj, column.key) for obj, column in SEARCHABLE),
    ),
}


@dataclass(frozen=True)
class Catalog:
    types: dict[str, TableType]
    roots: dict[str, Root]
    # compiled types `node(id)` fetches, with the policy object their read checks
    node_policies: dict[str, str]


def build_catalog(schema: GraphQLSchema, facts: SchemaFacts) -> Catalog:
    """The catalog of this schema: the tables above with what the schema declares."""
    types = {t.name: _derived(schema, facts, t) for t in TABLES}
    query = facts.fields[_name(schema.query_type)]
    roots = {}
    for name, root in ROOTS.items():
        permission = query[name].permission
        assert permission is not None, f"Query.{name} carries no Can"
        roots[name] = replace(root, permission=permission)
    policies = {n: p for n, p in facts.node_policies.items() if n in types}
    return Catalog(types, roots, {n: policies[n] for n in types if n in policies})


def _derived(schema: GraphQLSchema, facts: SchemaFacts, t: TableType) -> TableType:
    """`t` with the fields its schema type declares: a field without a resolver of its own
    reads the column of its name; relations take the field's permission."""
    graphql_type = schema.get_type(t.name)
    assert isinstance(graphql_type, GraphQLObjectType)
    declared = facts.fields[t.name]
    columns = t.model.__table__.c
    scalars: dict[str, tuple[str, str]] = {}
    personal: dict[str, tuple[str, str, str]] = {}
    for name, fact in declared.items():
        if fact.resolved or fact.python_name not in columns:
            continue
        kind = _kind(graphql_type.fields[name].type)
        if fact.category is not None:
            personal[name] = (fact.python_name, fact.category, kind)
        else:
            scalars[name] = (fact.python_name, "global_id" if name == "id" else kind)
    relations: dict[str, ToOne | Children | Consents] = {}
    for name, rel in t.relations.items():
        rel = replace(rel, permission=declared[name].permission)
        if isinstance(rel, Consents):
            consent = facts.fields["Consent"].items()
            rel = replace(rel, categories={n: f.category for n, f in consent if f.category})
        relations[name] = rel
    return replace(t, scalars=scalars, personal=personal, relations=relations)


def _kind(graphql_type: Any) -> str:
    """How a column's value is written (compiler/plan.py `scalar`), by its GraphQL type."""
    named = get_named_type(graphql_type)
    if isinstance(named, GraphQLEnumType):
        return "enum"
    if named.name == "DateTime":
        return "datetime"
    return "plain"


def _name(graphql_type: GraphQLObjectType | None) -> str:
    assert graphql_type is not None
    return graphql_type.name


# The catalog of the schema last bound (CompiledReads.bind): every build derives the same
# one from the same declarations. The planner takes its catalog from its context; this is
# for compiler/writes.py, which names the Block type.
TYPES: dict[str, TableType] = {}
_installed: list[Catalog] = []


def install(catalog: Catalog) -> None:
    TYPES.clear()
    TYPES.update(catalog.types)
    _installed[:] = [catalog]


def installed() -> Catalog:
    """The catalog of the schema last bound."""
    if not _installed:
        raise RuntimeError("no schema bound to the compiler yet (CompiledReads.bind)")
    return _installed[0]
