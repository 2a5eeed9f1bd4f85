"""Before a mutation runs: its tenant's subscription, for `Can` to refuse writes after the end
(store/subscription_end.py, docs/privacy.md "After the subscription ends")."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class SubscriptionState(SchemaExtension):
    """Reads never ask (they stay allowed); a mutation asks once, before any field runs."""

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        ctx = ec.context
        try:
            mutation = ec.operation_type is OperationType.MUTATION
        except Exception:  # noqa: BLE001 - no single operation: the request fails later
            mutation = False
        subscriptions = getattr(ctx, "subscriptions", None)
        if mutation and subscriptions is not None and ctx.principal.tenant_id is not None:
            ctx.subscription = await subscriptions.get(ctx.db, ctx.principal)
        yield
