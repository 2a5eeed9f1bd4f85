"""The outbox worker: sends queued e-mail of every tenant, at least once.

Crash safety: each e-mail is claimed, sent and marked sent in ONE transaction, committed only
after the sender returned. The claim is a row lock (`FOR UPDATE SKIP LOCKED`): other workers
skip the row while it is held, and if this process dies anywhere before the commit,
PostgreSQL rolls the transaction back, releases the lock, and the row is pending again for
the next run. (A crash after the send but before the commit re-sends; the Message-ID stays
the same so a receiving server can drop the duplicate.)

Tenancy: the worker connects as the application role, which sees no row without a tenant.
`app_outbox_due()` (SECURITY DEFINER, migration 0002) lists the keys of due rows of every
tenant and nothing else; each row is then handled in a transaction scoped to its own tenant,
under row-level security, exactly like an API request.

Over 300 lines on purpose: claiming, checking consent, sending and recording one e-mail are
one crash-safety argument, read in one place.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.config import Settings
from core.db import Db, make_engine, sessionmaker_for, unit_of_work
from core.invitation_links import Invitation, InvitationLinks
from core.mail import Email, Sender, render, sender_from_settings
from files.assets import forget_expired_uploads
from files.storage import Storage, storage_from
from microspace.jobs.heartbeat import HEARTBEAT, beat
from microspace.jobs.housekeeping import prune_mail_sink, resume_erasures
from microspace.jobs.personalisation import run_personalisations
from microspace.jobs.schedules import run_schedules
from microspace.jobs.unsubscribe_mail import with_unsubscribe
from models import Contact, EmailSent, Member, OutboxMessage, Space, SpaceAccess
from models.outbox import CONSENT_FOR_KIND, EmailKind, OutboxStatus
from models.space_access import ACTIVE_STATES
from store.consent_ledger import has_consent, lock_contact
from store.subscription_end import STOPPED_MAIL, has_ended

log = logging.getLogger("microspace.jobs.worker")
BATCH = 100
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class Stats:
    sent: int = 0
    cancelled: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Worker:
    sessionmaker: async_sessionmaker[AsyncSession]
    sender: Sender
    mail_from: str
    max_attempts: int = 8
    backoff_seconds: float = 30.0
    # the unsubscribe link of marketing e-mail is signed with this and points there
    secret: bytes = b""
    public_url: str = "https://localhost:8000"
    # signs the link of each invitation e-mail as it is sent (never stored in the outbox)
    links: InvitationLinks | None = None
    # touched after each pass and each e-mail: the liveness check (jobs/heartbeat.py)
    heartbeat: Path | None = None
    # where files are kept: an erasure the worker resumes deletes a contact's files too
    storage: Storage | None = None

    async def run_once(self) -> Stats:
        """Resume interrupted erasures, send everything that is due now, then return."""
        stats = Stats()
        await resume_erasures(self.sessionmaker, stats.errors, self.storage)
        if self.storage is not None:
            # uploads by URL never completed: their rows and bytes (docs/files.md)
            await forget_expired_uploads(self.sessionmaker, self.storage)
        await prune_mail_sink(self.sender, self.sessionmaker)
        # scheduled publishing (docs/content.md, Schedules): exactly once per schedule
        await run_schedules(self.sessionmaker)
        # personalised spaces from templates (docs/content.md): exactly once per job, before
        # the e-mail below, so their invitations go out in this pass
        await run_personalisations(self.sessionmaker)
        seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
        while True:
            keys = [k for k in await self._due() if k not in seen]
            if not keys:
                return stats
            for key in keys:
                seen.add(key)
                await self._process(*key, stats)
                self._beat()

    async def run_forever(self, poll_seconds: float, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                stats = await self.run_once()
                self._beat()
            except Exception:
                # the database may be briefly unreachable: keep polling rather than exit
                log.exception("outbox: listing due e-mail failed; retrying")
                stats = Stats()
            if stats.sent or stats.dead or stats.retried:
                log.info(
                    "outbox: sent %d, retried %d, dead %d", stats.sent, stats.retried, stats.dead
                )
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass

    def _beat(self) -> None:
        if self.heartbeat is not None:
            beat(self.heartbeat)

    async def _due(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        async with self.sessionmaker() as session:
            rows = await session.execute(
                text("SELECT tenant_id, id FROM app_outbox_due(:n)"), {"n": BATCH}
            )
            return [(r.tenant_id, r.id) for r in rows]

    async def _process(self, tenant_id: uuid.UUID, outbox_id: uuid.UUID, stats: Stats) -> None:
        try:
            async with unit_of_work(Db(self.sessionmaker)) as db:
                await db.set_tenant(tenant_id)
                row = await self._claim(db, outbox_id)
                if row is None:
                    stats.skipped += 1
                    db.discard()  # nothing claimed, nothing to keep
                    return
                if row.member_id is not None:
                    await self._deliver_to_member(db, row, stats)
                else:
                    await self._deliver(db, row, stats)
        except Exception:
            # a database error on one row (a deadlock, a timeout) must not stop the others;
            # rolled back, the row is pending again
            log.exception("outbox %s: not processed; it stays pending", outbox_id)
            stats.skipped += 1

    async def _claim(self, db: Db, outbox_id: uuid.UUID) -> OutboxMessage | None:
        """Lock the row for this transaction, or None when it is not due here and now."""
        contact_id = await db.scalar(
            select(OutboxMessage.contact_id).where(OutboxMessage.id == outbox_id)
        )
        # the contact first, then the outbox row: the order a consent withdrawal locks them
        # in, so the two can never deadlock. Shared: a withdrawal either committed before
        # this (and the consent check sees it) or waits until this e-mail is marked sent.
        # no contact: an operational e-mail to a member (no consent or access to check)
        if contact_id is not None and not await lock_contact(db, contact_id, exclusive=False):
            return None
        claim = (
            select(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= func.now(),
            )
            .with_for_update(skip_locked=True)
        )
        # None: another worker holds it, or it changed since listed
        row: OutboxMessage | None = await db.scalar(claim)
        return row

    async def _deliver(self, db: Db, row: OutboxMessage, stats: Stats) -> None:
        contact = await db.scalar(select(Contact).where(Contact.id == row.contact_id))
        reason = await self._why_not(db, row)
        if reason:
            _cancel(row, reason)
            stats.cancelled += 1
            return
        space_title = None
        if row.space_id is not None:
            space_title = await db.scalar(select(Space.title).where(Space.id == row.space_id))
        payload = row.payload
        if row.kind == EmailKind.SPACE_INVITATION.value and self.links and row.space_id:
            # the link opens only this invitation: a later re-invitation changes invited_at
            invited_at = await db.scalar(
                select(SpaceAccess.invited_at).where(
                    SpaceAccess.space_id == row.space_id, SpaceAccess.contact_id == contact.id
                )
            )
            invitation = Invitation(row.tenant_id, row.space_id, contact.id, invited_at)
            payload = {**payload, "link": self.links.url(invitation, now=datetime.now(UTC))}
        subject, body = render(row.kind, contact.full_name, space_title, payload)
        headers: tuple[tuple[str, str], ...] = ()
        purpose = CONSENT_FOR_KIND.get(row.kind)
        if purpose is not None:
            try:
                body, headers = with_unsubscribe(self, row.tenant_id, contact.id, purpose, body)
            except RuntimeError as exc:  # no key to sign the link: retried, never sent without
                self._failed(row, exc, stats)
                return
        email = Email(
            key=str(row.id),
            to=contact.email,
            subject=subject,
            body=body,
            sender=self.mail_from,
            headers=headers,
        )
        try:
            await self.sender.send(email)
        except Exception as exc:  # noqa: BLE001 - any sender failure is retried
            self._failed(row, exc, stats)
            return
        now = datetime.now(UTC)
        if row.kind in (EmailKind.SUBJECT_VERIFICATION.value, EmailKind.SUBJECT_LINK.value):
            row.payload = {}  # a one-time code or token does not outlive its delivery
        row.status, row.sent_at, row.attempts, row.last_error = (
            OutboxStatus.SENT.value,
            now,
            row.attempts + 1,
            None,
        )
        db.add(
            EmailSent(
                id=uuid.uuid4(),
                contact_id=contact.id,
                outbox_id=row.id,
                kind=row.kind,
                to_address=contact.email,
                subject=subject,
                message_id=email.message_id,
            )
        )
        await db.flush()
        stats.sent += 1

    async def _deliver_to_member(self, db: Db, row: OutboxMessage, stats: Stats) -> None:
        """E-mail to the tenant's own people (e.g. webhook failures): no contact ledger."""
        address = await db.scalar(select(Member.email).where(Member.id == row.member_id))
        subject, body = render(row.kind, None, None, row.payload)
        email = Email(
            key=str(row.id), to=address, subject=subject, body=body, sender=self.mail_from
        )
        try:
            await self.sender.send(email)
        except Exception as exc:  # noqa: BLE001 - any sender failure is retried
            self._failed(row, exc, stats)
            return
        if row.kind == EmailKind.ACCOUNT_DELETION.value:
            row.payload = {}  # a one-time code does not outlive its delivery
        row.status, row.sent_at, row.attempts = (
            OutboxStatus.SENT.value,
            datetime.now(UTC),
            row.attempts + 1,
        )
        stats.sent += 1

    async def _why_not(self, db: Db, row: OutboxMessage) -> str | None:
        """Checked at send time, not only at enqueue time."""
        purpose = CONSENT_FOR_KIND.get(row.kind)
        if purpose and (
            row.contact_id is None or not await has_consent(db, row.contact_id, purpose)
        ):
            return "consent withdrawn"
        if row.kind in STOPPED_MAIL and await has_ended(db, row.tenant_id):
            return "subscription ended"
        if row.space_id is not None:
            state = await db.scalar(
                select(SpaceAccess.state).where(
                    SpaceAccess.space_id == row.space_id, SpaceAccess.contact_id == row.contact_id
                )
            )
            if state not in ACTIVE_STATES:
                return "access revoked"
        return None

    def _failed(self, row: OutboxMessage, exc: Exception, stats: Stats) -> None:
        row.attempts += 1
        # the text may quote the recipient; the column is declared personal data
        row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        if row.attempts >= self.max_attempts:
            row.status = OutboxStatus.DEAD.value
            stats.dead += 1
        else:
            delay = timedelta(seconds=self.backoff_seconds * 2 ** (row.attempts - 1))
            row.next_attempt_at = datetime.now(UTC) + min(delay, MAX_BACKOFF)
            stats.retried += 1
        stats.errors.append(row.last_error)
        log.warning("outbox %s: attempt %d failed (%s)", row.id, row.attempts, type(exc).__name__)


def _cancel(row: OutboxMessage, reason: str) -> None:
    row.status, row.cancelled_at, row.last_error = (
        OutboxStatus.CANCELLED.value,
        datetime.now(UTC),
        reason,
    )


def _invitation_links(settings: Settings) -> InvitationLinks | None:
    """What signs invitation links; without a secret key the e-mails go out without one
    (the CLI always has a key: MICROSPACE_SECRET_KEY or the per-installation one)."""
    if not settings.secret_key:
        log.info("MICROSPACE_SECRET_KEY is not set: invitation e-mails carry no link")
        return None
    return InvitationLinks(settings.secret(), settings.public_url, settings.invitation_link_ttl)


def worker_for(settings: Settings, sender: Sender | None = None) -> tuple[Worker, AsyncEngine]:
    """A worker on the application role's login; returns it and the engine to dispose."""
    settings = settings.with_public_url()  # the links it mails point there
    engine = make_engine(settings.app_url(), pool_size=2, max_overflow=0)
    worker = Worker(
        sessionmaker=sessionmaker_for(engine),
        sender=sender or sender_from_settings(settings),
        mail_from=settings.mail_from,
        max_attempts=settings.outbox_max_attempts,
        backoff_seconds=settings.outbox_backoff_seconds,
        # without a key, marketing e-mail is retried, never sent without its unsubscribe link
        secret=settings.secret() if settings.secret_key else b"",
        public_url=settings.public_url,
        links=_invitation_links(settings),
        heartbeat=HEARTBEAT,
        storage=storage_from(settings),
    )
    return worker, engine


async def retention_once(settings: Settings, *, now: datetime | None = None) -> list[uuid.UUID]:
    """Purge the tenants whose subscription ended past the grace period, then sign-in
    records past theirs; returns the purged tenants. As the owner: retention crosses
    tenants and empties append-only ledgers (`microspace retention`, daily in compose)."""
    from privacy.retention import run_retention

    engine = make_engine(settings.owner_url(), pool_size=1, max_overflow=0)
    storage = storage_from(settings)
    try:
        purged = await run_retention(
            sessionmaker_for(engine),
            now=now or datetime.now(UTC),
            grace_days=settings.retention_grace_days,
            storage=storage,
        )
    finally:
        await engine.dispose()
        await storage.close()
    await sign_in_retention_once(settings, now=now)
    return purged


async def sign_in_retention_once(settings: Settings, *, now: datetime | None = None) -> int:
    """Delete sign-in records past MICROSPACE_SIGN_IN_RETENTION_DAYS (as the owner)."""
    from privacy.sign_ins import purge_old_sign_ins

    engine = make_engine(settings.owner_url(), pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(Db(sessionmaker_for(engine))) as db:
            return await purge_old_sign_ins(
                db, now=now or datetime.now(UTC), days=settings.sign_in_retention_days
            )
    finally:
        await engine.dispose()


async def _daily_retention(settings: Settings) -> None:
    while True:
        try:
            purged = await retention_once(settings)
            if purged:
                log.info("retention: purged personal data of %d tenant(s)", len(purged))
        except Exception:
            log.exception("retention run failed; retrying in a day")
        await asyncio.sleep(24 * 3600)


async def run(settings: Settings, *, once: bool, sender: Sender | None = None) -> Stats:
    from microspace.jobs.webhooks import webhooks_for

    worker, engine = worker_for(settings, sender)
    hooks = webhooks_for(settings, worker.sessionmaker)
    try:
        if once:
            await hooks.run_once()  # first: a failing endpoint queues an e-mail to owners
            return await worker.run_once()
        retention = None
        if settings.database_url:
            retention = asyncio.create_task(_daily_retention(settings))
        else:  # only the application role's login here (compose): a job with the owner's
            log.info("retention: left to `microspace retention` (DATABASE_URL is not set here)")
        stop = asyncio.Event()
        deliveries = asyncio.create_task(hooks.run_forever(settings.worker_poll_seconds, stop))
        try:
            await worker.run_forever(settings.worker_poll_seconds)
        finally:
            stop.set()
            if retention is not None:
                retention.cancel()
            await deliveries
        return Stats()
    finally:
        await engine.dispose()
