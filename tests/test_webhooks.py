"""Webhook delivery from the event outbox to a real receiver on loopback.

Invariants:
- through an outage of the receiver nothing is lost: every event reaches it once it
  recovers; a re-sent delivery carries the same `webhook-id`; every request's signature
  verifies with the `standardwebhooks` library;
- two workers on one outbox deliver nothing twice;
- a delivery that fails for its whole window is dead-lettered, the tenant's owners are
  e-mailed through the outbox, and a subscription that failed throughout is disabled;
- no redirect is followed, at most 1 KiB of an answer is kept, a slow receiver times out;
- bad subscriptions are typed user errors: unknown event type, http in production,
  private addresses in production, an event type the key cannot read;
- every event type has a sample payload; the delivery log and replay work.

Over 300 lines on purpose: one module per promise, with its matrix and its cases together.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, text

from core.db import Db, owner_db
from core.egress import EgressRefused, Target, check_url, resolve_public
from core.mail import Email
from microspace.app import create_app
from microspace.jobs.webhooks import Webhooks, backoff
from microspace.jobs.worker import Worker
from models import EVENT_TYPES
from schema.build import build_schema
from tests.factories import mint_key
from tests.webhook_receiver import Receiver, serving

SCHEMA = build_schema()
SUBSCRIBE = """mutation($input: WebhookSubscriptionCreateInput!) {
  webhookSubscriptionCreate(input: $input) { subscription { id status eventTypes }
  signingSecret userErrors { code field message } } }"""
DELIVERIES = """query($s: ID) { webhookDeliveries(subscriptionId: $s, first: 100) { totalCount
  edges { node { id webhookId eventType status attempts lastStatusCode lastError responseExcerpt } } } }"""
CONTACT = 'mutation($e: String!) { contactCreate(input: {email: $e, fullName: "Jane Roe"}) { contact { id } } }'
SPACE = 'mutation { spaceCreate(input: {title: "Deal room"}) { space { id } } }'


def hooks(app, settings, **overrides) -> Webhooks:
    fast = replace(settings, webhook_backoff_seconds=0.02, **overrides)
    return Webhooks(sessionmaker=app.state.microspace.sessionmaker, settings=fast, schema=SCHEMA)


async def drain(worker: Webhooks, until, rounds: int = 200) -> None:
    """Run the worker until `until()` holds (retries become due within milliseconds)."""
    for _ in range(rounds):
        await worker.run_once()
        if until():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker did not finish in time")


async def _partner(
    api, tenant, scopes=("contacts:write", "contacts:read_pii", "spaces:write", "webhooks:manage")
):
    return await mint_key(api(tenant.token), "partner", list(scopes))


async def _subscribe(client, url, types, **extra) -> dict:
    result = await client(SUBSCRIBE, {"input": {"url": url, "eventTypes": types, **extra}})
    return result["data"]["webhookSubscriptionCreate"]


async def test_outage_then_recovery_loses_nothing(api, new_tenant, app, settings):
    # given a partner key subscribed (REST-hook style, by itself) to contact and space events
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    # the receiver refuses everything during the outage; once back, it answers the first
    # request of each delivery with 500 after having processed it (a lost acknowledgement)
    state = {"down": True, "seen": set()}

    def answer(n: int, wid: str) -> int:
        if state["down"]:
            return 503
        if wid not in state["seen"]:
            state["seen"].add(wid)
            return 500
        return 200

    async with serving(Receiver(answer=answer)) as receiver:
        sub = await _subscribe(key, receiver.url, ["contact.created", "space.created"])
        assert sub["userErrors"] == [], sub
        secret = sub["signingSecret"]
        for i in range(4):
            await key(CONTACT, {"e": f"p{i}-{uuid.uuid4().hex[:6]}@example.com"})
        await key(SPACE)
        worker = hooks(app, settings)

        # when the receiver is down for several rounds of attempts, then recovers
        for _ in range(4):
            await worker.run_once()
            await asyncio.sleep(0.05)
        assert receiver.received and not receiver.accepted_ids()
        state["down"] = False
        await drain(worker, lambda: len(set(receiver.accepted_ids())) >= 5)
        await asyncio.sleep(0.3)
        await worker.run_once()  # nothing more is due: no extra requests

    # then every event arrived, each delivery accepted exactly once, duplicates share ids
    accepted = receiver.accepted_ids()
    assert len(accepted) == len(set(accepted)) == 5
    by_id: dict[str, set[str]] = {}
    for r in receiver.received:
        by_id.setdefault(r.webhook_id, set()).add(r.payload["data"]["eventId"])
    assert set(by_id) == set(accepted) and all(len(e) == 1 for e in by_id.values())
    types = sorted(r.payload["type"] for r in receiver.received if r.status == 200)
    assert types == ["contact.created"] * 4 + ["space.created"]
    assert len(receiver.received) > 10  # refusals and re-sends happened
    receiver.verify_all(secret)
    log = (await key(DELIVERIES, {"s": sub["subscription"]["id"]}))["data"]["webhookDeliveries"]
    assert log["totalCount"] == 5
    assert {e["node"]["status"] for e in log["edges"]} == {"DELIVERED"}
    assert all(e["node"]["attempts"] >= 2 for e in log["edges"])
    assert {e["node"]["webhookId"] for e in log["edges"]} == set(accepted)


async def test_two_workers_deliver_nothing_twice(api, new_tenant, app, settings):
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    async with serving(Receiver()) as receiver:
        sub = await _subscribe(key, receiver.url, ["contact.created"])
        assert sub["userErrors"] == []
        for i in range(30):
            await key(CONTACT, {"e": f"w{i}-{uuid.uuid4().hex[:6]}@example.com"})
        one, two = hooks(app, settings), hooks(app, settings)
        stats = await asyncio.gather(one.run_once(), two.run_once(), one.run_once())
    ids = receiver.accepted_ids()
    assert len(ids) == len(set(ids)) == 30
    assert sum(s.delivered for s in stats) == 30 and sum(s.dispatched for s in stats) == 30
    receiver.verify_all(sub["signingSecret"])


async def test_dead_letter_emails_owners_and_disables(api, new_tenant, app, settings, owner_url):
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    async with serving(Receiver(answer=lambda n, wid: 500)) as receiver:
        sub = await _subscribe(key, receiver.url, ["contact.created"])
        # a retry window of about a second stands in for the day; other tests' events are
        # handed over first, so the window is spent on this delivery's attempts
        worker = hooks(app, settings, webhook_retry_hours=1 / 3600)
        await worker.run_once()
        await key(CONTACT, {"e": f"dead-{uuid.uuid4().hex[:6]}@example.com"})

        def dead() -> bool:
            return bool(receiver.received) and worker_stats["dead"] > 0

        worker_stats = {"dead": 0}
        for _ in range(100):
            stats = await worker.run_once()
            worker_stats["dead"] += stats.dead
            if worker_stats["dead"]:
                break
            await asyncio.sleep(0.05)
        assert dead() and len(receiver.received) >= 3

    log = (await key(DELIVERIES, {"s": sub["subscription"]["id"]}))["data"]["webhookDeliveries"]
    node = log["edges"][0]["node"]
    assert node["status"] == "DEAD" and node["lastStatusCode"] == 500 and node["lastError"]
    status = await key(
        "query($id: ID!) { webhookSubscription(id: $id) { status disabledReason } }",
        {"id": sub["subscription"]["id"]},
    )
    assert status["data"]["webhookSubscription"]["status"] == "DISABLED"
    # the owners hear of it by e-mail, through the outbox and its worker
    sent: list[Email] = []

    class Capture:
        async def send(self, email: Email) -> None:
            sent.append(email)

    mailer = Worker(
        sessionmaker=app.state.microspace.sessionmaker, sender=Capture(), mail_from="x@y.z"
    )
    await mailer.run_once()
    async with owner_db(owner_url, tenant.tenant_id) as db:
        owner_email = await db.scalar(
            text("SELECT email FROM members WHERE tenant_id = :t AND role = 'owner'"),
            {"t": tenant.tenant_id},
        )
    mine = [e for e in sent if e.to == owner_email]
    assert len(mine) == 1 and receiver.url in mine[0].body and "disabled" in mine[0].body
    # a disabled subscription gets no new deliveries, and its dead letter cannot be replayed
    await key(CONTACT, {"e": f"later-{uuid.uuid4().hex[:6]}@example.com"})
    await worker.run_once()
    log = (await key(DELIVERIES, {"s": sub["subscription"]["id"]}))["data"]["webhookDeliveries"]
    assert log["totalCount"] == 1
    retry = await key(
        "mutation($id: ID!) { webhookDeliveryRetry(id: $id) { delivery { id } userErrors { code } } }",
        {"id": node["id"]},
    )
    assert retry["data"]["webhookDeliveryRetry"]["userErrors"] == [{"code": "NOT_RETRYABLE"}]


async def test_replay_keeps_the_webhook_id(api, new_tenant, app, settings):
    tenant = await new_tenant()
    owner = api(tenant.token)
    key_secret = await _partner(api, tenant, ("contacts:read", "webhooks:manage"))
    key_id = (await owner("{ apiKeys { edges { node { id } } } }"))["data"]["apiKeys"]["edges"][0]
    async with serving(Receiver()) as receiver:
        # an owner subscribes on the key's behalf
        sub = await _subscribe(
            owner, receiver.url, ["contact.created"], apiKeyId=key_id["node"]["id"]
        )
        assert sub["userErrors"] == [], sub
        await owner(CONTACT, {"e": f"r-{uuid.uuid4().hex[:6]}@example.com"})
        worker = hooks(app, settings)
        await worker.run_once()
        delivery = (await owner(DELIVERIES, {"s": None}))["data"]["webhookDeliveries"]["edges"][0]
        replay = await owner(
            "mutation($id: ID!) { webhookDeliveryRetry(id: $id) { delivery { status } userErrors { code } } }",
            {"id": delivery["node"]["id"]},
        )
        assert replay["data"]["webhookDeliveryRetry"]["delivery"]["status"] == "PENDING"
        await worker.run_once()
    assert receiver.accepted_ids() == [delivery["node"]["webhookId"]] * 2
    # the key sees its own deliveries; the payload reads the contact masked (contacts:read)
    assert (await api(key_secret)(DELIVERIES, {"s": None}))["data"]["webhookDeliveries"][
        "totalCount"
    ] == 1
    assert receiver.received[0].payload["data"]["object"]["email"].startswith("r***@")
    # another key of the same tenant sees none of them
    other = api(await _partner(api, tenant, ("contacts:read", "webhooks:manage")))
    assert (await other(DELIVERIES, {"s": None}))["data"]["webhookDeliveries"]["totalCount"] == 0
    assert (await other("{ webhookSubscriptions { totalCount } }"))["data"]["webhookSubscriptions"][
        "totalCount"
    ] == 0


async def test_no_redirects_small_excerpt_and_timeout(api, new_tenant, app, settings):
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    async with (
        serving(Receiver()) as elsewhere,
        serving(
            Receiver(answer=lambda n, wid: 302, reply=b"x" * 5000, location=elsewhere.url)
        ) as receiver,
    ):
        await _subscribe(key, receiver.url, ["space.created"])
        await key(SPACE)
        await hooks(app, settings).run_once()
        assert len(receiver.received) == 1 and elsewhere.received == []
    node = (await key(DELIVERIES, {"s": None}))["data"]["webhookDeliveries"]["edges"][0]["node"]
    assert node["status"] == "PENDING" and node["lastStatusCode"] == 302
    assert len(node["responseExcerpt"].encode()) <= 1024

    tenant2 = await new_tenant()
    key2 = api(await _partner(api, tenant2))
    async with serving(Receiver(delay=2.0)) as slow:
        await _subscribe(key2, slow.url, ["space.created"])
        await key2(SPACE)
        await hooks(app, settings, webhook_timeout_seconds=0.3).run_once()
    node = (await key2(DELIVERIES, {"s": None}))["data"]["webhookDeliveries"]["edges"][0]["node"]
    assert node["status"] == "PENDING" and "Timeout" in node["lastError"]


@pytest.mark.parametrize(
    ("types", "url", "code"),
    [
        (["contact.exploded"], "http://127.0.0.1:5716/h", "UNKNOWN_EVENT_TYPE"),
        ([], "http://127.0.0.1:5716/h", "REQUIRED"),
        (["contact.created"], "http://example.com/h", "HTTPS_REQUIRED"),
        (["contact.created"], "ftp://example.com/h", "INVALID_URL"),
        (["contact.created"], "https://user:pw@example.com/h", "INVALID_URL"),
        (["api_key.created"], "https://example.com/h", "EVENT_TYPE_NOT_READABLE"),
    ],
)
async def test_bad_subscriptions_are_user_errors(api, new_tenant, types, url, code):
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    payload = await _subscribe(key, url, types)
    assert payload["subscription"] is None and payload["userErrors"][0]["code"] == code
    assert payload["userErrors"][0]["message"]


async def test_production_refuses_http_and_private_addresses(api, new_tenant, settings):
    production = create_app(
        replace(
            settings,
            dev_mode=False,
            secret_key="test-secret",
            public_url="https://api.test.example",
        )
    )
    try:
        transport = httpx.ASGITransport(app=production)
        async with httpx.AsyncClient(transport=transport, base_url="http://prod") as client:
            tenant = await new_tenant()
            secret = await mint_key(
                api(tenant.token), "partner", ["contacts:read", "webhooks:manage"]
            )

            async def subscribe(url: str) -> str:
                body = {
                    "query": SUBSCRIBE,
                    "variables": {"input": {"url": url, "eventTypes": ["contact.created"]}},
                }
                r = await client.post(
                    "/graphql", json=body, headers={"Authorization": f"Bearer {secret}"}
                )
                return r.json()["data"]["webhookSubscriptionCreate"]["userErrors"][0]["code"]

            assert await subscribe("http://127.0.0.1:5716/h") == "HTTPS_REQUIRED"
            assert await subscribe("http://hooks.example.com/h") == "HTTPS_REQUIRED"
            for private in (
                "https://10.1.2.3/h",
                "https://169.254.169.254/latest",
                "https://[::1]/h",
                "https://localhost/h",
                *(f"https://[{v6}]/h" for v6 in PRIVATE_IPV4_IN_IPV6),
            ):
                assert await subscribe(private) == "PRIVATE_ADDRESS", private
    finally:
        await production.state.microspace.engine.dispose()


# IPv6 forms that carry a private IPv4 address: 6to4 and IPv4-mapped of 127.0.0.1, NAT64
# (well-known and local-use) of 127.0.0.1 and 10.0.0.1, IPv4-compatible of 192.168.1.1,
# and Teredo whose client is 127.11.0.1
PRIVATE_IPV4_IN_IPV6 = (
    "2002:7f00:1::",
    "::ffff:127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::a00:1",
    "::192.168.1.1",
    "2001:0:808:808:0:fbff:80f4:fffe",
)


async def test_guard_refuses_ipv6_forms_of_private_ipv4_at_delivery():
    for v6 in PRIVATE_IPV4_IN_IPV6:
        target = Target(url=f"https://[{v6}]/h", host=v6, port=443, scheme="https")
        with pytest.raises(EgressRefused):
            await resolve_public(target)
    # the same forms of a public address stay callable
    for v6 in ("2002:808:808::", "64:ff9b::808:808", "::ffff:808:808"):
        target = Target(url=f"https://[{v6}]/h", host=v6, port=443, scheme="https")
        assert await resolve_public(target) == v6


async def test_guard_resolves_names():
    for url in ("https://localhost:8443/h", "https://127.0.0.2/h", "https://[fe80::1]/h"):
        with pytest.raises(EgressRefused):
            await resolve_public(check_url(url, development=True))
    assert check_url("http://127.0.0.1:5716/h", development=True).port == 5716
    with pytest.raises(EgressRefused):
        check_url("http://10.0.0.1/h", development=True)
    assert (
        await resolve_public(check_url("https://93.184.216.34/h", development=False))
        == "93.184.216.34"
    )


def test_backoff_grows_with_jitter_and_is_capped():
    lows = [backoff(n, 30, rng=lambda: 0.0).total_seconds() for n in range(1, 12)]
    highs = [backoff(n, 30, rng=lambda: 1.0).total_seconds() for n in range(1, 12)]
    assert lows[:3] == [15, 30, 60] and highs[:3] == [30, 60, 120]
    assert max(highs) == 4 * 3600
    # a day of retries: the attempts before the window closes at the longest delays
    total, attempts = 0.0, 0
    while total < 24 * 3600:
        attempts += 1
        total += backoff(attempts, 30, rng=lambda: 1.0).total_seconds()
    assert 10 <= attempts <= 20


async def test_every_event_type_has_a_sample(api, new_tenant):
    tenant = await new_tenant()
    result = await api(tenant.token)(
        "{ webhookEventTypes { name objectType description samplePayload } }"
    )
    types = result["data"]["webhookEventTypes"]
    assert [t["name"] for t in types] == list(EVENT_TYPES)
    assert {"contact.erased", "consent.withdrawn"} <= {t["name"] for t in types}
    for t in types:
        sample = t["samplePayload"]
        assert sample["type"] == t["name"] and sample["data"]["objectType"] == t["objectType"]
        assert set(sample["data"]) >= {"eventId", "id", "fields", "object", "redactions"}


async def test_payloads_read_as_the_subscribing_key(app, settings, api, new_tenant):
    """The payload's object is the GraphQL read the key would get (spot check; the matrix
    over every scope is tests/test_webhook_redaction.py)."""
    tenant = await new_tenant()
    await _partner(api, tenant, ("contacts:read",))
    created = await api(tenant.token)(CONTACT, {"e": f"m-{uuid.uuid4().hex[:6]}@example.com"})
    gid = created["data"]["contactCreate"]["contact"]["id"]
    worker = hooks(app, settings)
    db = Db(app.state.microspace.sessionmaker)
    try:
        await db.set_tenant(tenant.tenant_id)
        from models import ApiToken, DomainEvent

        key = await db.scalar(select(ApiToken).where(ApiToken.kind == "partner"))
        event = await db.scalar(select(DomainEvent).where(DomainEvent.topic == "contact.created"))
        body = await worker.payload(db, key, event)
    finally:
        await db.close()
    assert body["data"]["id"] == gid and body["data"]["object"]["fullName"] == "J*** R***"
    assert body["timestamp"] and datetime.fromisoformat(body["timestamp"]) <= datetime.now(UTC)


def test_pinned_url_keeps_the_host_for_tls_and_the_host_header():
    target = check_url("https://Hooks.Example.com:8443/in?x=1", development=False)
    assert target.pinned("93.184.216.34") == (
        "https://93.184.216.34:8443/in?x=1",
        "hooks.example.com:8443",
    )
    plain = check_url("https://hooks.example.com/in", development=False)
    assert plain.pinned("2606:2800:220:1::1") == (
        "https://[2606:2800:220:1::1]/in",
        "hooks.example.com",
    )


async def test_two_worker_processes_deliver_nothing_twice(api, new_tenant, database_url):
    """The same, with two `microspace worker --once` processes started at once."""
    from tests.test_cli import run_cli_process

    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    async with serving(Receiver()) as receiver:
        sub = await _subscribe(key, receiver.url, ["contact.created", "space.created"])
        assert sub["userErrors"] == []
        for i in range(40):
            await key(CONTACT, {"e": f"x{i}-{uuid.uuid4().hex[:6]}@example.com"})
        results = await asyncio.gather(
            run_cli_process(database_url, "worker", "--once"),
            run_cli_process(database_url, "worker", "--once"),
        )
        assert all(code == 0 for code, _, _ in results), results
    ids = receiver.accepted_ids()
    assert len(ids) == len(set(ids)) == 40
    receiver.verify_all(sub["signingSecret"])


async def test_a_slow_receiver_does_not_hold_up_api_requests(api, new_tenant, app, settings):
    """While a delivery waits on its receiver, the tenant's audited reads go on (the webhook
    read's audit entry is committed before the POST, not held through it)."""
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    owner = api(tenant.token)
    # the receiver answers after 5 s; a read held behind the POST would take that long
    async with serving(Receiver(delay=5.0)) as slow:
        await _subscribe(key, slow.url, ["contact.created"])
        created = await key(CONTACT, {"e": f"s-{uuid.uuid4().hex[:6]}@example.com"})
        cid = created["data"]["contactCreate"]["contact"]["id"]
        delivering = asyncio.create_task(hooks(app, settings).run_once())
        for _ in range(200):
            if slow.received:
                break
            await asyncio.sleep(0.02)
        assert slow.received and not delivering.done()
        started = asyncio.get_running_loop().time()
        read = await owner("query($id: ID!) { contact(id: $id) { email } }", {"id": cid})
        elapsed = asyncio.get_running_loop().time() - started
        await delivering
    assert read["data"]["contact"]["email"] and elapsed < 2.5


async def test_a_binary_answer_is_kept_as_text(api, new_tenant, app, settings):
    tenant = await new_tenant()
    key = api(await _partner(api, tenant))
    async with serving(Receiver(reply=b"ok\x00\xff\xfe done")) as receiver:
        await _subscribe(key, receiver.url, ["space.created"])
        await key(SPACE)
        await hooks(app, settings).run_once()
    node = (await key(DELIVERIES, {"s": None}))["data"]["webhookDeliveries"]["edges"][0]["node"]
    assert node["status"] == "DELIVERED" and node["responseExcerpt"].startswith("ok")
