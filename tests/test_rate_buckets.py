"""Points given back (microspace/lane/lane.py hands a request on to the whole way after
taking them) return to the bucket, in-process and in Redis, and never past its burst."""

from __future__ import annotations

import uuid

from core.ratelimit import TokenBuckets
from core.shared_limits import RedisTokenBuckets


def test_in_process_points_given_back_return_up_to_the_burst():
    now = [0.0]
    buckets = TokenBuckets(10, 0.5, clock=lambda: now[0])
    assert buckets.take("k", 4).remaining == 6
    buckets.give_back("k", 4)
    assert buckets.take("k", 0).remaining == 10
    buckets.give_back("k", 4)  # more than was taken: the burst still bounds it
    assert buckets.take("k", 0).remaining == 10
    assert not buckets.take("k", 11).allowed


async def test_shared_points_given_back_return_up_to_the_burst(redis_url):
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    buckets = RedisTokenBuckets(redis_url, 10, 0.000_001, prefix=prefix)
    try:
        assert round((await buckets.take("k", 4)).remaining) == 6
        await buckets.give_back("k", 4)
        assert round((await buckets.take("k", 0)).remaining) == 10
        await buckets.give_back("k", 4)
        assert round((await buckets.take("k", 0)).remaining) == 10
        assert not (await buckets.take("k", 11)).allowed
    finally:
        await buckets.redis.delete(f"{prefix}ratelimit:k")
        await buckets.close()


def test_raw_headers_are_the_headers_as_a_response_holds_them():
    """The fast lane's `RateLimit-*` headers (`raw_headers`) are `headers`' own, lower-cased
    and encoded as starlette's `Response` would, in the same order, refused or not."""
    from core.ratelimit import headers, raw_headers

    for burst, rate in ((100, 10.0), (1_000_000_000, 1_000_000_000.0), (7, 0.3)):
        buckets = TokenBuckets(burst, rate)
        for amount in (1, 5, burst + 1):
            decision = buckets.take("k", amount)
            expected = [
                (k.lower().encode(), v.encode()) for k, v in headers(buckets, decision).items()
            ]
            assert raw_headers(buckets, decision) == expected
