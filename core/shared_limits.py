"""Token buckets shared by every process through Redis (when REDIS_URL is set).

The same buckets as core/ratelimit.py (`burst` points refilled at `rate` per second), kept in
one Redis hash per key and updated by one Lua script, so concurrent takes from any number of
API processes are atomic and spend one budget. Time is Redis's own clock: hosts whose clocks
disagree still agree on the bucket.

If Redis cannot be reached the request is admitted (fail open) and one line is logged: an
outage of the limiter must not become an outage of the API.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from core.ratelimit import Decision

log = logging.getLogger("microspace.ratelimit")

TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1]) or burst
local updated = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if tokens >= amount then
  -- a negative amount gives points back, never past the burst
  tokens = math.min(burst, tokens - amount)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(tokens)}
"""


class RedisTokenBuckets:
    """`burst` points per key, refilled at `rate` points per second, in Redis."""

    def __init__(self, url: str, burst: int, rate: float, *, prefix: str = "microspace:") -> None:
        from redis.asyncio import Redis

        self.burst = float(burst)
        self.rate = rate
        self.prefix = f"{prefix}ratelimit:"
        self.redis: Any = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.redis.register_script(TAKE)

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.rate > 0

    async def take(self, key: str, amount: float) -> Decision:
        """Spend `amount` points of `key`'s bucket if it holds them; refuse otherwise."""
        try:
            allowed, raw = await self.script(
                keys=[self.prefix + key], args=[self.burst, self.rate, amount]
            )
        except Exception as exc:  # noqa: BLE001 - any Redis failure: admit, say so once
            log.warning("rate limit store unavailable, request admitted: %s", type(exc).__name__)
            return Decision(True, self.burst, 0.0, 0.0)
        tokens = float(raw)
        retry = 0.0 if allowed else (min(amount, self.burst) - tokens) / self.rate
        return Decision(bool(allowed), tokens, max(0.0, retry), (self.burst - tokens) / self.rate)

    async def give_back(self, key: str, amount: float) -> None:
        """Return `amount` points taken for a request that was then answered elsewhere."""
        try:
            await self.script(keys=[self.prefix + key], args=[self.burst, self.rate, -amount])
        except Exception as exc:  # noqa: BLE001 - the points are lost, the request is not
            log.warning("rate limit store unavailable, points not returned: %s", type(exc).__name__)

    async def close(self) -> None:
        await self.redis.aclose()


def retry_after(decision: Decision) -> int:
    return max(1, math.ceil(decision.retry_after))
