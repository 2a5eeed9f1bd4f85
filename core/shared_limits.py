"""Token buckets shared by every process through Redis (when REDIS_URL is set).

The same buckets as core/ratelimit.py (`burst` points refilled at `rate` per second), kept in
one Redis hash per key and updated by one Lua script, so concurrent takes from any number of
API processes are atomic and spend one budget. Time is Redis's own clock: hosts whose clocks
disagree still agree on the bucket.

If Redis cannot be reached, this process's own buckets (core/ratelimit.py) decide instead:
an outage of the limiter must not become an outage of the API, nor lift every limit. Redis
is asked again at most once a second; one warning a minute says how many requests were
decided locally, `fallbacks` counts them (a metric) and `unreachable` tells `/readyz`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from core.ratelimit import Decision, TokenBuckets

log = logging.getLogger("microspace.ratelimit")
# while Redis is unreachable: asked again at most this often, and one warning per interval
RETRY_SECONDS = 1.0
WARN_SECONDS = 60

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

    def __init__(
        self,
        url: str,
        burst: int,
        rate: float,
        *,
        prefix: str = "microspace:",
        on_fallback: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from redis.asyncio import Redis

        self.burst = float(burst)
        self.rate = rate
        self.prefix = f"{prefix}ratelimit:"
        self.redis: Any = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.redis.register_script(TAKE)
        # what decides while Redis is unreachable
        self.local = TokenBuckets(burst, rate, clock=clock)
        self.on_fallback = on_fallback
        self.clock = clock
        self.unreachable: str | None = None  # the error's type while Redis is unreachable
        self.fallbacks = 0  # requests decided locally since the last warning
        self._retry_at = 0.0
        self._warned_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.rate > 0

    async def take(self, key: str, amount: float) -> Decision:
        """Spend `amount` points of `key`'s bucket if it holds them; refuse otherwise."""
        if self.clock() >= self._retry_at:
            try:
                allowed, raw = await self.script(
                    keys=[self.prefix + key], args=[self.burst, self.rate, amount]
                )
            except Exception as exc:  # noqa: BLE001 - any Redis failure: decide locally
                self._failed(exc)
            else:
                self._reached()
                tokens = float(raw)
                retry = 0.0 if allowed else (min(amount, self.burst) - tokens) / self.rate
                reset = (self.burst - tokens) / self.rate
                return Decision(bool(allowed), tokens, max(0.0, retry), reset)
        self._fall_back()
        return self.local.take(key, amount)

    async def give_back(self, key: str, amount: float) -> None:
        """Return `amount` points taken for a request that was then answered elsewhere."""
        if self.clock() >= self._retry_at:
            try:
                await self.script(keys=[self.prefix + key], args=[self.burst, self.rate, -amount])
            except Exception as exc:  # noqa: BLE001 - the points go to the local bucket
                self._failed(exc)
            else:
                self._reached()
                return
        self.local.give_back(key, amount)

    async def check(self) -> str | None:
        """For `/readyz`: None when Redis answers, else the error's type (asked at most as
        often as requests ask it)."""
        if self.clock() >= self._retry_at:
            try:
                await self.redis.ping()
            except Exception as exc:  # noqa: BLE001 - any failure: unreachable
                self._failed(exc)
            else:
                self._reached()
        return self.unreachable

    def _failed(self, exc: Exception) -> None:
        self.unreachable = type(exc).__name__
        self._retry_at = self.clock() + RETRY_SECONDS

    def _reached(self) -> None:
        if self.unreachable is not None:
            log.info(
                "rate limit store reachable again; %d requests were decided by this "
                "process's own buckets since the last line",
                self.fallbacks,
            )
            self.unreachable, self.fallbacks, self._warned_at = None, 0, None

    def _fall_back(self) -> None:
        self.on_fallback()
        self.fallbacks += 1
        now = self.clock()
        if self._warned_at is not None and now - self._warned_at < WARN_SECONDS:
            return
        log.warning(
            "rate limit store unreachable (%s): this process's own buckets decide; "
            "%d requests decided so since the last line, next line in %d s at most",
            self.unreachable,
            self.fallbacks,
            WARN_SECONDS,
        )
        self._warned_at, self.fallbacks = now, 0

    async def close(self) -> None:
        await self.redis.aclose()


def retry_after(decision: Decision) -> int:
    return max(1, math.ceil(decision.retry_after))
