"""Webhook delivery from the domain-event outbox: at least once, signed, redacted, guarded.

Two steps, rows claimed with `FOR UPDATE SKIP LOCKED` so any number of workers share one
outbox without delivering a row twice in normal operation:

1. dispatch (a tenant's due events in one transaction): each undelivered domain event becomes
   one delivery per matching, enabled subscription of an active key (unique per event and
   subscription), and is marked handed over in the same transaction;
2. deliver: a due delivery is read, its payload built, signed and POSTed, and the outcome
   recorded, all while the row is locked; a crash before the commit leaves it pending, and
   the next attempt carries the same `webhook-id`, so a receiver drops the duplicate.

The payload's object is a GraphQL read run as the subscribing key (its scopes, the tenant's
policy overrides, the same redaction extension), so a webhook never carries more than the
key could read itself; the read is audited like any other (microspace/jobs/webhook_reads.py).
Signing and the guarded POST are in microspace/jobs/webhook_sender.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import strawberry
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.config import Settings
from core.db import Db, unit_of_work
from microspace.jobs.webhook_reads import payload_for
from microspace.jobs.webhook_sender import Attempt, sign_and_post
from models import ApiToken, DeliveryStatus, DomainEvent, Member, OutboxMessage
from models import WebhookDelivery as Delivery
from models import WebhookSubscription as Subscription
from policies.authz import TenantPolicies, load_enforcer
from schema.build import build_schema
from schema.webhooks import webhook_id
from store.events import emit

log = logging.getLogger("microspace.jobs.webhooks")
BATCH = 100
MAX_DELAY = timedelta(hours=4)


@dataclass
class HookStats:
    dispatched: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    disabled: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, base: float, rng: Callable[[], float] = random.random) -> timedelta:
    """Exponential, capped, with "equal jitter": half the delay fixed, half random, so many
    failing deliveries spread out instead of retrying in step."""
    delay = min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), MAX_DELAY)
    return delay / 2 + delay / 2 * rng()


@dataclass
class Webhooks:
    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    schema: strawberry.Schema = field(default_factory=build_schema)
    policies: TenantPolicies = field(default_factory=lambda: TenantPolicies(load_enforcer()))
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def run_once(self) -> HookStats:
        """Dispatch every due event, then attempt every due delivery, then return."""
        stats = HookStats()
        await self._drain("app_domain_events_due", self._dispatch, stats, per_tenant=True)
        await self._drain("app_webhook_deliveries_due", self._deliver, stats)
        return stats

    async def run_forever(self, poll_seconds: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                stats = await self.run_once()
                if stats.delivered or stats.dead or stats.retried:
                    log.info("webhooks: %s", stats)
            except Exception:
                log.exception("webhooks: listing due work failed; retrying")
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass

    async def _drain(
        self, function: str, handle: Any, stats: HookStats, *, per_tenant: bool = False
    ) -> None:
        """Handle every due row the listing function returns, a tenant's rows together (one
        transaction each for events, one per row for deliveries), until none is new."""
        seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
        while True:
            async with self.sessionmaker() as session:
                rows = await session.execute(_due_statement(function), {"n": BATCH})
                keys = [(r.tenant_id, r.id) for r in rows if (r.tenant_id, r.id) not in seen]
            if not keys:
                return
            seen.update(keys)
            if per_tenant:
                by_tenant: dict[uuid.UUID, list[uuid.UUID]] = {}
                for tenant_id, row_id in keys:
                    by_tenant.setdefault(tenant_id, []).append(row_id)
                for tenant_id, ids in by_tenant.items():
                    await self._unit(handle, tenant_id, ids, stats)
            else:
                for tenant_id, row_id in keys:
                    await self._unit(handle, tenant_id, row_id, stats)

    async def _unit(self, handle: Any, tenant_id: uuid.UUID, rows: Any, stats: HookStats) -> None:
        try:
            db = Db(self.sessionmaker, statement_timeout=self.settings.statement_timeout)
            async with unit_of_work(db):
                await db.set_tenant(tenant_id)
                if not await handle(db, rows, stats):
                    db.discard()
        except Exception:
            # one bad row (a deadlock, a timeout) must not stop the others; it stays due
            log.exception("webhooks: %s not processed; it stays due", rows)
            stats.skipped += 1

    async def _dispatch(self, db: Db, event_ids: list[uuid.UUID], stats: HookStats) -> bool:
        """Hand a tenant's events to its matching subscriptions, in one transaction."""
        claim = (
            select(DomainEvent)
            .where(DomainEvent.id.in_(event_ids), DomainEvent.delivered_at.is_(None))
            .with_for_update(skip_locked=True)
        )
        events = list(await db.scalars(claim))
        if not events:
            stats.skipped += 1  # another worker holds them, or handed them over already
            return False
        now = self.clock()
        active = (
            select(Subscription.id, Subscription.event_types, Subscription.created_at)
            .join(ApiToken, ApiToken.id == Subscription.api_key_id)
            .where(
                Subscription.disabled_at.is_(None),
                ApiToken.live(now),
            )
        )
        subscriptions = (await db.execute(active)).all()
        rows = [
            {
                "tenant_id": db.tenant_id,
                "id": uuid.uuid4(),
                "subscription_id": sub.id,
                "event_id": event.id,
                "event_type": event.topic,
            }
            for event in events
            for sub in subscriptions
            # a subscription hears what happens from its creation on, not the backlog
            if event.topic in sub.event_types and event.created_at >= sub.created_at
        ]
        if rows:
            await db.execute(insert(Delivery).values(rows).on_conflict_do_nothing())
        for event in events:
            event.delivered_at = now
        stats.dispatched += len(rows)
        return True

    async def _deliver(self, db: Db, delivery_id: uuid.UUID, stats: HookStats) -> bool:
        claim = (
            select(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == DeliveryStatus.PENDING.value,
                Delivery.next_attempt_at <= func.now(),
            )
            .with_for_update(skip_locked=True)
        )
        row = await db.scalar(claim)
        if row is None:
            stats.skipped += 1  # another worker holds it, or it changed since listed
            return False
        sub = await db.scalar(select(Subscription).where(Subscription.id == row.subscription_id))
        key = await db.scalar(select(ApiToken).where(ApiToken.id == sub.api_key_id))
        now = self.clock()
        if sub.disabled_at is not None or not _key_active(key, now):
            row.status, row.last_error = (
                DeliveryStatus.DEAD.value,
                "key revoked or subscription disabled",
            )
            stats.dead += 1
            return True
        event = await db.scalar(select(DomainEvent).where(DomainEvent.id == row.event_id))
        body = await self.payload(db, key, event)
        attempt = await sign_and_post(
            sub.url,
            sub.signing_secrets(now),
            webhook_id(row.id),
            orjson.dumps(body).decode(),
            now,
            development=self.settings.dev_mode,
            timeout=self.settings.webhook_timeout_seconds,
        )
        await self._record(db, sub, row, attempt, now, stats)
        return True

    async def payload(self, db: Db, key: ApiToken, event: DomainEvent) -> dict[str, Any]:
        """The delivery body: the event and the object as this key reads it now."""
        return await payload_for(self, db, key, event)

    async def _record(
        self,
        db: Db,
        sub: Subscription,
        row: Delivery,
        attempt: Attempt,
        now: datetime,
        stats: HookStats,
    ) -> None:
        row.attempts += 1
        row.last_attempt_at, row.last_status_code = now, attempt.status_code
        row.last_error, row.response_excerpt = attempt.error, attempt.excerpt
        if attempt.ok:
            row.status, row.delivered_at = DeliveryStatus.DELIVERED.value, now
            sub.failing_since = sub.notified_at = None
            stats.delivered += 1
            return
        sub.failing_since = sub.failing_since or now
        row.first_failed_at = row.first_failed_at or now
        window = timedelta(hours=self.settings.webhook_retry_hours)
        due = now + backoff(row.attempts, self.settings.webhook_backoff_seconds)
        if due <= row.window_started_at + window:
            row.next_attempt_at = due
            stats.retried += 1
            return
        row.status = DeliveryStatus.DEAD.value
        stats.dead += 1
        detail = (
            f"the delivery of a {row.event_type} event was given up after {row.attempts} attempts."
        )
        # sustained: no delivery to this endpoint succeeded during this one's whole window
        if sub.failing_since <= row.first_failed_at:
            sub.disabled_at = now
            sub.disabled_reason = (
                f"No successful delivery for {self.settings.webhook_retry_hours:g} h."
            )
            detail += (
                " The subscription has been disabled; subscribe again once the endpoint works."
            )
            await emit(db, "webhook_subscription.disabled", sub.id, ["disabledAt"], actor="worker")
            stats.disabled += 1
        if sub.notified_at is None or sub.disabled_at is not None:
            await notify_owners(db, {"url": sub.url, "detail": detail})
            sub.notified_at = now


def _key_active(key: ApiToken | None, now: datetime) -> bool:
    return (
        key is not None
        and key.revoked_at is None
        and (key.expires_at is None or key.expires_at > now)
    )


def _due_statement(function: str) -> Any:
    # the SECURITY DEFINER listings of migration 0006: keys of due rows of every tenant
    assert function in ("app_domain_events_due", "app_webhook_deliveries_due")
    return text(f"SELECT tenant_id, id FROM {function}(:n)")


async def notify_owners(db: Db, payload: dict[str, Any]) -> None:
    """One e-mail per owner through the outbox, in this transaction."""
    for member_id in await db.scalars(select(Member.id).where(Member.role == "owner")):
        db.add(
            OutboxMessage(
                id=uuid.uuid4(), kind="webhook_failing", member_id=member_id, payload=payload
            )
        )
    await db.flush()


def webhooks_for(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Webhooks:
    return Webhooks(sessionmaker=sessionmaker, settings=settings)
