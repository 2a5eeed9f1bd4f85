"""What the outbox worker adds for the one-click opt-out: the signed unsubscribe link and
the RFC 8058 headers on consent-bound e-mail."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from privacy import unsubscribe

if TYPE_CHECKING:
    from microspace.jobs.worker import Worker


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
