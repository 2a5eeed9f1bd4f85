"""The read compiler's catalog against the schema it is derived from.

Invariants guarded here:
- every field a query can reach through compiled fields is planned by the compiler, or is
  in LEFT_TO_RESOLVERS with the reason it is not: a field added to the schema never falls
  to the slow path unnoticed;
- the permissions the compiler checks are the schema's `Can`, and the personal fields it
  redacts are the schema's `@personalData` fields, with their categories;
- contact search matches the same columns on both paths (store/contacts.py).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    get_named_type,
    is_composite_type,
    parse,
)

from core.auth import Principal
from core.ids import encode_id
from policies.authz import Authorizer, load_enforcer
from schema.build import build_schema
from schema.permissions import Can
from schema.personal_data import PersonalData
from store.contacts import SEARCHABLE

# Fields the compiled read path leaves to the resolver path, and why; what lies below them
# is the resolver path's too. None of them is a frontend's hot read.
LEFT_TO_RESOLVERS = {
    "Query.nodes": "a list of any types, each with its own error: node(id) is compiled",
    "Query.auditLog": "audit entries: a table the catalog does not describe",
    "Query.personalisationJob": "personalisation jobs: a table the catalog does not describe",
    "Query.previewLink": "preview links: a table the catalog does not describe",
    "Query.previewLinks": "preview links: a table the catalog does not describe",
    "Query.auditChain": "recomputes the hash chain (store/audit verify_chain)",
    "Query.subjectRequest": "subject requests: a narrower visibility per principal",
    "Query.subjectRequests": "subject requests: a narrower visibility per principal",
    "Query.policyRules": "policy administration",
    "Query.spaceAnalytics": "counts suppressed below k contacts, decided in Python",
    "Query.spaceSchedules": "schedules: a table the catalog does not describe",
    "Query.myProfile": "a member's own data, not a tenant table the catalog describes",
    "Query.myData": "a member's own export, audited as an export",
    "Query.contentLocales": "a tenant setting for members (Block.locale is compiled)",
    "Query.mySignIns": "a member's own data",
    "Query.tenantUsage": "plan limits computed in Python",
    "Query.tenantProfile": "billing profile, owners only",
    "Query.apiKey": "key administration",
    "Query.apiKeys": "key administration",
    "Query.webhookSubscription": "webhook administration",
    "Query.webhookSubscriptions": "webhook administration",
    "Query.webhookDeliveries": "webhook administration",
    "Query.webhookEventTypes": "a constant list",
    "Query.asset": "files: each asset's signed URL is made per request (files/links.py)",
    "Query.assets": "files: each asset's signed URL is made per request (files/links.py)",
    "ImageBody.asset": "an asset: its signed URL is made per request",
    "GalleryBody.items": "each item an asset: its signed URL is made per request",
    "RichTextBody.html": "Markdown rendered and sanitised in Python (core/rich_text.py)",
    "Query.spaceRevisionDiff": "history for editors: compared in Python (store/revisions.py)",
    "SpaceRevision.blocks": "a revision's blocks: another table behind the Block type",
}
ROOT_IDS = {"space": "Space", "block": "Block", "contact": "Contact", "node": "Space"}
OWNER = Principal(kind="member", tenant_id=uuid.UUID(int=1), subjects=("owner",))
SETTINGS = SimpleNamespace(default_page_size=20, max_page_size=100)


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return build_schema()


def _document(path: list[str], field_type: Any) -> tuple[str, dict[str, Any]]:
    """A query selecting the last field of `path` (`__typename` under a composite one)."""
    named = get_named_type(field_type)
    text = path[-1] + (" { __typename }" if is_composite_type(named) else "")
    for step in reversed(path[:-1]):
        text = f"{step} {{ {text} }}"
    root = path[0]
    if root not in ROOT_IDS:
        return f"{{ {text} }}", {}
    text = text.replace(root, f"{root}(id: $id)", 1)
    return f"query($id: ID!) {{ {text} }}", {"id": encode_id(ROOT_IDS[root], uuid.UUID(int=2))}


def unplanned(schema: strawberry.Schema) -> dict[str, str]:
    """Every field reachable from the root through planned fields that the compiler does
    not plan for an owner (who may read everything), with the planner's reason. Breadth
    first, each field by its shortest path; union members through inline fragments."""
    reads = schema.compiled_reads  # type: ignore[attr-defined]
    reads.forget()  # plan afresh: a cached plan gives no reason
    graphql_schema: GraphQLSchema = reads.schema
    authz = Authorizer(load_enforcer(), OWNER)
    query_type = graphql_schema.query_type
    assert query_type is not None
    queue: list[tuple[GraphQLObjectType, list[str]]] = [(query_type, [])]
    seen: set[str] = set()
    out: dict[str, str] = {}
    while queue:
        parent, path = queue.pop(0)
        for name, field in parent.fields.items():
            key = f"{parent.name}.{name}"
            if key in seen:
                continue
            seen.add(key)
            text, variables = _document([*path, name], field.type)
            reads.reasons.clear()
            if reads.prepare(parse(text), text, None, variables, OWNER, authz, SETTINGS) is None:
                out[key] = ", ".join(reads.reasons)
                continue  # what lies below is the resolver path's too
            named = get_named_type(field.type)
            if isinstance(named, GraphQLObjectType):
                queue.append((named, [*path, name]))
            elif isinstance(named, GraphQLUnionType):
                queue.extend((m, [*path, name, f"... on {m.name}"]) for m in named.types)
    return out


def test_every_reachable_field_is_compiled_or_left_with_a_reason(schema) -> None:
    left = unplanned(schema)
    assert sorted(left) == sorted(LEFT_TO_RESOLVERS), left


def test_the_walk_finds_a_field_the_catalog_does_not_plan(schema) -> None:
    space = schema.compiled_reads.catalog.types["Space"]
    title = space.scalars.pop("title")
    try:
        assert "Space.title" in unplanned(schema)
    finally:
        space.scalars["title"] = title


def _declared(schema: strawberry.Schema, type_name: str) -> dict[str, Any]:
    definition = schema.schema_converter.type_map[type_name].definition  # type: ignore[union-attr]
    return {schema.config.name_converter.get_graphql_name(f): f for f in definition.fields}


def test_personal_fields_are_the_schemas_personal_data(schema) -> None:
    for t in schema.compiled_reads.catalog.types.values():
        declared = {
            name: next(d.category for d in f.directives if isinstance(d, PersonalData))
            for name, f in _declared(schema, t.name).items()
            if any(isinstance(d, PersonalData) for d in f.directives)
        }
        assert {n: p[1] for n, p in t.personal.items()} == declared, t.name


def test_permissions_are_the_schemas_can(schema) -> None:
    catalog = schema.compiled_reads.catalog

    def can(type_name: str, field: str) -> tuple[str, str] | None:
        f = _declared(schema, type_name)[field]
        found = next((e for e in f.extensions if isinstance(e, Can)), None)
        return (found.obj, found.act) if found is not None and found.obj else None

    for name, root in catalog.roots.items():
        assert root.permission == can("Query", name)
    for t in catalog.types.values():
        for name, rel in t.relations.items():
            assert rel.permission == can(t.name, name), f"{t.name}.{name}"
    assert catalog.types["Contact"].relations["consents"].permission == ("Consent", "read")


def test_contact_search_matches_personal_fields_the_one_definition_names(schema) -> None:
    contacts = schema.compiled_reads.catalog.roots["contacts"]
    assert contacts.searchable == tuple((obj, column.key) for obj, column in SEARCHABLE)
    personal = schema.compiled_reads.catalog.types["Contact"].personal
    for obj, column in SEARCHABLE:
        type_name, field = obj.split(".")
        assert type_name == "Contact" and personal[field][0] == column.key
