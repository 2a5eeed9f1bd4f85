"""Token buckets per principal, counted in query cost points, held in this process.

Without REDIS_URL each uvicorn worker keeps its own buckets, so with W workers a principal
may spend up to W x the configured budget (see docs/limits.md); with REDIS_URL every process
spends one shared budget (core/shared_limits.py). No state is written to PostgreSQL.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple, Protocol

from graphql import GraphQLError

MAX_KEYS = 100_000


class Decision(NamedTuple):  # a tuple: one is made per request
    allowed: bool
    remaining: float
    # seconds until the bucket holds enough for the refused amount (0 when allowed)
    retry_after: float
    # seconds until the bucket is full again
    reset: float


class TokenBuckets:
    """`burst` points per key, refilled at `rate` points per second; LRU-bounded keys."""

    def __init__(
        self,
        burst: int,
        rate: float,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = float(burst)
        self.rate = rate
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.rate > 0

    def take(self, key: str, amount: float) -> Decision:
        """Spend `amount` points of `key`'s bucket if it holds them; refuse otherwise."""
        now = self.clock()
        tokens, updated = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        allowed = tokens >= amount
        if allowed:
            tokens -= amount
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            # evicted keys start full again: the bound is documented, memory is not unbounded
            self._buckets.popitem(last=False)
        retry = 0.0 if allowed else (min(amount, self.burst) - tokens) / self.rate
        return Decision(allowed, tokens, retry, (self.burst - tokens) / self.rate)

    def give_back(self, key: str, amount: float) -> None:
        """Return `amount` points taken for a request that was then answered elsewhere."""
        now = self.clock()
        tokens, updated = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate + amount)
        self._buckets[key] = (tokens, now)


class RateLimited(GraphQLError):
    """Raised while executing when the request's cost exceeds what the bucket holds."""

    def __init__(self, decision: Decision, burst: int, rate: float) -> None:
        super().__init__(
            f"Rate limit exceeded: retry in {math.ceil(decision.retry_after)} s.",
            extensions={
                "code": "RATE_LIMITED",
                "limit": burst,
                "refillPerSecond": rate,
                "retryAfter": math.ceil(decision.retry_after),
            },
        )
        self.decision = decision


class CostExceedsBurst(GraphQLError):
    """Raised while executing when the query costs more than the whole bucket holds: no
    wait would ever admit it, so it is refused for good (HTTP 400), not asked to retry."""

    def __init__(self, cost: int, burst: int) -> None:
        super().__init__(
            f"This query costs {cost} points, more than the {burst} the rate limit can ever "
            "hold, so it would never be admitted; retrying will not help. Ask for smaller "
            "pages (`first`) or fewer nested lists, or split it.",
            extensions={"code": "COST_EXCEEDS_BURST", "cost": cost, "limit": burst},
        )


class Budget(Protocol):
    """What the headers need of a bucket store, in-process or shared."""

    burst: float
    rate: float


# the headers' names as they are sent, by the lower-case form ASGI holds them in
NAMES = {
    name.lower().encode(): name
    for name in (
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "RateLimit-Policy",
        "Retry-After",
    )
}


def headers(buckets: Budget, decision: Decision) -> dict[str, str]:
    """`RateLimit-*` headers (IETF draft) and, when refused, `Retry-After` (`raw_headers`,
    by name)."""
    return {NAMES[name]: value.decode() for name, value in raw_headers(buckets, decision)}


@functools.lru_cache(maxsize=64)
def _fixed(burst: float, rate: float) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """The `RateLimit-Limit` and `RateLimit-Policy` headers of a budget, as `raw_headers`
    gives them."""
    window = math.ceil(burst / rate)
    limit = str(int(burst)).encode()
    return (b"ratelimit-limit", limit), (b"ratelimit-policy", limit + f";w={window}".encode())


def raw_headers(buckets: Budget, decision: Decision) -> list[tuple[bytes, bytes]]:
    """`headers` as an ASGI response holds them: the same names lower-cased, in the same
    order, as latin-1 bytes (the budget's own two made once)."""
    limit, policy = _fixed(buckets.burst, buckets.rate)
    out = [
        limit,
        (b"ratelimit-remaining", str(max(0, math.floor(decision.remaining))).encode()),
        (b"ratelimit-reset", str(math.ceil(decision.reset)).encode()),
        policy,
    ]
    if not decision.allowed:
        out.append((b"retry-after", str(max(1, math.ceil(decision.retry_after))).encode()))
    return out
