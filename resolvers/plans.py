"""The tenant's usage against its plan."""

from __future__ import annotations

from schema.context import Info
from schema.plans import ByteUsageLine, TenantUsage, UsageLine
from schema.scalars import ByteCount
from store.plans import PlanLimit, usage


def limit_message(info: Info, over: PlanLimit) -> str:
    """A plan refusal: the plan's name and figures only for those who may read the plan."""
    return over.message if info.context.authz.can("Plan", "read") else over.summary


async def get_tenant_usage(info: Info) -> TenantUsage:
    """Usage of each limited resource against the tenant's plan."""
    plan, counts = await usage(info.context.db)

    def line(resource: str) -> UsageLine:
        return UsageLine(
            used=counts[resource], limit=plan.limit(resource) if plan is not None else None
        )

    return TenantUsage(
        plan=plan.name if plan is not None else None,
        spaces=line("spaces"),
        contacts=line("contacts"),
        emails_this_month=line("emails_per_month"),
        api_keys=line("api_keys"),
        storage_bytes=ByteUsageLine(
            used=ByteCount(counts["storage_bytes"]),
            limit=None
            if plan is None or plan.max_storage_bytes is None
            else ByteCount(plan.max_storage_bytes),
        ),
    )
