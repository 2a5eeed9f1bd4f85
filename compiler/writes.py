"""Compiled writes: a mutation the fast lane answers in one statement (microspace/lane/lane.py).

A mutation document whose only root field has a write plan here (today `blockUpdate`, the
most frequent write of a frontend) runs as one statement, in one round trip: it sets the
tenant, checks the credential, writes the row, records its domain event and builds the
payload's JSON from the returned row. Anything the resolver would answer otherwise (an
unknown or foreign ID, a body invalid for the block's kind, a denied field) writes nothing
here and goes the whole way, which then answers with its error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import OperationDefinitionNode
from graphql.execution.values import VariableValues, get_argument_values

from compiler import sql
from compiler.catalog import TYPES
from compiler.collect import Unsupported
from compiler.plan import Planner
from compiler.shapes import Shape
from core.ids import decode_id
from store.blocks import ARGUMENTS, update_values

# `app_block_update` (migration 0021), the resolver's write too (store/blocks.py): given
# the credential, it scopes itself to the tenant and checks that the credential still
# stands for the principal the lane remembers (`{who}`) before it writes; the payload's
# JSON is built here from the row it returns
BLOCK_UPDATE = (
    "SELECT r.same, CASE WHEN (r.block).id IS NOT NULL THEN "
    "(SELECT {payload} FROM (SELECT (r.block).*) AS u {joins}) END AS j "
    f"FROM app_block_update($1, {ARGUMENTS}, {{who}}::jsonb, {{auth}}) AS r"
)


@dataclass(frozen=True)
class WritePlan:
    key: str  # the root field's response key
    # `{auth}` stands where the credential's parameter goes, `{who}` the principal's
    # (microspace/lane/lane.py `_principal_json`)
    sql: str
    input: Callable[[VariableValues], dict[str, Any]]  # coerced variables -> the input


class WritePlanner(Planner):
    def mutation(self, op: OperationDefinitionNode) -> WritePlan:
        mutation_type = self.schema.mutation_type
        assert mutation_type is not None
        selected = self.collector.fields(mutation_type.name, [op.selection_set])
        if len(selected) != 1:
            raise Unsupported("a mutation of several root fields")
        ((key, nodes),) = selected.items()
        if len(nodes) != 1 or nodes[0].name.value != "blockUpdate":
            raise Unsupported("a mutation without a write plan")
        if self.denied(("Block", "update")) is not None:
            raise Unsupported("a denied mutation")
        node = nodes[0]
        payload_type = "BlockPayload"
        pairs: list[tuple[str, sql.Piece]] = []
        joins: list[str] = []
        for out_key, out_nodes in self.collector.fields(payload_type, [node]).items():
            name = out_nodes[0].name.value
            expr: sql.Piece
            if name == "__typename":
                expr = sql.Raw(f'"{payload_type}"')
            elif name == "userErrors":
                expr = sql.Raw("[]")
            elif name == "block":
                shape = Shape()
                block_fields = self.collector.fields("Block", out_nodes)
                expr, aud, inner = self.object(TYPES["Block"], "u", block_fields, shape)
                if shape or aud is not None:
                    raise Unsupported("a payload with personal or denied fields")
                joins.extend(inner)
            else:
                raise Unsupported(f"{payload_type}.{name}")
            pairs.append((out_key, expr))
        if self.params or self.checks:
            # nested pages take parameters of their own: not in a write's fixed numbering
            raise Unsupported("a payload with parameters")
        text = BLOCK_UPDATE.format(
            auth="{auth}",
            who="{who}",
            # JSON text (compiler/sql.py) holds braces: the text is formatted once more
            payload=_braces(str(sql.json_object(pairs))),
            joins=_braces(" ".join(joins)),
        )
        field_def = mutation_type.fields["blockUpdate"]

        def input_of(variables: VariableValues) -> dict[str, Any]:
            data = get_argument_values(field_def, node, variables).get("input")
            if not isinstance(data, dict):
                raise Unsupported("input")
            return data

        return WritePlan(key, text, input_of)


def write_values(
    plan: WritePlan, variables: VariableValues, tenant_id: Any, actor: str
) -> list[Any]:
    """The statement's parameters: the body for every kind it is valid for, and the event;
    Unsupported or an API error (the whole way answers) when the input is not good."""
    data = plan.input(variables)
    values = update_values(decode_id(str(data.get("id")), "Block"), data.get("body"), actor)
    if values is None:
        raise Unsupported("a body valid for no kind")
    return [tenant_id, *values]


def _braces(text: str) -> str:
    """Text kept as is by a later str.format."""
    return text.replace("{", "{{").replace("}", "}}")
