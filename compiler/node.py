"""`node(id)`: the object of any compiled type by its global ID (resolvers/node.py).

The ID's type is known only per request, so the statement holds one lookup per compiled
type and the parameters enable at most one. As the resolver does: a malformed ID is
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
from compiler.shapes import Inputs, Shape
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


def node_root(
    ctx: PlanContext, field_def: GraphQLField, key: str, nodes: list[FieldNode]
) -> tuple[list[str], list[str], bool, dict[str, Shape]]:
    """(LATERAL joins, columns: JSON, audit and the type the ID named, audited, redaction
    shape by type)."""
    planned, refused = _typed(ctx, nodes)
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
    joins, jsons, auds = [], [], []
    for type_name, typed in planned.items():
        alias = ctx.alias("r")
        joins.append(
            f"LEFT JOIN LATERAL (SELECT {typed.json} AS j, {typed.aud or 'NULL'} AS a "
            f"{typed.source} AND {typed.alias}.id = {id_param} "
            f"AND {type_param} = '{type_name}') {alias} ON true"
        )
        jsons.append(f"{alias}.j")
        if typed.aud is not None:
            auds.append(f"{alias}.a")
    if not planned:
        raise Unsupported("node: no type planned")
    json_column = f"coalesce({', '.join(jsons)})::text" if len(jsons) > 1 else f"{jsons[0]}::text"
    aud_column = f"coalesce({', '.join(auds)})" if auds else "NULL"
    shapes = {name: typed.shape for name, typed in planned.items()}
    return joins, [json_column, aud_column, type_param], bool(auds), shapes


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
        try:
            json, aud, inner = object_json(
                ctx, target, t, ctx.collector.fields(type_name, nodes), shape
            )
        except Unsupported:
            continue  # this type's selection: the resolver path, when asked for
        source = f"FROM {target.table} {t} {' '.join(inner)} WHERE {t}.tenant_id = $1"
        planned[type_name] = Typed(json, aud, source, t, shape)
    return planned, refused
