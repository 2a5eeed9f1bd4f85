"""The hook that lets the compiled read path answer a query before graphql-core executes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from compiler import CompiledReads


def _error_order(error: GraphQLError) -> list[tuple[int, Any]]:
    return [(0, k) if isinstance(k, int) else (1, k) for k in error.path or ()]


class CompiledExecution(SchemaExtension):
    """After parsing, validation and the limits: if the compiler answers, execution is skipped
    (strawberry runs graphql-core only when no extension has set a result)."""

    def __init__(self, reads: CompiledReads) -> None:
        self.reads = reads

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        ctx = ec.context
        if (
            self.reads.enabled
            and ctx is not None
            and ec.graphql_document is not None
            and ec.operation_type is OperationType.QUERY
            and ec.query is not None
        ):
            answer = await self.reads.execute(
                ec.graphql_document, ec.query, ec.operation_name, ec.variables, ctx
            )
            if answer is not None:
                ec.result = ExecutionResult(data=answer.data, errors=answer.errors or None)
        yield
        result = ec.result
        if (
            ec.operation_type is OperationType.MUTATION
            and ctx is not None
            and ec.graphql_document is not None
            and ec.query is not None
            and getattr(ctx.principal, "kind", None) in ("member", "partner")
            and result is not None
            and not result.errors
        ):
            # validated and within the limits: the fast lane may plan it (compiler/writes.py)
            tenant = ctx.principal.tenant_id
            self.reads.learn(ec.query, ec.operation_name, ec.graphql_document, tenant)
        # one order whatever resolved first (errors of sibling list entries finish in any
        # order on the resolver path): both read paths report the same list
        errors = getattr(result, "errors", None)
        if errors and len(errors) > 1:
            errors.sort(key=_error_order)
