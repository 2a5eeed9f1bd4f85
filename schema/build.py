"""The Schema, with its limits, caches and error masking."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation.rules import overlapping_fields_can_be_merged
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from compiler import CompiledReads
from core.db import is_unavailable
from core.errors import is_expected
from core.limits import Limits, QueryLimits, static_rules
from core.outcome import RequestOutcome
from schema.blocks import Block
from schema.compiled import CompiledExecution
from schema.declared import schema_facts
from schema.live import Subscription
from schema.personal_data import REASON, compile_redaction
from schema.root import Mutation, Query
from schema.scalars import SCALARS
from schema.spaces import Space
from schema.subscription_end import SubscriptionState

log = logging.getLogger("core.errors")


def _request_id(execution_context: ExecutionContext | None) -> str | None:
    context = getattr(execution_context, "context", None)
    return getattr(context, "request_id", None)


class MaskUnexpected(MaskErrors):
    """Unexpected errors reach the client as a generic message and the request id only."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda e: not is_expected(e))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        if context is not None:
            context.failed = True
            if is_unavailable(error.original_error):
                # the HTTP layer answers 503 SERVICE_UNAVAILABLE and logs one line
                context.unavailable = True
        return GraphQLError(
            message=f"Internal error. Quote request id {request_id} to the operator.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )


class MicrospaceSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # expected errors are answers, not incidents; log only what will be masked, with trace
        request_id = _request_id(execution_context)
        for error in errors:
            if not is_expected(error) and not is_unavailable(error.original_error):
                log.error(
                    "unexpected error in request %s at %s",
                    request_id,
                    error.path,
                    exc_info=error.original_error or error,
                )


class RedactionReport(SchemaExtension):
    """`extensions.redactions`: every personal field this response withheld, and why."""

    def get_results(self) -> dict[str, Any]:
        redactions = getattr(self.execution_context.context, "redactions", None)
        if not redactions:
            return {}
        return {"redactions": redaction_report(redactions)}


def redaction_report(redactions: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    """The `extensions.redactions` entries of (path, category) pairs, in one stable order."""
    # the fields of one row share their parent's path: build each parent's list once
    parents: dict[int, list[Any]] = {}
    report = []
    for path, category in redactions:
        parent = path.prev
        head = parents.get(id(parent))
        if head is None:
            head = parents[id(parent)] = parent.as_list() if parent is not None else []
        report.append({"path": [*head, path.key], "category": category, "reason": REASON})
    # one order whatever resolved first: both read paths give the same list
    report.sort(key=_path_order)
    return report


class OperationLabel(SchemaExtension):
    """Tell the HTTP layer which operation ran (name and type), for its metrics."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        context = ec.context
        if context is not None and hasattr(context, "operation"):
            try:
                kind = ec.operation_type.value
            except Exception:  # noqa: BLE001 - no single operation: the request fails later
                kind = "unknown"
            context.operation = (ec.operation_name, kind)
        yield


class ChargeSharedCost(SchemaExtension):
    """With a shared (Redis) rate limit, take the query's cost before it executes: the
    validation hook that computed it cannot wait on the network."""

    async def on_execute(self) -> AsyncIterator[None]:
        outcome = getattr(self.execution_context.context, "outcome", None)
        if isinstance(outcome, RequestOutcome):
            await outcome.charge_pending()
        yield


def _path_order(entry: dict[str, Any]) -> list[tuple[int, Any]]:
    return [(0, k) if isinstance(k, int) else (1, k) for k in entry["path"]]


CACHE_SIZE = 256


def build_schema(
    limits: Limits | None = None,
    extra_extensions: list[Any] | None = None,
    compiled_reads: bool = True,
) -> strawberry.Schema:
    limits = limits or Limits()
    # the compiled read path (compiler/): tried after the limits, before graphql-core runs
    reads = CompiledReads(enabled=compiled_reads, limits=limits)
    # graphql-core's documented knob (a module attribute, so per process): its default of
    # 500,000 lets ~450 repeated `viewer { kind }` fields hold the event loop for ~1 s;
    # the queries we know use under 1,000
    overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = limits.max_validation_work
    # rule classes are made once here: ValidationCache keys on them, and a fresh class per
    # request would never hit the cache
    rules = static_rules(limits)
    schema = MicrospaceSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Space, Block],
        config=StrawberryConfig(scalar_map=SCALARS),
        # factories, not instances: an extension instance holds one request's state
        extensions=[
            # tracing (microspace/web/tracing.py), when an endpoint is configured
            *(extra_extensions or []),
            # first: the character limit runs before anything parses
            lambda: QueryLimits(limits),
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: AddValidationRules(rules),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
            # before the compiled path: a shared rate limit refuses before any work is done
            OperationLabel,
            ChargeSharedCost,
            SubscriptionState,
            lambda: CompiledExecution(reads),
            RedactionReport,
            MaskUnexpected,
        ],
    )
    # the compiler plans from the schema's own declarations (permissions, personal data)
    reads.bind(schema._schema, schema_facts(schema))
    schema.compiled_reads = reads  # type: ignore[attr-defined]
    compile_redaction(schema)
    return schema
