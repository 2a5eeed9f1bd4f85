"""The tenant's plan and its usage against the limits."""

from __future__ import annotations

import strawberry

from schema.scalars import ByteCount


@strawberry.type(description="One limited resource: what is in use, and the plan's limit.")
class UsageLine:
    used: int
    limit: int | None = strawberry.field(description="Null: unlimited.")


@strawberry.type(description="A limited number of bytes: what is in use, and the plan's limit.")
class ByteUsageLine:
    used: ByteCount
    limit: ByteCount | None = strawberry.field(description="Null: unlimited.")


@strawberry.type(description="Usage against the plan, counted from aggregates (no personal data).")
class TenantUsage:
    plan: str | None = strawberry.field(description="Null: no plan set, nothing is limited.")
    spaces: UsageLine
    contacts: UsageLine
    emails_this_month: UsageLine
    api_keys: UsageLine
    storage_bytes: ByteUsageLine = strawberry.field(
        description="Bytes of the files in the asset library (originals; docs/files.md)."
    )
