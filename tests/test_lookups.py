"""Root lookups by ID, through HTTP.

Invariants guarded here:
- every root Query field that takes a required `ID!` argument (a lookup) has a nullable
  type, so one wrong ID costs only its own field;
- a lookup given an ID that names nothing, an ID of another type, or a malformed ID answers
  `null` at its own path with NOT_FOUND (or INVALID_ID), and the sibling `viewer` survives,
  on both read paths.
The cases are drawn from the served schema: a lookup added tomorrow is covered the day it is.
"""

from __future__ import annotations

import uuid

import pytest
from graphql import (
    GraphQLField,
    GraphQLNonNull,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql import build_schema as parse_sdl

from core.ids import encode_id
from schema.build import build_schema


def non_null_lookups(schema: GraphQLSchema) -> list[str]:
    """The root lookups (Query fields taking an `ID!` argument) whose type is non-null."""
    query = schema.query_type
    assert query is not None
    return [
        f"Query.{name}"
        for name, field in query.fields.items()
        if _id_argument(field) is not None and isinstance(field.type, GraphQLNonNull)
    ]


def _id_argument(field: GraphQLField) -> str | None:
    for name, arg in field.args.items():
        if isinstance(arg.type, GraphQLNonNull) and getattr(arg.type.of_type, "name", "") == "ID":
            return name
    return None


SERVED = build_schema()._schema
LOOKUPS = sorted(name for name, f in SERVED.query_type.fields.items() if _id_argument(f))  # type: ignore[union-attr]


def test_every_root_lookup_is_nullable() -> None:
    assert non_null_lookups(SERVED) == []


def test_the_lookup_check_finds_a_non_null_lookup() -> None:
    # the schema before this rule: one wrong key ID nulled the whole response
    before = parse_sdl(
        "type Query { viewer: String! apiKey(id: ID!): ApiKey! space(id: ID!): ApiKey "
        "nodes(ids: [ID!]!): [ApiKey]! keys(after: ID): [ApiKey!]! }\n"
        "type ApiKey { id: ID! }"
    )
    assert non_null_lookups(before) == ["Query.apiKey"]


def test_lookups_are_drawn_from_the_schema() -> None:
    assert {"apiKey", "webhookSubscription", "spaceAnalytics", "space", "node"} <= set(LOOKUPS)


def _document(name: str) -> str:
    field = SERVED.query_type.fields[name]  # type: ignore[union-attr]
    arg = _id_argument(field)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    # other required arguments (spaceRevisionDiff's revision numbers) get a plain value
    others = "".join(
        f", {other}: 1"
        for other, a in field.args.items()
        if other != arg and is_non_null_type(a.type) and str(a.type) == "Int!"
    )
    return f"query($id: ID!) {{ viewer {{ kind }} {name}({arg}: $id{others}){selection} }}"


# the ID a lookup is given, by case: (type named in the ID or None for malformed, code)
WRONG_IDS = {
    "unknown": ("its own", "NOT_FOUND"),
    "another type": ("Tenant", "NOT_FOUND"),
    "malformed": (None, "INVALID_ID"),
}


def _wrong_id(name: str, type_name: str | None) -> str:
    if type_name is None:
        return "not-an-id"
    if type_name == "its own":
        # spaceAnalytics takes a space's ID; node any type's
        type_name = {"spaceAnalytics": "Space", "node": "Space", "spaceRevisionDiff": "Space"}.get(
            name, name[0].upper() + name[1:]
        )
    return encode_id(type_name, uuid.uuid4())


@pytest.mark.parametrize("wrong", sorted(WRONG_IDS))
@pytest.mark.parametrize("name", LOOKUPS)
async def test_a_wrong_id_nulls_only_its_own_field(api, new_tenant, read_path, name, wrong) -> None:
    # given an owner, who may read every lookup
    tenant = await new_tenant()
    type_name, code = WRONG_IDS[wrong]
    # when one lookup is given a wrong ID beside `viewer`
    result = await api(tenant.token)(_document(name), {"id": _wrong_id(name, type_name)})
    # then that field alone is null, with its code at its own path
    assert result["data"] == {"viewer": {"kind": "member"}, name: None}, result
    assert [(e["path"], e["extensions"]["code"]) for e in result["errors"]] == [([name], code)]
