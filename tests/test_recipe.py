"""The recipe for a domain (docs/adding-a-domain.md) holds for every domain.

Invariants guarded here, read from the built schema so a new domain is covered the day it
is added:
- every `Node` type either declares the policy object and by-id loader `node(id)` uses, and
  both exist, or is listed below as not fetchable by `node(id)`;
- every type with a personal-data field names its audit subject (`subject_pk`);
- every mutation user error implements the shared `UserError` interface.
"""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLObjectType

from core.limits import Limits
from schema.build import build_schema
from schema.node import Node, fetchable_node_types
from schema.personal_data import Redact
from store.loaders import Loaders

ROOT = Path(__file__).resolve().parent.parent
# nodes reachable only through their own lists (they are the tenant's records, not content)
NOT_FETCHABLE_BY_NODE = {"AuditEntry", "PolicyRule"}

SCHEMA = build_schema(limits=Limits())


def _policy_objects() -> set[str]:
    with (ROOT / "policies" / "policy.csv").open() as f:
        return {row[3].strip() for row in csv.reader(f) if row and row[0].strip() == "p"}


def _node_types() -> dict[str, type[Any]]:
    found = {}
    for name, entry in SCHEMA.schema_converter.type_map.items():
        origin = getattr(getattr(entry, "definition", None), "origin", None)
        if isinstance(origin, type) and issubclass(origin, Node) and origin is not Node:
            found[name] = origin
    return found


def test_every_node_type_declares_how_node_fetches_it() -> None:
    fetchable = fetchable_node_types()
    loaders = Loaders(db=None)  # type: ignore[arg-type]  # loaders query only when loading
    objects = _policy_objects()
    for name, cls in _node_types().items():
        if name in NOT_FETCHABLE_BY_NODE:
            assert name not in fetchable
            continue
        assert name in fetchable, f"{name}: declare node_policy and node_loader"
        assert hasattr(loaders, cls.node_loader), f"{name}: no loader {cls.node_loader}"
        assert any(o == cls.node_policy or o.startswith(f"{cls.node_policy}.") for o in objects)


def _personal_types() -> dict[str, type[Any]]:
    found = {}
    for name, entry in SCHEMA.schema_converter.type_map.items():
        definition = getattr(entry, "definition", None)
        fields = getattr(definition, "fields", None) or []
        if any(isinstance(e, Redact) for f in fields for e in f.extensions):
            found[name] = definition.origin
    return found


def test_every_type_with_personal_fields_names_its_audit_subject() -> None:
    types = _personal_types()
    assert {"Contact", "Consent", "ConsentEvent", "SpaceAccess", "SubjectRequest"} <= set(types)
    for name, cls in types.items():
        assert "subject_pk" in {*getattr(cls, "__annotations__", {}), *dir(cls)}, name


def test_the_subject_walk_can_fail() -> None:
    @strawberry.type
    class Leaky:
        pk: strawberry.Private[uuid.UUID]

    assert "subject_pk" not in {*Leaky.__annotations__, *dir(Leaky)}


def test_every_user_error_implements_the_interface() -> None:
    graphql_schema = SCHEMA._schema
    errors = [
        t
        for name, t in graphql_schema.type_map.items()
        if name.endswith("UserError") and isinstance(t, GraphQLObjectType)
    ]
    assert len(errors) >= 9
    for t in errors:
        assert [i.name for i in t.interfaces] == ["UserError"], t.name
        assert "code" in t.fields, t.name
