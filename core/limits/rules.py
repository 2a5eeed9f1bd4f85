"""The limits of a document and the validation rules that enforce them (depth, aliases,
directives, introspection); each error carries a stable code and the limit's value."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    ValidationContext,
    ValidationRule,
    visit,
)
from graphql.language import Visitor
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from core.config import Settings


def limit_error(code: str, message: str, limit: Any, **extensions: Any) -> GraphQLError:
    """A request refused by a limit: the code names the limit, `limit` carries its value."""
    return GraphQLError(message, extensions={"code": code, "limit": limit, **extensions})


@dataclass(frozen=True)
class Limits:
    """The settings the document limits read; defaults are the settings' own (`Settings`)."""

    max_depth: int = Settings.max_depth
    max_aliases: int = Settings.max_aliases
    max_directives: int = Settings.max_directives
    max_tokens: int = Settings.max_tokens
    max_document_chars: int = Settings.max_document_chars
    max_cost: int = Settings.max_cost
    max_nodes: int = Settings.max_nodes
    max_validation_work: int = Settings.max_validation_work
    default_page_size: int = Settings.default_page_size
    max_page_size: int = Settings.max_page_size

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


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


def _coded(rule: type[ASTValidationRule], code: str, limit: int) -> type[ValidationRule]:
    """Wrap a strawberry limiter's rule (which does its work in `__init__`) to add a code."""

    class Coded(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            rule(_CodedContext(context, code, limit))  # type: ignore[arg-type]
            super().__init__(context)

    Coded.__name__ = f"{rule.__name__}Coded"
    return Coded


class _DirectiveCounter(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.repeated: str | None = None  # the first name written twice at one place

    def enter_directive(self, *_: Any) -> None:
        self.count += 1

    def enter(self, node: Any, *_: Any) -> None:
        directives = getattr(node, "directives", None)
        if self.repeated is None and directives:
            names = [d.name.value for d in directives]
            self.repeated = next((n for n in names if names.count(n) > 1), None)


def check_directives(document: DocumentNode, limit: int) -> None:
    """At most `limit` directives in one document (strawberry has no such limiter), and
    none written twice at one location.

    Counted on the parsed document, before validation: validating every unknown directive
    first would answer one error per directive (graphql-cop's Directive Overloading).
    """
    counter = _DirectiveCounter()
    visit(document, counter)
    if counter.count > limit:
        raise limit_error(
            "DIRECTIVE_LIMIT",
            f"{counter.count} directives found; at most {limit} are allowed.",
            limit,
        )
    if counter.repeated is not None:
        # no directive of this schema is repeatable: `@aa@aa@aa` is refused in one error
        raise limit_error(
            "DIRECTIVE_REPEATED",
            f"The directive @{counter.repeated[:50]} is written more than once at one place; "
            "a directive may appear at most once per location.",
            1,
        )


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


def static_rules(limits: Limits) -> list[type[ASTValidationRule]]:
    depth = QueryDepthLimiter(max_depth=limits.max_depth).validation_rules[0]
    aliases = MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules[0]
    return [
        _coded(depth, "DEPTH_LIMIT", limits.max_depth),
        _coded(aliases, "ALIAS_LIMIT", limits.max_aliases),
    ]
