"""Bad page arguments written in a query, known while planning, and what they null.

The resolver path raises a nested connection's page error (store/pagination.py
page_request) as its resolver starts: a nullable connection is null with the error at every
parent, a non-null one (`Space.blocks`) nulls the object holding it, and graphql-core nulls
the nearest nullable ancestor. Only literal arguments are known here: a variable's value is
checked per request, and its error leaves the query to the resolver path.
"""

from __future__ import annotations

from graphql import FieldNode, GraphQLField, GraphQLObjectType, VariableNode, is_non_null_type

from compiler.catalog import Children, Keyset, TableType, ToOne
from compiler.collect import PARAMETRIC, Fields, Unsupported, argument
from compiler.context import PlanContext
from compiler.shapes import Failure
from core.errors import ApiError, Forbidden
from store.pagination import page_request

PAGE_ARGUMENTS = ("first", "after", "last", "before")


def page_error(
    ctx: PlanContext, field_def: GraphQLField, nodes: list[FieldNode], keyset: Keyset
) -> ApiError | None:
    """The error a nested connection's page arguments raise on the resolver path when
    the query spells them out, else None."""
    given = [a for a in nodes[0].arguments or () if a.name.value in PAGE_ARGUMENTS]
    making = PARAMETRIC.get()
    if ctx.pages is None or any(
        isinstance(a.value, VariableNode) or (making is not None and making.holds(a.value))
        for a in given
    ):
        return None  # checked per request (compiler/connections.py `first`), as a variable
    first, after, last, before = (
        argument(field_def, nodes[0], name)(ctx.variables) for name in PAGE_ARGUMENTS
    )
    default, maximum = ctx.pages
    try:
        page_request(
            first,
            after,
            keyset.order,
            default=default,
            maximum=maximum,
            last=last,
            before=before,
        )
    except ApiError as exc:
        return exc
    return None


def failure(ctx: PlanContext, t: TableType, fields: Fields) -> list[Failure] | None:
    """The errors when a non-null field of this object fails on its own page arguments
    (graphql-core then nulls the object), else None.

    Relations fail as their resolvers start: the nullable ones (denied, bad page
    arguments) report, every sibling starts before the first non-null failure nulls the
    object, and the rest are cancelled while they wait for the database. A non-null
    object below fails after its row is loaded: with no other relation beside it."""
    graphql_type = ctx.schema.get_type(t.name)
    assert isinstance(graphql_type, GraphQLObjectType)
    started: list[Failure] = []
    first: Failure | None = None
    below: list[list[Failure]] = []
    waiting = 0
    for key, nodes in fields.items():
        name = nodes[0].name.value
        rel = t.relations.get(name)
        if rel is None:
            continue
        field_def = graphql_type.fields[name]
        message = ctx.denied(rel.permission)
        if message is not None:
            started.append(((key,), Forbidden(message), nodes))
            continue
        required = is_non_null_type(field_def.type)
        exc = page_error(ctx, field_def, nodes, rel.keyset) if isinstance(rel, Children) else None
        if exc is not None and not required:
            started.append(((key,), exc, nodes))
        elif exc is not None:
            first = first or ((key,), exc, nodes)
        elif isinstance(rel, ToOne) and required:
            target = ctx.catalog.types[rel.target]
            inner = failure(ctx, target, ctx.collector.fields(target.name, nodes))
            if inner is not None:
                below.append([((key, *rest), e, n) for rest, e, n in inner])
            else:
                waiting += 1
        else:
            waiting += 1
    if first is not None:
        return [*started, first]
    if not below:
        return None
    if len(below) > 1 or waiting:
        # which of them reports first depends on when their rows arrive
        raise Unsupported("a failing object beside other relations")
    return [*started, *below[0]]
