"""A webhook subscription receives the events written after its creation, never the ones
written before it existed and still waiting for the worker (audit finding: 5 of 5 older
events were delivered to a subscription created after them)."""

from __future__ import annotations

import uuid

from tests.test_webhooks import CONTACT, _partner, _subscribe, drain, hooks
from tests.webhook_receiver import Receiver, serving


async def test_a_new_subscription_hears_only_later_events(api, new_tenant, app, settings):
    # given five contacts created before any subscription, not yet dispatched
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    for i in range(5):
        await key(CONTACT, {"e": f"before{i}-{uuid.uuid4().hex[:6]}@example.com"})
    async with serving(Receiver(answer=lambda n, wid: 200)) as receiver:
        # when a subscription is created, then one more contact
        sub = await _subscribe(key, receiver.url, ["contact.created"])
        assert sub["userErrors"] == [], sub
        after = f"after-{uuid.uuid4().hex[:6]}@example.com"
        created = await key(CONTACT, {"e": after})
        contact_id = created["data"]["contactCreate"]["contact"]["id"]
        worker = hooks(app, settings)
        await drain(worker, lambda: len(receiver.accepted_ids()) >= 1)
        await worker.run_once()  # anything else due would arrive now

    # then only the later event arrived
    objects = [r.payload["data"]["id"] for r in receiver.received]
    assert objects == [contact_id]
