"""The compiled read path's entry: plan (cached), run, and report what it answered."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Hashable
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.values import get_variable_values

from compiler.collect import Collector, Unsupported
from compiler.plan import Planner
from compiler.run import Answer, assemble, params
from compiler.shapes import Inputs, Plan
from core.errors import ApiError

log = logging.getLogger("microspace.compiler")
MAX_PLANS = 2048
UNSUPPORTED = object()
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

    def bind(self, schema: GraphQLSchema) -> None:
        self.schema = schema

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
        return answer

    async def _answer(
        self,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        ctx: Any,
    ) -> Answer | None:
        assert self.schema is not None
        op = _operation(document, operation_name)
        if op is None or op.operation is not OperationType.QUERY:
            return None
        coerced = get_variable_values(
            self.schema, op.variable_definitions or (), raw_variables or {}
        )
        if isinstance(coerced, list):
            return None  # the resolver path reports the variable errors
        variables = coerced.coerced
        plan = self._plan(document, query, op, variables, ctx)
        if plan is None:
            return None
        settings = ctx.settings
        inputs = Inputs(variables, settings.default_page_size, settings.max_page_size)
        inputs.principal = ctx.principal
        try:
            values = params(plan, ctx.principal.tenant_id, inputs)
        except (Unsupported, ApiError) as why:
            self.reasons[f"input: {type(why).__name__}"] += 1
            return None  # e.g. an invalid ID or page size: the resolver path's error
        # only `__typename` at the root: nothing to ask the database
        needs_sql = any(r.typename is None and r.denied is None for r in plan.roots)
        row = await ctx.db.fetch_row(plan.sql, values) if needs_sql else ()
        return assemble(plan, row, getattr(ctx, "json_passthrough", True), inputs.failed)

    def _plan(
        self,
        document: DocumentNode,
        query: str,
        op: OperationDefinitionNode,
        variables: dict[str, Any],
        ctx: Any,
    ) -> Plan | None:
        assert self.schema is not None
        shape = tuple(
            (d.variable.name.value, _tag(variables, d.variable.name.value))
            for d in op.variable_definitions or ()
        )
        principal = ctx.principal
        identity = (ctx.authz.identity(), principal.rejected, principal.refusal)
        key = (query, op.name.value if op.name else None, identity, shape)
        plan = self._plans.get(key)
        if plan is None:
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            collector = Collector(self.schema, fragments, variables)
            try:
                plan = Planner(self.schema, collector, ctx.authz, variables, principal).operation(
                    op
                )
            except Unsupported as why:
                log.debug("not compiled: %s", why)
                self.reasons[str(why)] += 1
                plan = UNSUPPORTED
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan if isinstance(plan, Plan) else None

    def forget(self) -> None:
        """Drop every plan (and so every decision taken while planning)."""
        self._plans.clear()

    def share(self) -> float:
        total = self.compiled + self.fallbacks
        return self.compiled / total if total else 0.0


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
