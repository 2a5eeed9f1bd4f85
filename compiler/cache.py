"""The compiled read path's entry: plan (cached), run, and report what it answered."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.values import VariableValues

from compiler.catalog import Catalog, SchemaFacts, build_catalog, install
from compiler.collect import Collector, Unsupported
from compiler.context import Authz
from compiler.plan import plan_context, plan_operation
from compiler.run import Answer, assemble, params
from compiler.shapes import Inputs, Plan, RootPlan
from compiler.variables import Variables
from compiler.writes import WritePlan, WritePlanner, write_values
from core.auth import Principal
from core.errors import ApiError

log = logging.getLogger("microspace.compiler")
MAX_PLANS = 2048
UNSUPPORTED = object()


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    values: list[Any]
    needs_sql: bool
    # root lookups whose ID did not decode: null and this error (compiler/run.py assemble)
    failed: dict[str, Exception]


# principals compiled: a widget key's and a visitor's narrower view is compiler/audience.py
COMPILED_KINDS = frozenset({"member", "partner", "subject", "widget", "visitor"})


class CompiledReads:
    """Plans by (document, operation, policy identity, variable shape); None = unsupported."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.schema: GraphQLSchema | None = None
        self._plans: dict[Hashable, Any] = {}
        self.compiled = 0  # requests answered here
        self.fallbacks = 0  # query requests left to the resolver path
        self.reasons: Counter[str] = Counter()  # why plans were not made, by first cause
        # documents answered here once, by (text, operation name): microspace/lane/lane.py
        self._known: dict[tuple[str, str | None], DocumentNode] = {}

    def bind(self, schema: GraphQLSchema, facts: SchemaFacts) -> None:
        """Plan for `schema`, from what it declares (schema/declared.py)."""
        self.schema = schema
        self.catalog: Catalog = build_catalog(schema, facts)
        install(self.catalog)
        self._variables = Variables(schema)

    async def execute(
        self,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        ctx: Any,
    ) -> Answer | None:
        """The answer if this path gives it, else None (nothing was recorded)."""
        if not self.enabled or self.schema is None:
            return None
        # an unauthenticated caller is refused at every root the compiler knows, without SQL
        if ctx.principal.authenticated and ctx.principal.kind not in COMPILED_KINDS:
            return None
        answer = await self._answer(document, query, operation_name, raw_variables, ctx)
        if answer is None:
            self.fallbacks += 1
            return None
        ctx.redactions.extend(answer.redactions)
        for subject, field in answer.reads:
            ctx.audit.read(subject, field)
        self.compiled += 1
        if not answer.errors:
            self.learn(query, operation_name, document)
        return answer

    def learn(self, query: str, operation_name: str | None, document: DocumentNode) -> None:
        """Remember a document this path answered after the resolver path's checks (limits,
        validation as a member or partner key): microspace/lane/lane.py answers it again
        without them."""
        if (query, operation_name) in self._known:
            return
        if len(self._known) >= MAX_PLANS:
            self._known.clear()
        self._known[(query, operation_name)] = document
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(ops) == 1:
            # a lone operation runs whether or not the request names it
            self._known[(query, None)] = document

    def known(self, query: str, operation_name: str | None) -> DocumentNode | None:
        return self._known.get((query, operation_name))

    def _operation(
        self,
        document: DocumentNode,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        kind: OperationType,
    ) -> tuple[OperationDefinitionNode, VariableValues] | None:
        """The operation of this kind and its coerced variables; None when the document has
        none, or the variables are bad (the resolver path reports them)."""
        assert self.schema is not None
        op = _operation(document, operation_name)
        if op is None or op.operation is not kind:
            return None
        coerced = self._variables.coerce(op, raw_variables or {})
        return None if isinstance(coerced, list) else (op, coerced)

    def prepare(
        self,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        principal: Principal,
        authz: Authz,
        settings: Any,
    ) -> Prepared | None:
        """The plan and its statement's parameters, or None (the resolver path answers)."""
        found = self._operation(document, operation_name, raw_variables, OperationType.QUERY)
        if found is None:
            return None
        op, coerced = found
        variables = coerced.coerced
        pages = (settings.default_page_size, settings.max_page_size)
        plan = self._plan(document, query, op, variables, authz, principal, pages)
        if plan is None:
            return None
        inputs = Inputs(variables, *pages)
        inputs.principal = principal
        try:
            values = params(plan, principal.tenant_id, inputs)
        except ApiError as why:
            failing = _failing_list(plan, inputs)
            if failing is not None:
                return Prepared(failing, [], False, {})
            self.reasons[f"input: {type(why).__name__}"] += 1
            return None  # e.g. an invalid cursor in a nested page: the resolver path's error
        except Unsupported as why:
            self.reasons[f"input: {type(why).__name__}"] += 1
            return None  # e.g. an invalid ID or page size: the resolver path's error
        # only `__typename` at the root: nothing to ask the database
        needs_sql = any(r.typename is None and r.denied is None for r in plan.roots)
        return Prepared(plan, values, needs_sql, inputs.failed)

    def prepare_write(
        self,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        principal: Principal,
        authz: Authz,
    ) -> tuple[WritePlan, list[Any]] | None:
        """A mutation's one-statement plan (compiler/writes.py) and its parameters, or None."""
        schema = self.schema
        assert schema is not None
        found = self._operation(document, operation_name, raw_variables, OperationType.MUTATION)
        if found is None:
            return None
        op, coerced = found
        variables = coerced.coerced
        plan = self._cached(
            ("write", authz.identity()),
            document,
            query,
            op,
            variables,
            lambda c: WritePlanner(schema, c, authz, variables, catalog=self.catalog).mutation(op),
        )
        if not isinstance(plan, WritePlan):
            return None
        try:
            return plan, write_values(plan, coerced, principal.tenant_id, principal.kind)
        except (Unsupported, ApiError):
            return None

    async def _answer(
        self,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        ctx: Any,
    ) -> Answer | None:
        prepared = self.prepare(
            document, query, operation_name, raw_variables, ctx.principal, ctx.authz, ctx.settings
        )
        if prepared is None:
            return None
        plan = prepared.plan
        row = await ctx.db.fetch_row(plan.sql, prepared.values) if prepared.needs_sql else ()
        passthrough = getattr(ctx, "json_passthrough", True)
        return assemble(plan, row, passthrough, prepared.failed)

    def _plan(
        self,
        document: DocumentNode,
        query: str,
        op: OperationDefinitionNode,
        variables: dict[str, Any],
        authz: Authz,
        principal: Principal,
        pages: tuple[int, int],
    ) -> Plan | None:
        schema, catalog = self.schema, self.catalog
        assert schema is not None
        # an unauthenticated caller's error depends on why its credential was refused; a
        # page size written in the query may be over the maximum
        identity = (authz.identity(), principal.rejected, principal.refusal, pages)
        plan = self._cached(
            identity,
            document,
            query,
            op,
            variables,
            lambda c: plan_operation(
                plan_context(schema, catalog, c, authz, variables, principal, pages), op
            ),
        )
        return plan if isinstance(plan, Plan) else None

    def _cached(
        self,
        identity: Hashable,
        document: DocumentNode,
        query: str,
        op: OperationDefinitionNode,
        variables: dict[str, Any],
        build: Callable[[Collector], Any],
    ) -> Any:
        """The plan of (document, operation, policy identity, variable shape), made once;
        UNSUPPORTED (with its reason counted) when the planner declines."""
        assert self.schema is not None
        shape = tuple(
            (d.variable.name.value, _tag(variables, d.variable.name.value))
            for d in op.variable_definitions or ()
        )
        key = (query, op.name.value if op.name else None, identity, shape)
        plan = self._plans.get(key)
        if plan is None:
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            try:
                plan = build(Collector(self.schema, fragments, variables))
            except Unsupported as why:
                log.debug("not compiled: %s", why)
                self.reasons[str(why)] += 1
                plan = UNSUPPORTED
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def forget(self) -> None:
        """Drop every plan (and so every decision taken while planning)."""
        self._plans.clear()


def _failing_list(plan: Plan, inputs: Inputs) -> Plan | None:
    """The answer when a root list's own argument failed (an invalid cursor or page size),
    as a plan without SQL; None if other roots ask the database (a failing non-null root
    cancels them, and what they reported by then depends on timing)."""
    if inputs.listing_error is None:
        return None
    key, exc = inputs.listing_error
    roots = []
    for root in plan.roots:
        if root.key == key and root.nodes is not None:
            roots.append(RootPlan(key, root.nullable, denied=(lambda: exc, root.nodes)))
        elif root.typename is None and root.denied is None:
            return None
        else:
            roots.append(root)
    return Plan(sql="", params=[], checks=[], roots=roots)


def _tag(variables: dict[str, Any], name: str) -> Hashable:
    if name not in variables:
        return "absent"
    value = variables[name]
    if value is None or isinstance(value, bool):
        return value
    return "set"


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((o for o in ops if o.name and o.name.value == name), None)
