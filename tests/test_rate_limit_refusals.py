"""The rate limit's refusals say what a client can do, and its Redis may go away.

Invariants guarded here:
- a query costing more than the whole bucket is refused at once with HTTP 400
  `COST_EXCEEDS_BURST` and no `Retry-After` (no wait would admit it), in-process and with
  Redis, and spends nothing beyond the request's own point;
- with Redis unreachable, each process's own buckets decide (a limit still holds), one
  warning says so (not one per request), a metric counts the local decisions and `/readyz`
  stays ready, its body naming the unreachable Redis and the local limits.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

import httpx
import pytest

from microspace.app import create_app
from tests.conftest import METRICS_AUTH, error_codes
from tests.test_observability import samples

# 50 spaces x 50 blocks: within the document limits below, dearer than a bucket of 2,000
COSTLY = "{ spaces(first: 50) { edges { node { blocks(first: 50) { totalCount } } } } }"
CHEAP = "{ spaces { totalCount } }"


@pytest.fixture(params=["in-process", "redis"])
def store(request: pytest.FixtureRequest) -> dict[str, str | None]:
    if request.param == "in-process":
        return {"redis_url": None}
    url = request.getfixturevalue("redis_url")
    return {"redis_url": url, "redis_prefix": f"test-{uuid.uuid4().hex[:10]}:"}


async def test_a_query_dearer_than_the_whole_bucket_is_refused_for_good(
    settings, new_tenant, store
):
    tenant = await new_tenant()
    limited = replace(
        settings, rate_limit_burst=2000, rate_limit_rate=0.001, max_cost=250_000, **store
    )
    app = create_app(limited)
    auth = {"Authorization": f"Bearer {tenant.token}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            # when a client sends it, and sends it again
            answers = [
                await c.post("/graphql", json={"query": COSTLY}, headers=auth) for _ in range(3)
            ]
            # then each answer refuses it for good, saying why
            for answer in answers:
                assert answer.status_code == 400, answer.text
                assert "retry-after" not in answer.headers
                error = answer.json()["errors"][0]
                assert error["extensions"]["code"] == "COST_EXCEEDS_BURST"
                assert error["extensions"]["limit"] == 2000
                assert error["extensions"]["cost"] > 2000
                assert "never" in error["message"]
            # and it spent only the requests' own points: a cheap query still runs
            cheap = await c.post("/graphql", json={"query": CHEAP}, headers=auth)
            assert cheap.status_code == 200 and "errors" not in cheap.json()
            assert int(cheap.headers["RateLimit-Remaining"]) >= 1900
    finally:
        await app.state.microspace.engine.dispose()
        shared = app.state.fast_lane.shared
        if shared is not None:
            await shared.close()


async def test_unreachable_redis_leaves_the_local_limits_and_one_warning(
    settings, new_tenant, caplog
):
    tenant = await new_tenant()
    # nothing listens on port 1: every connection is refused at once
    unreachable = replace(
        settings, rate_limit_burst=300, rate_limit_rate=0.001, redis_url="redis://127.0.0.1:1/0"
    )
    app = create_app(unreachable)
    auth = {"Authorization": f"Bearer {tenant.token}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            # when requests arrive while Redis cannot be reached
            with caplog.at_level(logging.INFO, logger="microspace.ratelimit"):
                statuses = [
                    (await c.post("/graphql", json={"query": CHEAP}, headers=auth)).status_code
                    for _ in range(60)
                ]
            ready = await c.get("/readyz")
            scraped = samples((await c.get("/metrics", headers=METRICS_AUTH)).text)
    finally:
        await app.state.microspace.engine.dispose()
        await app.state.fast_lane.shared.close()

    # then this process's own buckets decided: the limit still holds
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    assert set(statuses) == {200, 429}
    # one warning, not one per request
    warnings = [r for r in caplog.records if r.name == "microspace.ratelimit"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "unreachable" in warnings[0].getMessage()
    # a metric counts the local decisions (a request takes its own point, then its cost)
    assert scraped[("microspace_rate_limit_local_decisions_total", ())] >= 60
    # and readiness stays, naming what is missing
    assert ready.status_code == 200
    body = ready.json()
    assert body["redis"] == "unreachable" and body["rateLimits"] == "local"
    assert "local" in body["detail"] and "Redis" in body["detail"]


async def test_readiness_names_the_shared_limits_when_redis_answers(settings, redis_url):
    app = create_app(replace(settings, redis_url=redis_url))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            ready = await c.get("/readyz")
    finally:
        await app.state.microspace.engine.dispose()
        await app.state.fast_lane.shared.close()
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "rateLimits": "shared"}
    assert not error_codes(ready.json())


async def test_redis_is_asked_again_after_a_pause_and_the_warning_repeats_slowly(redis_url, caplog):
    from core.shared_limits import RETRY_SECONDS, WARN_SECONDS, RedisTokenBuckets

    now = [1000.0]
    local: list[int] = []
    buckets = RedisTokenBuckets(
        redis_url,
        10,
        0.000_001,
        prefix=f"test-{uuid.uuid4().hex[:10]}:",
        on_fallback=lambda: local.append(1),
        clock=lambda: now[0],
    )
    script, calls = buckets.script, [0]

    async def unreachable(**_: object) -> object:
        calls[0] += 1
        raise ConnectionError("down")

    try:
        with caplog.at_level(logging.INFO, logger="microspace.ratelimit"):
            # given Redis failing: the local bucket decides, Redis is not asked again at once
            buckets.script = unreachable
            assert (await buckets.take("k", 4)).allowed
            assert not (await buckets.take("k", 7)).allowed  # the local bucket holds 6
            assert calls[0] == 1 and len(local) == 2 and buckets.unreachable == "ConnectionError"
            # a minute on, still failing: asked again, and one more warning
            now[0] += WARN_SECONDS
            await buckets.take("k", 1)
            assert calls[0] == 2
            # when it answers again, a pause later
            buckets.script = script
            now[0] += RETRY_SECONDS
            decision = await buckets.take("k", 4)
        # then Redis decides again (its own full bucket), and one line says it is back
        assert decision.allowed and round(decision.remaining) == 6
        assert buckets.unreachable is None and len(local) == 3
        assert await buckets.check() is None
        lines = [r.getMessage() for r in caplog.records if r.name == "microspace.ratelimit"]
        assert len(lines) == 3, lines
        assert "unreachable" in lines[0] and "unreachable" in lines[1]
        assert "reachable again" in lines[2]
    finally:
        await buckets.redis.delete(f"{buckets.prefix}k")
        await buckets.close()
