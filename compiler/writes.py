"""Compiled writes: a mutation the fast lane answers in one statement (microspace/lane/lane.py).

A mutation document whose only root field has a write form here (`WRITES`: the writes a
frontend sends most) runs as one statement, in one round trip: the SQL function the
resolver calls for the same write, given the principal and the credential, sets the
tenant, checks the credential, writes the row and records its domain event; the payload's
JSON is built here from the row it returns. Anything the resolver would answer otherwise
(an unknown or foreign ID, a value it refuses, a denied field, input this form does not
take) writes nothing here and goes the whole way, which then answers with its error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLInputObjectType,
    ObjectValueNode,
    OperationDefinitionNode,
    VariableNode,
    is_input_object_type,
    is_non_null_type,
    is_required_input_field,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Undefined
from graphql.utilities.coerce_input_value import coerce_default_value

from compiler import sql
from compiler.catalog import TYPES
from compiler.collect import Unsupported
from compiler.plan import Planner
from compiler.shapes import Shape
from core.ids import decode_id
from privacy import consent
from store import blocks, spaces
from store.block_bodies import BodyError, names_asset, validate_body
from store.events import event_payload

# `{call}` is a function of the shape migration 0024 `lane_write` makes: given the
# principal (`{who}`) and the credential (`{auth}`), it writes only for a principal the
# credential still stands for; `(same, <column>)` back. The row's columns as `u` by a lateral
# subquery PostgreSQL pulls up into the statement: the payload is no subplan of its own
# (bench/README.md, q3: -13 k instructions a statement); `j` is NULL when nothing was written
STATEMENT = (
    "SELECT r.same, CASE WHEN (r.{column}).id IS NOT NULL THEN {payload} END AS j "
    "FROM {call} AS r CROSS JOIN LATERAL (SELECT (r.{column}).*) AS u {joins}"
)


@dataclass(frozen=True)
class Write:
    """One mutation's write form."""

    permission: tuple[str, str]  # the root field's `Can`
    payload: str  # the payload type
    field: str  # the payload's object field, and the function's row column
    type: str  # that object's type
    call: str  # the function, its arguments after the tenant ($1) as `values` orders them
    keys: frozenset[str]  # the input fields this form takes (any other: the whole way)
    # (input, actor) -> the arguments after the tenant; None: the whole way answers
    values: Callable[[dict[str, Any], str], list[Any] | None]
    # the request's ID follows them: the function appends the audit entry the resolver's
    # request would (core/audit.py)
    audited: bool = False
    # sent in one statement with others that arrive meanwhile (microspace/lane/batches.py):
    # its function checks no deferred constraint, so it commits with others as it would alone
    together: bool = False


def _block_update(data: dict[str, Any], actor: str) -> list[Any] | None:
    if names_asset(data.get("body")):
        return None  # the asset is checked against the library: the whole way
    return blocks.update_values(decode_id(str(data.get("id")), "Block"), data.get("body"), actor)


def _block_add(data: dict[str, Any], actor: str) -> list[Any] | None:
    kind, body = data.get("kind"), data.get("body")
    if kind is None or body is None:
        return None  # the whole way names what is missing
    if names_asset(body):
        return None  # the asset is checked against the library: the whole way
    kind = str(getattr(kind, "value", kind))  # the enum's value (GraphQL checked it)
    try:
        valid = validate_body(kind, body)
    except BodyError:
        return None  # the whole way words the error
    space_id = decode_id(str(data.get("spaceId")), "Space")
    return blocks.add_values(space_id, kind, valid, data.get("position"), actor)


def _block_move(data: dict[str, Any], actor: str) -> list[Any] | None:
    return blocks.move_values(decode_id(str(data.get("id")), "Block"), data["position"], actor)


def _space_update(data: dict[str, Any], actor: str) -> list[Any] | None:
    space_id = decode_id(str(data.get("id")), "Space")
    return spaces.text_update_values(space_id, data.get("title"), data.get("description"), actor)


# migration 0049: the grant's arguments after the tenant (`_consent_grant`), then the request
CONSENT_GRANT_ARGUMENTS = (
    "$2::uuid, $3::uuid, $4::text, $5::text, $6::text, $7::text, $9::varchar, $8::jsonb"
)
# members only here (the differential tests cover them); any other grant: the whole way
GRANTING_KINDS = frozenset({"member"})


def _consent_grant(data: dict[str, Any], actor: str) -> list[Any] | None:
    """As resolvers/consent.py `grant_consent` writes it: None for input it refuses with
    user errors, or a principal it does not take here."""
    if actor not in GRANTING_KINDS:
        return None
    source = str(getattr(data.get("source"), "value", data.get("source")))
    purpose = str(getattr(data.get("purpose"), "value", data.get("purpose")))
    recorded = consent.grant_values(data.get("policyVersion"), data.get("evidence"), source)
    if recorded is None:
        return None
    contact_id = decode_id(str(data.get("contactId")), "Contact")
    event_id = uuid.uuid4()
    event = event_payload("consent.granted", event_id, ["consents"], actor)
    return [event_id, contact_id, purpose, source, *recorded, event]


WRITES = {
    # migration 0021, store/blocks.py
    "blockUpdate": Write(
        ("Block", "update"),
        "BlockPayload",
        "block",
        "Block",
        f"app_block_update($1, {blocks.ARGUMENTS}",
        frozenset({"id", "body"}),
        _block_update,
        together=True,
    ),
    # migration 0027, store/blocks.py; the typed `content` and a refused body: the whole way
    "blockAdd": Write(
        ("Block", "create"),
        "BlockPayload",
        "block",
        "Block",
        f"app_block_add($1, {blocks.ADD_ARGUMENTS}",
        frozenset({"spaceId", "kind", "body", "position"}),
        _block_add,
    ),
    # migration 0026, store/blocks.py; a position outside the space: the whole way
    "blockMove": Write(
        ("Block", "update"),
        "BlockPayload",
        "block",
        "Block",
        f"app_block_move($1, {blocks.MOVE_ARGUMENTS}",
        frozenset({"id", "position"}),
        _block_move,
    ),
    # migration 0024, store/spaces.py; a slug can collide: the whole way
    "spaceUpdate": Write(
        ("Space", "update"),
        "SpacePayload",
        "space",
        "Space",
        f"app_space_update($1, {spaces.TEXT_ARGUMENTS}",
        frozenset({"id", "title", "description"}),
        _space_update,
        together=True,
    ),
    # migration 0049, privacy/consent.py; user errors, personal fields in the payload, a
    # principal other than a member: the whole way
    "consentGrant": Write(
        ("Consent", "create"),
        "ConsentPayload",
        "event",
        "ConsentEvent",
        f"app_consent_grant($1, {CONSENT_GRANT_ARGUMENTS}",
        frozenset({"contactId", "purpose", "policyVersion", "source", "evidence"}),
        _consent_grant,
        audited=True,
    ),
}


@dataclass(frozen=True)
class WritePlan:
    key: str  # the root field's response key
    # `{auth}` stands where the credential's parameter goes, `{who}` the principal's
    # (microspace/lane/lane.py `_principal_json`)
    sql: str
    input: Callable[[VariableValues], dict[str, Any]]  # coerced variables -> the input
    write: Write
    # the payload holds a JSON column's text as PostgreSQL writes it (`{"a": 1}`): parse it
    # before answering, so the answer is compact like the resolver path's (compiler/run.py)
    loose: bool = False


class WritePlanner(Planner):
    def mutation(self, op: OperationDefinitionNode) -> WritePlan:
        mutation_type = self.schema.mutation_type
        assert mutation_type is not None
        selected = self.collector.fields(mutation_type.name, [op.selection_set])
        if len(selected) != 1:
            raise Unsupported("a mutation of several root fields")
        ((key, nodes),) = selected.items()
        write = WRITES.get(nodes[0].name.value)
        if len(nodes) != 1 or write is None:
            raise Unsupported("a mutation without a write plan")
        if self.denied(write.permission) is not None:
            raise Unsupported("a denied mutation")
        node = nodes[0]
        # the lane passes the payload's text on as it is: no marks in it (WritePlan.loose)
        self.ctx.mark_json = False
        pairs: list[tuple[str, sql.Piece]] = []
        joins: list[str] = []
        for out_key, out_nodes in self.collector.fields(write.payload, [node]).items():
            name = out_nodes[0].name.value
            expr: sql.Piece
            if name == "__typename":
                expr = sql.Raw(f'"{write.payload}"')
            elif name == "userErrors":
                expr = sql.Raw("[]")
            elif name == write.field:
                shape = Shape()
                fields = self.collector.fields(write.type, out_nodes)
                expr, aud, inner = self.object(TYPES[write.type], "u", fields, shape)
                if shape or aud is not None:
                    raise Unsupported("a payload with personal or denied fields")
                joins.extend(inner)
            else:
                raise Unsupported(f"{write.payload}.{name}")
            pairs.append((out_key, expr))
        if self.params or self.checks:
            # nested pages take parameters of their own: not in a write's fixed numbering
            raise Unsupported("a payload with parameters")
        text = STATEMENT.format(
            column=write.field,
            # JSON text (compiler/sql.py) holds braces: the text is formatted once more
            payload=_braces(str(sql.json_object(pairs))),
            joins=_braces(" ".join(joins)),
            call=write.call + ", {who}::jsonb, {auth})",
        )
        field_def = mutation_type.fields[node.name.value]
        quick = variables_input(field_def, node)

        def input_of(variables: VariableValues) -> dict[str, Any]:
            if quick is not None:
                found = quick(variables.coerced)
                if found is not None:
                    return found
            data = get_argument_values(field_def, node, variables).get("input")
            if not isinstance(data, dict):
                raise Unsupported("input")
            return data

        return WritePlan(key, text, input_of, write, loose=self.ctx.loose_json)


def write_values(
    plan: WritePlan,
    variables: VariableValues,
    tenant_id: Any,
    actor: str,
    request_id: str | None = None,
) -> list[Any]:
    """The statement's parameters; Unsupported or an API error (the whole way answers) when
    the input is not one this form writes (or an audited one has no request ID)."""
    data = plan.input(variables)
    if not {k for k, v in data.items() if v is not None} <= plan.write.keys:
        raise Unsupported("input this form does not take")
    values = plan.write.values(data, actor)
    if values is None:
        raise Unsupported("input the whole way answers")
    if plan.write.audited:
        if request_id is None:
            raise Unsupported("an audited write without its request")
        values = [*values, request_id]
    return [tenant_id, *values]


def variables_input(
    field_def: GraphQLField, node: FieldNode
) -> Callable[[dict[str, Any]], dict[str, Any] | None] | None:
    """For a field whose one argument `input` is an object literal of variables only
    (`blockUpdate(input: {id: $id, body: $body})`, as clients write mutations), the input
    as `get_argument_values` coerces it from the coerced variables, without its general
    walk: None when the field is not of that form, and the reader's None when a variable is
    missing or null where the field needs a value (the general walk then says why). An
    input type with `@oneOf`, another outbound type, other names or a default that is not
    a plain constant: None."""
    arguments = node.arguments or ()
    if set(field_def.args) != {"input"} or [a.name.value for a in arguments] != ["input"]:
        return None
    argument = field_def.args["input"]
    literal = arguments[0].value
    if argument.out_name not in (None, "input") or not isinstance(literal, ObjectValueNode):
        return None
    type_ = argument.type.of_type if is_non_null_type(argument.type) else argument.type
    if not is_input_object_type(type_) or type_.is_one_of:
        return None
    if type_.out_type is not GraphQLInputObjectType.out_type:
        return None
    given = {f.name.value: f.value for f in literal.fields}
    if len(given) != len(literal.fields) or not given.keys() <= type_.fields.keys():
        return None
    # per input field, in the type's order: (name, variable or None, non-null, required,
    # default or Undefined)
    steps: list[tuple[str, str | None, bool, bool, Any]] = []
    for name, field in type_.fields.items():
        default = coerce_default_value(field)
        if field.out_name not in (None, name) or not isinstance(default, PLAIN):
            return None  # a list or object default would be shared by every request
        value = given.get(name)
        required = is_required_input_field(field)
        if value is None:
            if required:
                return None
        elif not isinstance(value, VariableNode):
            return None
        variable = None if value is None else value.name.value
        steps.append((name, variable, is_non_null_type(field.type), required, default))

    def read(coerced: dict[str, Any]) -> dict[str, Any] | None:
        out = {}
        for name, variable, non_null, required, default in steps:
            value = Undefined if variable is None else coerced.get(variable, Undefined)
            if value is Undefined:  # not given, or a missing variable: the default, if any
                if required:
                    return None
                if default is not Undefined:
                    out[name] = default
                continue
            if value is None and non_null:
                return None
            out[name] = value
        return out

    return read


# defaults `variables_input` hands out as they are: immutable
PLAIN = (type(Undefined), type(None), str, int, float, bool)


def _braces(text: str) -> str:
    """Text kept as is by a later str.format."""
    return text.replace("{", "{{").replace("}", "}}")
