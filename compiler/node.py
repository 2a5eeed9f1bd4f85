"""`node(id)`: the object of any compiled type by its global ID (resolvers/node.py).

The ID's type is known only per request, once the parameters are made: the plan holds one
subquery per compiled type and the statement sent holds the one its ID names
(`shapes.Choice`). As the resolver does: a malformed ID is
INVALID_ID, a type `node` cannot fetch NOT_FOUND, a type the caller may not read
FORBIDDEN, a missing row NOT_FOUND. A node type the compiler does not plan leaves the
request to the resolver path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLField, GraphQLObjectType

from compiler import sql
from compiler.collect import Unsupported, argument
from compiler.context import PlanContext
from compiler.objects import object_json
from compiler.shapes import Choice, Inputs, Shape
from core.errors import ApiError, Forbidden, NotFound
from core.ids import parse_id


@dataclass(frozen=True)
class Typed:
    """The lookup of one node type: its JSON and audit from `source`, rows `alias`."""

    json: sql.Parts
    aud: str | None
    source: str
    alias: str
    shape: Shape
    params: range  # the parameters its SQL made (indexes into `PlanContext.params`)


def node_root(
    ctx: PlanContext, field_def: GraphQLField, key: str, nodes: list[FieldNode]
) -> tuple[list[str], list[str], bool, dict[str, Shape]]:
    """(LATERAL joins, columns: JSON, audit and the type the ID named, audited, redaction
    shape by type)."""
    first = len(ctx.params)
    planned, refused = _typed(ctx, nodes)
    made = range(first, len(ctx.params))  # every type's, and those of a type given up
    get_id = argument(field_def, nodes[0], "id")
    schema = ctx.schema

    def row_id(i: Inputs) -> Any:
        try:
            type_name, row = parse_id(get_id(i.variables))
        except ApiError as exc:
            i.failed[key] = exc
            return None
        if type_name in planned:
            i.chosen[key] = type_name
            return row
        if type_name in refused:
            i.failed[key] = Forbidden(refused[type_name])
            return None
        graphql_type = schema.get_type(type_name)
        if isinstance(graphql_type, GraphQLObjectType) and any(
            n.name == "Node" for n in graphql_type.interfaces
        ):
            raise Unsupported(f"node of type {type_name}")
        i.failed[key] = NotFound()
        return None

    id_param = ctx.param(row_id, "uuid")
    type_param = ctx.param(lambda i: i.chosen.get(key), "text")
    if not planned:
        raise Unsupported("node: no type planned")
    # one LATERAL per lookup (a LATERAL per type made each lookup that many relations to
    # join, and planning grew faster than the lookups). LIMIT 1: a one-row branch is still
    # estimated as a row each, and ten lookups of five as 5^10 rows, past the JIT threshold.
    audited = any(typed.aud is not None for typed in planned.values())
    alias = ctx.alias("r")
    token = f"/*node {alias}*/"
    branches = {
        type_name: f"SELECT ({typed.json})::text AS j, {typed.aud or 'NULL::text'} AS a "
        f"{typed.source} AND {typed.alias}.id = {id_param} AND {type_param} = '{type_name}'"
        for type_name, typed in planned.items()
    }
    texts: dict[str | None, str] = {}
    for type_name in [*branches, None]:
        # the parameters of the other types' branches are sent all the same: each is named
        # in a branch that yields nothing, so that it has a type
        used = planned[type_name].params if type_name is not None else range(0)
        unused = [f"${i + 2}::{ctx.casts[i]}" for i in made if i not in used]
        refs = ", ".join(unused if type_name is not None else [*unused, id_param])
        nothing = "SELECT NULL::text AS j, NULL::text AS a WHERE false"
        nothing += f" AND ({refs}) IS NULL" if refs else ""
        if type_name is None:
            texts[None] = nothing
        else:
            texts[type_name] = branches[type_name] + (f" UNION ALL {nothing}" if refs else "")
    ctx.choices.append(Choice(token, key, texts))
    joins = [f"LEFT JOIN LATERAL ({token} LIMIT 1) {alias} ON true"]
    columns = [f"{alias}.j", f"{alias}.a" if audited else "NULL", type_param]
    shapes = {name: typed.shape for name, typed in planned.items()}
    return joins, columns, audited, shapes


def _typed(ctx: PlanContext, nodes: list[FieldNode]) -> tuple[dict[str, Typed], dict[str, str]]:
    """The lookup of every compiled node type the caller may read and whose selection the
    compiler plans; the FORBIDDEN message of each it may not read."""
    planned: dict[str, Typed] = {}
    refused: dict[str, str] = {}
    for type_name, policy in ctx.catalog.node_policies.items():
        message = ctx.denied((policy, "read"))
        if message is not None:
            refused[type_name] = message
            continue
        target = ctx.seen(ctx.catalog.types[type_name])
        t = ctx.alias("t")
        shape = Shape()
        first = len(ctx.params)
        try:
            json, aud, inner = object_json(
                ctx, target, t, ctx.collector.fields(type_name, nodes), shape
            )
        except Unsupported:
            continue  # this type's selection: the resolver path, when asked for
        source = f"FROM {target.table} {t} {' '.join(inner)} WHERE {t}.tenant_id = $1"
        planned[type_name] = Typed(json, aud, source, t, shape, range(first, len(ctx.params)))
    return planned, refused
