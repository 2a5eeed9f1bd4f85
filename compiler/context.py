"""The one state a plan is built in: what the planning functions read and add to.

Every planning function (compiler/plan.py, objects.py, connections.py, node.py,
consents.py, failures.py) takes a `PlanContext`: the schema and catalog, the caller's
decisions, the variables' shape, and what the statement collects as it grows (its
parameters, request-time checks, one alias counter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from graphql import GraphQLSchema

from compiler import sql
from compiler.audience import Audience
from compiler.catalog import Catalog, TableType
from compiler.collect import Collector, Fields
from compiler.shapes import Choice, Inputs, Param, Shape
from core.auth import Principal
from core.errors import ApiError
from policies.redaction import Decision
from store.audience import NARROWED

# a request-time condition for the plan to apply (else the resolver path answers)
Check = Callable[[Inputs], None]
# (JSON text, audit expression or None, LATERAL joins) of one row
ObjectSql = tuple[sql.Parts, str | None, list[str]]


class Authz(Protocol):
    """The decisions planning asks for, and what they depend on (policies/authz.py
    `Authorizer`)."""

    def can(self, obj: str, act: str) -> bool: ...

    def field_decision(self, obj: str) -> Decision: ...

    def identity(self) -> tuple[object, ...]: ...


class ObjectPlanner(Protocol):
    """compiler/objects.py `object_json`, handed in so connections can plan their nodes
    without an import circle."""

    def __call__(
        self, ctx: PlanContext, t: TableType, alias: str, fields: Fields, shape: Shape
    ) -> ObjectSql: ...


@dataclass
class PlanContext:
    schema: GraphQLSchema
    catalog: Catalog
    collector: Collector
    authz: Authz
    # only their shape (null or not, booleans) shapes the plan; values are read per request
    variables: dict[str, Any]
    plan_object: ObjectPlanner
    principal: Principal | None = None
    # the default and maximum page size: bad page arguments written in the query are
    # known while planning (compiler/failures.py)
    pages: tuple[int, int] | None = None
    params: list[Param] = field(default_factory=list)
    casts: list[str] = field(default_factory=list)  # each parameter's, as its SQL names it
    checks: list[Check] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)  # `node(id)` lookups' subqueries
    aliases: int = 0
    # the root list being planned, and how deep in relations: a bad argument of the root
    # list itself is an error the plan can answer (compiler/cache.py)
    listing: str | None = None
    nested: int = 0
    audience: Audience | None = field(init=False, default=None)
    # JSON columns' texts come marked, for compiler/run.py to write them compactly
    # (compiler/sql.py json_text); else as PostgreSQL writes them, and `loose_json` is set
    mark_json: bool = True
    loose_json: bool = False

    def __post_init__(self) -> None:
        kind = self.principal.kind if self.principal is not None else None
        if kind in NARROWED:
            self.audience = Audience(kind, self.param)

    def param(self, fn: Param, cast: str) -> str:
        """A statement parameter computed per request by `fn`, as `$n::cast`."""
        if self.listing is not None and self.nested == 0:
            fn = _own_argument(fn, self.listing)
        self.params.append(fn)
        self.casts.append(cast)
        return f"${len(self.params) + 1}::{cast}"  # $1 is the tenant

    def alias(self, prefix: str) -> str:
        self.aliases += 1
        return f"{prefix}{self.aliases}"

    def denied(self, permission: tuple[str, str] | None) -> str | None:
        """The FORBIDDEN message of `Can` (schema/permissions.py) if denied, else None."""
        if permission is None or self.authz.can(*permission):
            return None
        obj, act = permission
        return f"You may not {act} {obj}."

    def seen(self, t: TableType) -> TableType:
        """`t` as this caller may see it: a widget key or visitor reads fewer rows."""
        if self.audience is None:
            return t
        return replace(t, table=self.audience.table(t.table))


def _own_argument(fn: Param, key: str) -> Param:
    """`fn`, noting which root list's own argument failed (a page size, a cursor)."""

    def value(i: Inputs) -> Any:
        try:
            return fn(i)
        except ApiError as exc:
            i.listing_error = (key, exc)
            raise

    return value
