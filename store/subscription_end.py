"""After a tenant's subscription ends: reads and exports stay, writes are refused with
`SUBSCRIPTION_ENDED`, but for the operations data-subject rights and the customer's own exit
need (`EXEMPT`), until retention purges the personal data (docs/privacy.md "After the
subscription ends").

The state is read once per tenant and process and kept with the tenant's policy version:
every change of the subscription bumps that version (migration 0020), and every token lookup
returns it, so a change is seen on the next request without a query per request.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.auth import Principal
from core.db import Db
from core.errors import ApiError
from models import SubscriptionStatus, Tenant
from models.outbox import EmailKind

# mutations that keep working after the end, each for a reason docs/privacy.md gives
EXEMPT = frozenset(
    {
        # data-subject rights (GDPR Art. 12-22): filed, verified and answered in time
        "subjectAccessRequest",
        "subjectPortabilityRequest",
        "subjectCorrectionRequest",
        "subjectErasureRequest",
        "subjectRequestVerify",
        "subjectRequestProcess",
        "subjectRequestReject",
        "subjectRequestExtend",
        "subjectLinkCreate",
        # withdrawing consent is as easy as giving it (Art. 7(3)); granting is refused
        "consentWithdraw",
        # members' own rights: rectification and erasure of their profile (Art. 16, 17)
        "memberProfileUpdate",
        "memberLeave",
        "tenantProfileUpdate",
        # the customer's exit: stop disclosing and processing, stop integrations, leave
        "spaceAccessRevoke",
        "contactDelete",
        "apiKeyRevoke",
        "webhookSubscriptionDelete",
        "accountDeletionRequest",
        "accountDeletionConfirm",
    }
)
MAX_TENANTS = 100_000


class SubscriptionEnded(ApiError):
    code = "SUBSCRIPTION_ENDED"


@dataclass(frozen=True)
class Subscription:
    status: str
    ends_at: datetime | None

    def ended_at(self, now: datetime) -> datetime | None:
        """When it ended, or None while it runs. `ended` with a date still ahead ends then;
        `active` runs whatever its dates (as retention reads them). Migration 0020 states the
        same rule in SQL for the fast lane."""
        if self.status != SubscriptionStatus.ENDED.value:
            return None
        if self.ends_at is None:
            return now
        return self.ends_at if self.ends_at <= now else None


ACTIVE = Subscription(SubscriptionStatus.ACTIVE.value, None)


def refusal(
    subscription: Subscription | None, field: str, grace_days: int, now: datetime | None = None
) -> SubscriptionEnded | None:
    """The error a mutation root field answers with, or None when it may write."""
    if subscription is None or field in EXEMPT:
        return None
    now = now or datetime.now(UTC)
    ended = subscription.ended_at(now)
    if ended is None:
        return None
    # retention purges from the end date on (privacy/retention.py), the day it next runs
    purge = (subscription.ends_at or ended) + timedelta(days=grace_days)
    return SubscriptionEnded(
        f"This account's subscription ended on {ended.date().isoformat()}: changes are refused. "
        f"Reads and exports still work until its personal data is purged on "
        f"{purge.date().isoformat()}; data-subject requests, consent withdrawal, API key "
        "revocation and account deletion still work.",
        endedAt=ended.isoformat(),
        purgeAt=purge.isoformat(),
    )


class Subscriptions:
    """Each tenant's subscription by tenant and policy version, bounded."""

    def __init__(self, limit: int = MAX_TENANTS) -> None:
        self.limit = limit
        self._by_tenant: OrderedDict[uuid.UUID, tuple[int, Subscription]] = OrderedDict()
        self.loads = 0  # statements sent (tests)

    async def get(self, db: Db, principal: Principal) -> Subscription:
        """The principal's tenant's subscription; one statement only when this process has
        not seen the tenant at its current version."""
        tenant = principal.tenant_id
        if tenant is None:
            return ACTIVE
        known = self._by_tenant.get(tenant)
        if known is not None and known[0] == principal.policy_version:
            return known[1]
        self.loads += 1
        subscription = await _load(db, tenant) or ACTIVE
        self._by_tenant[tenant] = (principal.policy_version, subscription)
        self._by_tenant.move_to_end(tenant)
        while len(self._by_tenant) > self.limit:
            self._by_tenant.popitem(last=False)
        return subscription


# e-mail the worker cancels after the end: the customer's own mailing stops with its
# subscription; transactional mail (codes, subject links, invitations) still goes
STOPPED_MAIL = frozenset({EmailKind.MARKETING.value, EmailKind.SPACE_UPDATED.value})


async def has_ended(db: Db, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant's subscription has ended now (one statement; the worker's check)."""
    subscription = await _load(db, tenant_id)
    return subscription is not None and subscription.ended_at(datetime.now(UTC)) is not None


async def _load(db: Db, tenant_id: uuid.UUID) -> Subscription | None:
    row = (
        await db.execute(
            select(Tenant.subscription_status, Tenant.subscription_ends_at).where(
                Tenant.id == tenant_id
            )
        )
    ).first()
    if row is None:
        return None
    return Subscription(row.subscription_status, row.subscription_ends_at)
