"""The per-request extension that applies every document limit and charges the cost."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    GraphQLError,
)
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from core.errors import is_expected
from core.limits.cost import CostAnalysis
from core.limits.inputs import reject_nul
from core.limits.rules import HiddenIntrospection, Limits, check_directives, limit_error
from core.outcome import RequestOutcome

_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)


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
        self.nodes = 0
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
        check_directives(document, self.limits.max_directives)
        analysis = CostAnalysis(ec.schema._schema, document, ec.variables, self.limits)
        try:
            self.cost, fields, self.nodes = analysis.totals()
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
        if self.nodes > self.limits.max_nodes:
            raise limit_error(
                "NODE_LIMIT",
                f"The response could hold {self.nodes} list entries; at most "
                f"{self.limits.max_nodes} are allowed. Ask for smaller pages (`first`) or fewer "
                "nested lists.",
                self.limits.max_nodes,
                nodes=self.nodes,
            )
        # the rate limit counts cost, so many aliases or big pages in one document cost more
        outcome = getattr(ec.context, "outcome", None)
        if isinstance(outcome, RequestOutcome):
            outcome.charge_cost(self.cost)

    def _cost_error(self, cost: int) -> GraphQLError:
        return limit_error(
            "COST_LIMIT",
            f"The query would cost {cost}; at most {self.limits.max_cost} is allowed. "
            "Ask for smaller pages (`first`) or fewer nested lists.",
            self.limits.max_cost,
            cost=cost,
        )
