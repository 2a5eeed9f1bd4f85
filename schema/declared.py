"""What the schema declares of its fields, handed to the read compiler when it is built.

The compiler ranks below the schema and cannot import it; it reads these facts instead of
restating them: each field's `Can`, its `@personalData` category, whether it has a
resolver of its own, and each node type's policy object.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLObjectType

from compiler.catalog import Declared, SchemaFacts
from schema.node import Node
from schema.permissions import Can
from schema.personal_data import Redact


def schema_facts(schema: strawberry.Schema) -> SchemaFacts:
    """The declarations of every object type's fields, by GraphQL type and field name."""
    fields: dict[str, dict[str, Declared]] = {}
    node_policies: dict[str, str] = {}
    graphql_types = schema._schema.type_map
    for name, entry in schema.schema_converter.type_map.items():
        definition = getattr(entry, "definition", None)
        graphql_type = graphql_types.get(name)
        if definition is None or not isinstance(graphql_type, GraphQLObjectType):
            continue
        declared = {}
        for field in getattr(definition, "fields", None) or []:
            graphql_name = schema.config.name_converter.get_graphql_name(field)
            if graphql_name not in graphql_type.fields:
                continue  # strawberry.Private
            can = next((e for e in field.extensions if isinstance(e, Can)), None)
            redact = next((e for e in field.extensions if isinstance(e, Redact)), None)
            declared[graphql_name] = Declared(
                python_name=field.python_name,
                permission=(can.obj, can.act) if can is not None and can.obj else None,
                category=redact.category if redact is not None else None,
                resolved=field.base_resolver is not None,
            )
        fields[name] = declared
        origin = definition.origin
        if isinstance(origin, type) and issubclass(origin, Node) and origin.node_policy:
            node_policies[name] = origin.node_policy
    return SchemaFacts(fields, node_policies)
