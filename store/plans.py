"""Plan limits and usage: counted from aggregates of the tenant's rows, never from anyone's data.

A limit is checked where the thing is created, under a transaction-scoped advisory lock per
tenant and resource, so two concurrent requests cannot both take the last unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text

from core.db import Db
from models import ApiToken, Asset, Contact, OutboxMessage, Space, TenantPlan
from models.outbox import OutboxStatus
from models.plan import RESOURCES
from models.tenant import KEY_KINDS


@dataclass(frozen=True)
class PlanLimit:
    """Adding `adding` would take `resource` past the plan's `limit`."""

    plan: str
    resource: str
    limit: int
    used: int

    @property
    def message(self) -> str:
        name = self.resource.replace("_", " ")
        return (
            f"The {self.plan} plan allows {self.limit} {name}; {self.used} are in use. "
            "Ask the operator for a larger plan."
        )

    @property
    def summary(self) -> str:
        """The refusal without the plan's name or figures, for callers who may not read it."""
        name = self.resource.replace("_", " ")
        return (
            f"This account has reached its plan's limit for {name}. An owner or admin can see "
            "the plan and ask for a larger one."
        )


def _count_stmt(resource: str) -> Any:
    count = select(func.count())
    if resource == "spaces":
        return count.select_from(Space)
    if resource == "contacts":
        return count.select_from(Contact)
    if resource == "emails_per_month":
        # queued or sent this calendar month (UTC); cancelled e-mail never left
        return count.select_from(OutboxMessage).where(
            OutboxMessage.created_at >= func.date_trunc("month", func.now()),
            OutboxMessage.status != OutboxStatus.CANCELLED.value,
        )
    if resource == "api_keys":
        # partner and widget keys that still work (revoked or expired ones do not count)
        return count.select_from(ApiToken).where(
            ApiToken.kind.in_(KEY_KINDS),
            ApiToken.live(),
        )
    if resource == "storage_bytes":
        # the originals' bytes, pending uploads included (they hold their place)
        return select(func.coalesce(func.sum(Asset.byte_size), 0)).select_from(Asset)
    raise ValueError(f"unknown plan resource {resource!r}")


async def used(db: Db, resource: str) -> int:
    return int(await db.scalar(_count_stmt(resource)) or 0)


async def plan_of(db: Db) -> TenantPlan | None:
    plan: TenantPlan | None = await db.scalar(select(TenantPlan))
    return plan


async def check(db: Db, resource: str, adding: int) -> PlanLimit | None:
    """None if the plan admits `adding` more of `resource`, else what it exceeds."""
    if adding <= 0:
        return None
    plan = await plan_of(db)
    limit = plan.limit(resource) if plan is not None else None
    if plan is None or limit is None:
        return None
    await db.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
        {"k": f"plan:{db.tenant_id}:{resource}"},
    )
    in_use = await used(db, resource)
    if in_use + adding > limit:
        return PlanLimit(plan.name, resource, limit, in_use)
    return None


async def usage(db: Db) -> tuple[TenantPlan | None, dict[str, int]]:
    return await plan_of(db), {r: await used(db, r) for r in RESOURCES}
