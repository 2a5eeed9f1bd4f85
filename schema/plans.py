"""The tenant's plan and its usage against the limits."""

from __future__ import annotations

import strawberry


@strawberry.type(description="One limited resource: what is in use, and the plan's limit.")
class UsageLine:
    used: int
    limit: int | None = strawberry.field(description="Null: unlimited.")


@strawberry.type(description="Usage against the plan, counted from aggregates (no personal data).")
class TenantUsage:
    plan: str | None = strawberry.field(description="Null: no plan set, nothing is limited.")
    spaces: UsageLine
    contacts: UsageLine
    emails_this_month: UsageLine
    api_keys: UsageLine
