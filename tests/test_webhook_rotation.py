"""Rotating a webhook subscription's signing secret, verified by a real receiver.

Invariants:
- `webhookSubscriptionRotateSecret` returns a new `whsec_` secret once; during the stated
  overlap every delivery carries a signature with the new and with the previous secret, so
  a receiver verifies with either; after it, with the new one only (time is the worker's
  clock, not sleeps);
- an overlap outside 0..604800 s is a typed user error and nothing changes;
- another partner key cannot rotate the subscription (NOT_FOUND);
- the rotation is audited and writes `webhook_subscription.secret_rotated`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from standardwebhooks import Webhook, WebhookVerificationError

from core.db import owner_db
from tests.test_webhooks import CONTACT, _partner, _subscribe, drain, hooks
from tests.webhook_receiver import Receiver, serving

ROTATE = """mutation($id: ID!, $s: Int!) {
  webhookSubscriptionRotateSecret(input: {id: $id, overlapSeconds: $s}) {
    subscription { id secretRotatedAt previousSecretExpiresAt }
    signingSecret userErrors { code field message } } }"""


def _verifies(secret: str, request) -> bool:
    try:
        Webhook(secret).verify(request.body, request.headers)
    except WebhookVerificationError:
        return False
    return True


async def test_rotation_signs_with_both_during_the_overlap_then_the_new_only(
    api, new_tenant, app, settings, owner_url
):
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    async with serving(Receiver()) as receiver:
        sub = await _subscribe(key, receiver.url, ["contact.created"])
        old, sub_id = sub["signingSecret"], sub["subscription"]["id"]
        worker = hooks(app, settings)
        now = datetime.now(UTC)
        worker.clock = lambda: now

        async def deliver() -> object:
            count = len(receiver.received)
            await key(CONTACT, {"e": f"r-{uuid.uuid4().hex[:8]}@example.com"})
            await drain(worker, lambda: len(receiver.received) > count)
            return receiver.received[-1]

        before = await deliver()
        assert _verifies(old, before)

        # a bad overlap changes nothing
        for bad in (-1, 7 * 24 * 3600 + 1):
            refused = (await key(ROTATE, {"id": sub_id, "s": bad}))["data"]
            payload = refused["webhookSubscriptionRotateSecret"]
            assert payload["signingSecret"] is None and payload["subscription"] is None
            assert payload["userErrors"] == [
                {
                    "code": "INVALID_OVERLAP",
                    "field": ["overlapSeconds"],
                    "message": "overlapSeconds must be between 0 and 604800 (seven days).",
                }
            ]
        assert len((await deliver()).headers["webhook-signature"].split()) == 1

        # when the secret is rotated with a minute of overlap
        rotated = (await key(ROTATE, {"id": sub_id, "s": 60}))["data"][
            "webhookSubscriptionRotateSecret"
        ]
        assert rotated["userErrors"] == []
        new = rotated["signingSecret"]
        assert new.startswith("whsec_") and new != old
        assert rotated["subscription"]["previousSecretExpiresAt"] is not None

        # then during the overlap a delivery verifies with either secret
        during = await deliver()
        assert len(during.headers["webhook-signature"].split()) == 2
        assert _verifies(old, during) and _verifies(new, during)

        # and after it with the new secret only (two minutes on, within the 5 min tolerance)
        now = datetime.now(UTC) + timedelta(seconds=120)
        after = await deliver()
        assert len(after.headers["webhook-signature"].split()) == 1
        assert _verifies(new, after) and not _verifies(old, after)

    # another partner key of the tenant cannot rotate it
    other = api(await _partner(api, tenant))
    stranger = await other(ROTATE, {"id": sub_id, "s": 60})
    assert stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    async with owner_db(owner_url, tenant.tenant_id) as db:
        t = {"t": tenant.tenant_id}
        audited = list(
            await db.scalars(
                text(
                    "SELECT operation FROM audit_log WHERE tenant_id = :t "
                    "AND operation LIKE 'webhook%' ORDER BY seq"
                ),
                t,
            )
        )
        topics = list(
            await db.scalars(
                text(
                    "SELECT topic FROM domain_events WHERE tenant_id = :t "
                    "AND topic LIKE 'webhook%' ORDER BY created_at"
                ),
                t,
            )
        )
    assert audited == ["webhook_create", "webhook_rotate_secret"]
    assert topics == ["webhook_subscription.created", "webhook_subscription.secret_rotated"]


async def test_rotation_without_overlap_stops_the_old_secret_at_once(
    api, new_tenant, app, settings
):
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    async with serving(Receiver()) as receiver:
        sub = await _subscribe(key, receiver.url, ["contact.created"])
        rotated = (await key(ROTATE, {"id": sub["subscription"]["id"], "s": 0}))["data"]
        new = rotated["webhookSubscriptionRotateSecret"]["signingSecret"]
        await key(CONTACT, {"e": f"z-{uuid.uuid4().hex[:8]}@example.com"})
        await drain(hooks(app, settings), lambda: bool(receiver.received))
    [request] = receiver.received
    assert _verifies(new, request) and not _verifies(sub["signingSecret"], request)
