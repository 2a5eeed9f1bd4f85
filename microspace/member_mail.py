"""What the outbox worker adds for the privacy promises: the one-click unsubscribe link on
consent-bound e-mail, and delivery of e-mail addressed to a member (account deletion codes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from core.db import Db
from core.mail import Email, render
from models import Member, OutboxMessage
from models.outbox import OutboxStatus
from privacy import unsubscribe

if TYPE_CHECKING:
    from microspace.worker import Stats, Worker


def with_unsubscribe(
    worker: Worker, tenant_id: uuid.UUID, contact_id: uuid.UUID, purpose: str, body: str
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The body with a visible opt-out link, and the RFC 8058 headers pointing at it."""
    if not worker.secret:
        raise RuntimeError("MICROSPACE_SECRET_KEY is needed to sign unsubscribe links")
    token = unsubscribe.sign(
        worker.secret, tenant_id=tenant_id, contact_id=contact_id, purpose=purpose
    )
    url = unsubscribe.link(worker.public_url, token)
    body += f"\nTo stop receiving these e-mails, open: {url}\n"
    return body, (
        ("List-Unsubscribe", f"<{url}>"),
        ("List-Unsubscribe-Post", unsubscribe.ONE_CLICK_BODY),
    )


async def deliver_to_member(worker: Worker, db: Db, outbox_id: uuid.UUID, stats: Stats) -> None:
    """Send one e-mail addressed to a member; its one-time code is cleared once sent."""
    row = await db.scalar(
        select(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.status == OutboxStatus.PENDING.value,
            OutboxMessage.next_attempt_at <= func.now(),
        )
        .with_for_update(skip_locked=True)
    )
    if row is None:
        stats.skipped += 1
        return
    member = await db.scalar(select(Member).where(Member.id == row.member_id))
    subject, body = render(row.kind, member.full_name if member else None, None, row.payload)
    email = Email(
        key=str(row.id),
        to=member.email if member else "",
        subject=subject,
        body=body,
        sender=worker.mail_from,
    )
    try:
        await worker.sender.send(email)
    except Exception as exc:  # noqa: BLE001 - any sender failure is retried
        worker._failed(row, exc, stats)
        return
    row.payload = {}  # a one-time code does not outlive its delivery
    row.status, row.sent_at, row.attempts = (
        OutboxStatus.SENT.value,
        datetime.now(UTC),
        row.attempts + 1,
    )
    await db.flush()
    stats.sent += 1
