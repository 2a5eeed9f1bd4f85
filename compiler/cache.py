"""The compiled read path's entry: plan (cached), run, and report what it answered."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
)
from graphql.execution.values import VariableValues

from compiler.catalog import Catalog, SchemaFacts, build_catalog, install
from compiler.collect import PARAMETRIC, Collector, Parametric, Unsupported, _plain
from compiler.context import Authz
from compiler.learned import NODE_BYTES, Found, Learned, LearnedDocuments
from compiler.plan import plan_context, plan_operation
from compiler.respell import respell
from compiler.run import Answer, assemble, params
from compiler.shapes import Inputs, Plan, RootPlan
from compiler.sql import KEY_MARK
from compiler.variables import Variables
from compiler.writes import WritePlan, WritePlanner, write_values
from core.auth import Principal
from core.errors import ApiError
from core.limits import Limits
from core.tenant_cache import TenantCache, document_key

log = logging.getLogger("microspace.compiler")
UNSUPPORTED = object()
# a plan holds its SQL and the nodes of the document it was made from (NODE_BYTES a
# character of its text)
MiB = 1 << 20
PLAN_BYTES = 8192  # a plan's closures and parts besides its SQL, about


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    values: list[Any]
    needs_sql: bool
    # root lookups whose ID did not decode: null and this error (compiler/run.py assemble)
    failed: dict[str, Exception]
    # the plan was made from this very document: its errors locate its nodes
    exact: bool = True
    sql: str = ""  # the statement (`Plan.statement`: the `node(id)` lookups' types chosen)


@dataclass(frozen=True, slots=True)
class WriteForm:
    """What `prepare_write` made of a mutation document for one policy identity: enough to
    make another request's parameters (`write_again`)."""

    plan: WritePlan
    op: OperationDefinitionNode
    variables_key: Hashable  # the operation's key of variable shapes (`_operation`)
    names: tuple[str, ...]  # its variables, in order
    shape: tuple[Hashable, ...]  # their tags (`_tag`) when the plan was made: a plan's key


# principals compiled: a widget key's and a visitor's narrower view is compiler/audience.py
COMPILED_KINDS = frozenset({"member", "partner", "subject", "widget", "visitor", "preview"})


class CompiledReads:
    """Plans by (document, operation, policy identity, variable shape); None = unsupported."""

    def __init__(self, enabled: bool = True, limits: Limits | None = None) -> None:
        self.enabled = enabled
        # the limits the whole way checks on the text itself, which another spelling of a
        # learned document must pass too (compiler/learned.py)
        self.limits = limits or Limits()
        self.schema: GraphQLSchema | None = None
        # by tenant and normalised document (core/tenant_cache.py); each entry is (plan,
        # the document it was made from)
        self._plans: TenantCache[tuple[Any, DocumentNode]] = TenantCache("plans", 8192, 64 * MiB)
        self.compiled = 0  # requests answered here
        self.fallbacks = 0  # query requests left to the resolver path
        self.shared = 0  # plans of a shape served with other literals (`_shared`)
        self.reasons: Counter[str] = Counter()  # why plans were not made, by first cause
        # documents answered here once: microspace/lane/lane.py answers them again
        self._known = LearnedDocuments(self.limits)
        # every cache of this path and the lane's, for /metrics (core/metrics.py)
        self.caches: list[TenantCache[Any]] = [self._known.cache, self._plans]
        # caches of what plans decided (microspace/lane/lane.py): dropped with them
        self.derived: list[TenantCache[Any]] = []

    def bind(self, schema: GraphQLSchema, facts: SchemaFacts) -> None:
        """Plan for `schema`, from what it declares (schema/declared.py)."""
        self.schema = schema
        self.catalog: Catalog = build_catalog(schema, facts)
        install(self.catalog)
        self._variables = Variables(schema)
        self._known.schema = schema
        self.caches.append(self._variables.shapes)

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
        for items in answer.reads:
            ctx.audit.read_items(items)
        self.compiled += 1
        if not answer.errors:
            self.learn(query, operation_name, document, ctx.principal.tenant_id)
        return answer

    def learn(
        self, query: str, operation_name: str | None, document: DocumentNode, tenant: Hashable
    ) -> None:
        """Remember a document this path answered after the resolver path's checks (limits,
        validation as a member or partner key): microspace/lane/lane.py answers it again,
        and other spellings of it (compiler/learned.py), without them."""
        self._known.learn(query, operation_name, document, tenant)

    def known(self, query: str, operation_name: str | None, tenant: Hashable) -> Found | None:
        return self._known.known(query, operation_name, tenant)

    def cost_key(self, query: str, found: Found) -> Hashable:
        """The key of a cache of a text's cost, for `found` by `known` (compiler/learned.py
        `key`): a new alias finds it, and so do new literals but page sizes (the cost
        reads no other literal, core/limits/cost.py)."""
        return self._known.key(query, found, literals=None)

    def _operation(
        self,
        found: Found,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        kind: OperationType,
        tenant: Hashable,
    ) -> tuple[OperationDefinitionNode, VariableValues] | None:
        """The operation of this kind and its coerced variables; None when the document has
        none, or the variables are bad (the resolver path reports them)."""
        assert self.schema is not None
        # the learned form's operation: its copy's has the same kind, name and variables,
        # but a default may hold a literal of the text's own
        op = _operation(found.form, operation_name)
        if op is None or op.operation is not kind:
            return None
        if found.read is not None and any(
            d.default_value is not None for d in op.variable_definitions or ()
        ):
            op = _operation(found.document, operation_name) or op
        # the variables' shapes are the operation's: neither aliases nor literals change them
        key = (self._known.key(query, found, literals=False), operation_name)
        coerced = self._variables.coerce(op, raw_variables or {}, tenant, key)
        return None if isinstance(coerced, list) else (op, coerced)

    def prepare(
        self,
        document: DocumentNode | Found,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        principal: Principal,
        authz: Authz,
        settings: Any,
        fresh: bool = False,
    ) -> Prepared | None:
        """The plan and its statement's parameters, or None (the resolver path answers).
        `document`: parsed from `query`, or found for it (`known`)."""
        found = document if isinstance(document, Found) else Found(document)
        operation = self._operation(
            found, query, operation_name, raw_variables, OperationType.QUERY, principal.tenant_id
        )
        if operation is None:
            return None
        op, coerced = operation
        variables = coerced.coerced
        pages = (settings.default_page_size, settings.max_page_size)
        shared = None if fresh else self._shared(found, op, variables, authz, principal, pages)
        if shared is not None:
            plan, literals = shared
            exact = False
            inputs = Inputs({**variables, **literals}, *pages)
        else:
            if found.read is not None:  # planned from the copy, its own operation
                op = _operation(found.document, operation_name) or op
            made = self._plan(found.document, query, op, variables, authz, principal, pages, fresh)
            if made is None:
                return None
            plan, exact = made
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
        return Prepared(
            plan, values, needs_sql, inputs.failed, exact, plan.statement(inputs.chosen)
        )

    def prepare_write(
        self,
        found: Found,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        principal: Principal,
        authz: Authz,
        request_id: str | None = None,
    ) -> tuple[WriteForm, list[Any]] | None:
        """A mutation's one-statement plan (compiler/writes.py) in its form for this
        document and policy identity, and its parameters; or None. `request_id`: what an
        audited write's entry names."""
        schema = self.schema
        assert schema is not None
        tenant = principal.tenant_id
        operation = self._operation(
            found, query, operation_name, raw_variables, OperationType.MUTATION, tenant
        )
        if operation is None:
            return None
        op, coerced = operation
        document = found.document
        if found.read is not None:  # the copy's operation holds the text's literals
            op = _operation(document, operation_name) or op
        variables = coerced.coerced
        plan, _ = self._cached(
            tenant,
            ("write", authz.identity()),
            document,
            query,
            op,
            variables,
            lambda c: WritePlanner(schema, c, authz, variables, catalog=self.catalog).mutation(op),
        )
        if not isinstance(plan, WritePlan):
            return None
        names = tuple(d.variable.name.value for d in op.variable_definitions or ())
        form = WriteForm(
            plan,
            op,
            (self._known.key(query, found, literals=False), operation_name),
            names,
            tuple(_tag(variables, n) for n in names),
        )
        values = _write_values(plan, coerced, principal, request_id)
        return None if values is None else (form, values)

    def write_again(
        self,
        form: WriteForm,
        raw_variables: dict[str, Any] | None,
        principal: Principal,
        request_id: str | None = None,
    ) -> list[Any] | None:
        """The parameters of a request of a form `prepare_write` made for the same document,
        operation and policy identity: as `prepare_write` makes them, without finding the
        operation and its plan again; None when the variables do not coerce or take
        another plan (`_cached`'s shape), or the form refuses them."""
        coerced = self._variables.coerce(
            form.op, raw_variables or {}, principal.tenant_id, form.variables_key
        )
        if isinstance(coerced, list):
            return None
        variables = coerced.coerced
        if tuple(_tag(variables, n) for n in form.names) != form.shape:
            return None
        return _write_values(form.plan, coerced, principal, request_id)

    async def _answer(
        self,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, Any] | None,
        ctx: Any,
    ) -> Answer | None:
        args = (document, query, operation_name, raw_variables, ctx.principal, ctx.authz)
        prepared = self.prepare(*args, ctx.settings)
        if prepared is None:
            return None
        plan = prepared.plan
        row = await ctx.db.fetch_row(prepared.sql, prepared.values) if prepared.needs_sql else ()
        passthrough = getattr(ctx, "json_passthrough", True)
        answer = assemble(plan, row, passthrough, prepared.failed)
        if answer is not None and answer.errors and not prepared.exact:
            # the plan was made from another spelling of this document: its errors would
            # locate that text's nodes; the same plan made from this one locates them here
            again = self.prepare(*args, ctx.settings, fresh=True)
            if again is None or again.sql != prepared.sql or again.values != prepared.values:
                return None
            answer = assemble(again.plan, row, passthrough, again.failed)
        return answer

    def _plan(
        self,
        document: DocumentNode,
        query: str,
        op: OperationDefinitionNode,
        variables: dict[str, Any],
        authz: Authz,
        principal: Principal,
        pages: tuple[int, int],
        fresh: bool,
    ) -> tuple[Plan, bool] | None:
        """The plan, and whether it was made from this very document."""
        schema, catalog = self.schema, self.catalog
        assert schema is not None
        # an unauthenticated caller's error depends on why its credential was refused; a
        # page size written in the query may be over the maximum
        identity = (authz.identity(), principal.rejected, principal.refusal, pages)
        plan, made_from = self._cached(
            principal.tenant_id,
            identity,
            document,
            query,
            op,
            variables,
            lambda c: plan_operation(
                plan_context(schema, catalog, c, authz, variables, principal, pages), op
            ),
            fresh,
        )
        return (plan, made_from is document) if isinstance(plan, Plan) else None

    def _shared(
        self,
        found: Found,
        op: OperationDefinitionNode,
        variables: dict[str, Any],
        authz: Authz,
        principal: Principal,
        pages: tuple[int, int],
    ) -> tuple[Plan, dict[str, Any]] | None:
        """For a copy of a learned document with other literals (compiler/learned.py), the
        plan made once for its shape with those literals as statement parameters, and their
        values by slot; None when there is none (the copy is planned as any document).

        Made from the learned document, each literal read per request from the variables
        (compiler/collect.py Parametric); not shared when the planner read a literal's value
        while planning (a root filter, a cursor, `last`: the plan depends on it), or a
        literal is not an argument's whole value (in a list, an object, a default)."""
        learned, read = found.learned, found.read
        if learned is None or read is None:
            return None
        at, was = learned.slots, learned.shape
        assert at is not None and was is not None and self.schema is not None
        # other aliases: one plan whose response keys are marks, renamed per request
        # (Plan.keys); as learned: the plan with them (no renaming to do)
        aliased = read.aliases != was.aliases
        typed = [(i, t) for i, t in enumerate(at.types) if t is not None]
        fixed = tuple(read.literals[i] for i, t in enumerate(at.types) if t is None)
        identity = (authz.identity(), principal.rejected, principal.refusal, pages)
        shape = tuple(
            (d.variable.name.value, _tag(variables, d.variable.name.value))
            for d in op.variable_definitions or ()
        )
        name = op.name.value if op.name else None
        key = ("shape", read.key, None if aliased else was.aliases, fixed, name, identity, shape)
        tenant = principal.tenant_id
        kept = self._plans.get(tenant, key)
        if kept is None:
            plan = self._parametric(learned, name, variables, authz, principal, pages, aliased)
            kept = (plan, learned.document)
            # the document is the learned one's (kept there): the plan's SQL and closures
            size = PLAN_BYTES + 2 * len(getattr(plan, "sql", ""))
            self._plans.put(tenant, key, kept, size)
        plan = kept[0]
        if not isinstance(plan, Plan):
            return None
        self.shared += 1
        literals = [n for n in at.nodes if not isinstance(n, FieldNode)]
        values = {}
        for i, _type in typed:
            # a String where an Int was learned (an ID's): another argument, not shared
            if (read.literals[i][0] == '"') is not isinstance(literals[i], StringValueNode):
                return None
            values[f"\x00{i}"] = _plain(found.values[i])
        if aliased:
            marks = _marks(was.aliases)
            keys = {marks[old]: new for old, new in zip(was.aliases, read.aliases, strict=True)}
            plan = plan.renamed(keys)
        return plan, values

    def _parametric(
        self,
        learned: Learned,
        name: str | None,
        variables: dict[str, Any],
        authz: Authz,
        principal: Principal,
        pages: tuple[int, int],
        aliased: bool,
    ) -> Any:
        """The plan of a learned document with its literals as parameters (and its aliases
        as marks when `aliased`), or UNSUPPORTED."""
        schema, catalog = self.schema, self.catalog
        assert schema is not None and learned.slots is not None and learned.shape is not None
        at, document = learned.slots, learned.document
        if aliased:
            # the same document with a mark for each response key an alias makes: the
            # literal nodes stay the learned ones (their slots are found by identity)
            marks = _marks(learned.shape.aliases)
            named = tuple(marks[a] for a in learned.shape.aliases)
            document = respell(document, at, named, learned.shape.literals) or document
            if document is learned.document:
                return UNSUPPORTED
        op = _operation(document, name)
        literals = [n for n in at.nodes if not isinstance(n, FieldNode)]
        slots = {id(literals[i]): f"\x00{i}" for i, t in enumerate(at.types) if t is not None}
        if op is None or not (slots or aliased):
            return UNSUPPORTED
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        making = Parametric(slots)
        token = PARAMETRIC.set(making)
        try:
            collector = Collector(schema, fragments, variables)
            ctx = plan_context(schema, catalog, collector, authz, variables, principal, pages)
            plan = plan_operation(ctx, op)
        except Unsupported:
            return UNSUPPORTED
        finally:
            PARAMETRIC.reset(token)
        if making.read or making.used != set(slots.values()):
            return UNSUPPORTED
        return plan

    def _cached(
        self,
        tenant: Hashable,
        identity: Hashable,
        document: DocumentNode,
        query: str,
        op: OperationDefinitionNode,
        variables: dict[str, Any],
        build: Callable[[Collector], Any],
        fresh: bool = False,
    ) -> tuple[Any, DocumentNode]:
        """The plan of (document, operation, policy identity, variable shape), made once
        per tenant, and the document it was made from; UNSUPPORTED (with its reason counted)
        when the planner declines. `fresh`: made from this text, and not kept."""
        assert self.schema is not None
        shape = tuple(
            (d.variable.name.value, _tag(variables, d.variable.name.value))
            for d in op.variable_definitions or ()
        )
        key = (document_key(query), op.name.value if op.name else None, identity, shape)
        found = None if fresh else self._plans.get(tenant, key)
        if found is not None:
            return found
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        try:
            plan = build(Collector(self.schema, fragments, variables))
        except Unsupported as why:
            log.debug("not compiled: %s", why)
            self.reasons[str(why)] += 1
            plan = UNSUPPORTED
        if not fresh:
            size = NODE_BYTES * len(query) + len(getattr(plan, "sql", ""))
            self._plans.put(tenant, key, (plan, document), size)
        return plan, document

    def forget(self) -> None:
        """Drop every plan (and so every decision taken while planning)."""
        self._plans.clear()
        for cache in self.derived:
            cache.clear()


def _marks(aliases: tuple[str, ...]) -> dict[str, str]:
    """A mark for each distinct alias (equal aliases make one response key)."""
    marks: dict[str, str] = {}
    for alias in aliases:
        marks.setdefault(alias, f"{KEY_MARK}{len(marks)}{KEY_MARK}")
    return marks


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


def _write_values(
    plan: WritePlan, coerced: VariableValues, principal: Principal, request_id: str | None
) -> list[Any] | None:
    try:
        return write_values(plan, coerced, principal.tenant_id, principal.kind, request_id)
    except (Unsupported, ApiError):
        return None


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
