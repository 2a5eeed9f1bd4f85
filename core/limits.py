"""Document limits: depth, aliases, directives, tokens, characters, cost, NUL bytes.

Strawberry's own limiters (QueryDepthLimiter, MaxAliasesLimiter, MaxTokensLimiter) do the
counting; this module gives their errors a stable `extensions.code` with the limit's value,
and adds what strawberry lacks: a directive limit, a character limit, cost analysis before
execution, introspection and field suggestions per principal, and a NUL-byte check.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
    visit,
)
from graphql.error import GraphQLSyntaxError
from graphql.language import Visitor
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension

from core.config import Settings
from core.errors import is_expected

PAGE_ARGUMENTS = ("first", "last")
_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


def limit_error(code: str, message: str, limit: Any, **extensions: Any) -> GraphQLError:
    """A request refused by a limit: the code names the limit, `limit` carries its value."""
    return GraphQLError(message, extensions={"code": code, "limit": limit, **extensions})


@dataclass(frozen=True)
class Limits:
    max_depth: int = 8
    max_aliases: int = 15
    max_directives: int = 50
    max_tokens: int = 2000
    max_document_chars: int = 15_000
    max_cost: int = 5000
    max_validation_work: int = 20_000
    default_page_size: int = 20
    max_page_size: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_directives=settings.max_directives,
            max_tokens=settings.max_tokens,
            max_document_chars=settings.max_document_chars,
            max_cost=settings.max_cost,
            max_validation_work=settings.max_validation_work,
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
        )


# -- validation rules: built once per schema, so ValidationCache can key on them ------------


class _CodedContext:
    """A ValidationContext whose reported errors carry a limit's code and value."""

    def __init__(self, context: ValidationContext, code: str, limit: int) -> None:
        self._context = context
        self._code = code
        self._limit = limit

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(
            GraphQLError(
                error.message,
                error.nodes,
                extensions={"code": self._code, "limit": self._limit},
            )
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _coded(rule: type[ValidationRule], code: str, limit: int) -> type[ValidationRule]:
    """Wrap a strawberry limiter's rule (which does its work in `__init__`) to add a code."""

    class Coded(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            rule(_CodedContext(context, code, limit))  # type: ignore[arg-type]
            super().__init__(context)

    Coded.__name__ = f"{rule.__name__}Coded"
    return Coded


def directive_limit_rule(limit: int) -> type[ValidationRule]:
    class DirectiveLimit(ValidationRule):
        """At most `limit` directives in one document (strawberry has no such limiter)."""

        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            self.count += 1

        def leave_document(self, *_: Any) -> None:
            if self.count > limit:
                self.report_error(
                    limit_error(
                        "DIRECTIVE_LIMIT",
                        f"{self.count} directives found; at most {limit} are allowed.",
                        limit,
                    )
                )

    return DirectiveLimit


class HiddenIntrospection(NoSchemaIntrospectionCustomRule):
    """Introspection refused (for callers that are not members or partner keys)."""

    reported = False

    def report_error(self, error: GraphQLError) -> None:
        if not self.reported:
            self.reported = True
            super().report_error(
                GraphQLError(
                    "Introspection is not available to this caller.",
                    error.nodes,
                    extensions={"code": "INTROSPECTION_DISABLED"},
                )
            )


def static_rules(limits: Limits) -> list[type[ValidationRule]]:
    depth = QueryDepthLimiter(max_depth=limits.max_depth).validation_rules[0]
    aliases = MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules[0]
    return [
        _coded(depth, "DEPTH_LIMIT", limits.max_depth),
        _coded(aliases, "ALIAS_LIMIT", limits.max_aliases),
        directive_limit_rule(limits.max_directives),
    ]


# -- cost analysis ------------------------------------------------------------------------


class CostAnalysis:
    """Cost of a document: object 2, scalar 1, a field with `first` multiplies its subtree.

    Other list fields multiply by the default page size; the list fields of a connection
    (`edges`) are already counted by its `first`. Also counts the fields the document
    expands to. Fragments are costed once per (type, context): repeated spreads cannot make
    this explode, and the expanded count lets us refuse such documents before validation
    (whose fragment walks are not memoised) ever sees them.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.variables = variables or {}
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.operations = [
            d for d in document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        self.memo: dict[tuple[str, str, bool], tuple[int, int]] = {}
        self.active: set[str] = set()

    def total(self) -> tuple[int, int]:
        """(cost, expanded field count) of every operation in the document."""
        cost = fields = 0
        for operation in self.operations:
            root = self.schema.get_root_type(operation.operation)
            c, f = self.selections(operation.selection_set, root, False)
            cost, fields = cost + c, fields + f
        return cost, fields

    def selections(
        self, selection_set: SelectionSetNode | None, parent: Any, in_connection: bool
    ) -> tuple[int, int]:
        cost = fields = 0
        if selection_set is None:
            return 0, 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                c, f = self.field(selection, parent, in_connection)
            elif isinstance(selection, InlineFragmentNode):
                target = self.type_of(selection, parent)
                c, f = self.selections(selection.selection_set, target, in_connection)
            elif isinstance(selection, FragmentSpreadNode):
                c, f = self.spread(selection.name.value, parent, in_connection)
            else:  # pragma: no cover
                continue
            cost, fields = cost + c, fields + f
        return cost, fields

    def spread(self, name: str, parent: Any, in_connection: bool) -> tuple[int, int]:
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:  # unknown or circular: validation says so
            return 0, 0
        target = self.type_of(fragment, parent)
        key = (name, getattr(target, "name", ""), in_connection)
        if key not in self.memo:
            self.active.add(name)
            self.memo[key] = self.selections(fragment.selection_set, target, in_connection)
            self.active.discard(name)
        return self.memo[key]

    def type_of(self, node: InlineFragmentNode | FragmentDefinitionNode, parent: Any) -> Any:
        if node.type_condition is None:
            return parent
        return self.schema.get_type(node.type_condition.name.value) or parent

    def field(self, node: FieldNode, parent: Any, in_connection: bool) -> tuple[int, int]:
        name = node.name.value
        base = 2 if node.selection_set is not None else 1
        definition = None
        if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            definition = parent.fields.get(name)
        if name.startswith("__") or definition is None:
            # meta fields cost nothing (bounded by the schema; introspection is for trusted
            # callers); unknown fields fail validation, but still count as expanded fields
            c, f = self.selections(node.selection_set, None, False)
            return (0 if name.startswith("__") else base + c), 1 + f
        page = self.page_size(node, definition)
        if page is not None:
            # max(.., 1): `first: 0` must not hide a subtree from the count
            multiplier = max(page, 1)
        elif is_list_type(get_nullable_type(definition.type)) and not in_connection:
            multiplier = self.limits.default_page_size
        else:
            multiplier = 1
        target = get_named_type(definition.type)
        c, f = self.selections(node.selection_set, target, page is not None)
        return multiplier * (base + c), 1 + f

    def page_size(self, node: FieldNode, definition: Any) -> int | None:
        """The page size a paginated field will use; the same rules as `page_request`."""
        names = [a for a in PAGE_ARGUMENTS if a in definition.args]
        if not names:
            return None
        size = None
        for argument in node.arguments or ():
            if argument.name.value not in names:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                size = int(value.value)
            elif isinstance(value, VariableNode):
                raw = self.variables.get(value.name.value)
                if isinstance(raw, int) and not isinstance(raw, bool):
                    size = raw
        if size is None:
            return self.limits.default_page_size
        if size < 0:
            raise GraphQLError(
                f"`{names[0]}` must not be negative.",
                node,
                extensions={"code": "BAD_USER_INPUT", "argument": names[0]},
            )
        if size > self.limits.max_page_size:
            raise GraphQLError(
                f"`{names[0]}` may be at most {self.limits.max_page_size}; "
                "page through larger lists with `after`.",
                node,
                extensions={
                    "code": "PAGE_SIZE_LIMIT",
                    "argument": names[0],
                    "limit": self.limits.max_page_size,
                },
            )
        return size


# -- NUL bytes ----------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class _NulFinder(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if "\x00" in node.value:
            self.found = True
            return Visitor.BREAK
        return None


def reject_nul(document: DocumentNode, variables: dict[str, Any] | None) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: refuse it before anything runs."""
    finder = _NulFinder()
    visit(document, finder)
    if finder.found or any("\x00" in s for s in _strings(variables)):
        raise GraphQLError(
            "Strings may not contain the NUL character (U+0000).",
            extensions={"code": "BAD_USER_INPUT"},
        )


# -- the per-request extension --------------------------------------------------------------


def is_trusted(context: Any) -> bool:
    """Members and partner keys may introspect and see suggestions; nobody else may."""
    principal = getattr(context, "principal", None)
    return bool(principal and principal.authenticated and principal.kind in ("member", "partner"))


def annotate(error: GraphQLError, trusted: bool) -> GraphQLError:
    """Give an expected error a code; strip "Did you mean" for untrusted callers."""
    if not is_expected(error):
        return error  # masked later, logged with its trace
    extensions = dict(error.extensions or {})
    message = error.message
    if "code" not in extensions:
        if isinstance(error, GraphQLSyntaxError) or error.message.startswith("Syntax Error"):
            if "tokens" in error.message:
                extensions.update(code="TOKEN_LIMIT")
            else:
                extensions["code"] = "GRAPHQL_PARSE_FAILED"
        elif error.message == "Validation aborted.":
            # graphql-core ran out of its comparison budget (MAX_COMPLEXITY_BUDGET)
            extensions["code"] = "VALIDATION_WORK_LIMIT"
        elif error.message.startswith("Variable '$"):
            extensions["code"] = "BAD_USER_INPUT"
        elif error.path is None:
            extensions["code"] = "GRAPHQL_VALIDATION_FAILED"
    if not trusted:
        message = _SUGGESTION.sub("", message)
    if message == error.message and extensions == (error.extensions or {}):
        return error
    return GraphQLError(
        message,
        error.nodes,
        error.source,
        error.positions,
        error.path,
        error.original_error,
        extensions,
    )


class QueryLimits(SchemaExtension):
    """Per-request limits; create one per request (pass a factory to the schema)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.cost = 0
        self.deferred: GraphQLError | None = None

    def on_operation(self) -> Iterator[None]:
        ec = self.execution_context
        trusted = is_trusted(ec.context)
        if ec.query is not None and len(ec.query) > self.limits.max_document_chars:
            raise limit_error(
                "DOCUMENT_SIZE_LIMIT",
                f"The document has {len(ec.query)} characters; "
                f"at most {self.limits.max_document_chars} are allowed.",
                self.limits.max_document_chars,
            )
        if not trusted:
            ec.validation_rules = (*ec.validation_rules, HiddenIntrospection)
        try:
            yield
        except GraphQLError as error:
            raise self._token_limit(annotate(error, trusted)) from None
        result = ec.result
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [self._token_limit(annotate(e, trusted)) for e in errors]  # type: ignore[union-attr]

    def _token_limit(self, error: GraphQLError) -> GraphQLError:
        code = (error.extensions or {}).get("code")
        if code == "TOKEN_LIMIT":
            error.extensions["limit"] = self.limits.max_tokens  # type: ignore[index]
        elif code == "VALIDATION_WORK_LIMIT":
            error.extensions["limit"] = self.limits.max_validation_work  # type: ignore[index]
        return error

    def on_parse(self) -> Iterator[None]:
        yield
        ec = self.execution_context
        document = ec.graphql_document
        if document is None:
            return  # a syntax error: already reported
        reject_nul(document, ec.variables)
        analysis = CostAnalysis(ec.schema._schema, document, ec.variables, self.limits)
        try:
            self.cost, fields = analysis.total()
        except GraphQLError as error:
            # a bad page size: reported after validation, which may have more to say
            self.deferred = error
            return
        if fields > self.limits.max_cost:
            # every field costs at least 1: refuse before validation walks the expansion
            raise self._cost_error(max(self.cost, fields))

    def on_validate(self) -> Iterator[None]:
        yield
        ec = self.execution_context
        if ec.pre_execution_errors:
            return
        if self.deferred is not None:
            raise self.deferred
        if self.cost > self.limits.max_cost:
            raise self._cost_error(self.cost)
        # the rate limit counts cost, so many aliases or big pages in one document cost more
        request = getattr(ec.context, "request", None)
        charge = getattr(getattr(request, "state", None), "charge_cost", None)
        if charge is not None:
            charge(self.cost)

    def _cost_error(self, cost: int) -> GraphQLError:
        return limit_error(
            "COST_LIMIT",
            f"The query would cost {cost}; at most {self.limits.max_cost} is allowed. "
            "Ask for smaller pages (`first`) or fewer nested lists.",
            self.limits.max_cost,
            cost=cost,
        )
