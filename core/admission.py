"""Admission: a fair share of the database pool per tenant, and one deadline per request.

Every request waits for a slot of its tenant (at most `limit` run at once per tenant, at most
`queue` more wait) before it takes a pooled connection. The request's deadline starts
before that wait, so the admission wait, the pool wait and the execution together stay
within the execution timeout. A request that cannot be admitted in time gets HTTP 503
`OVERLOADED` with `Retry-After`: nothing ran, and it is safe to retry.

The tenant is known only after authentication, which itself needs a connection; the key is
therefore learned: once a credential authenticated, its later requests queue under its
tenant. A credential not seen yet queues under itself (authentication refuses a wrong one
in one short statement), and anonymous callers under their client address.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.http import Refusal

# credential -> tenant, bounded: a forgotten credential only queues under its address again
MAX_KNOWN_CREDENTIALS = 100_000


class Overloaded(Refusal):
    """Too many requests of one tenant at once: refused before it ran, safe to retry."""

    def __init__(self, retry_after: float, limit: int) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            503,
            "OVERLOADED",
            "Too many requests of this tenant are running at once; nothing was done. "
            f"Retry after {seconds} s.",
            {"Retry-After": str(seconds)},
            limit=limit,
        )


class _Lane:
    __slots__ = ("running", "semaphore", "waiting")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.running = 0
        self.waiting = 0


class Admission:
    """Per-tenant concurrency limit with a bounded queue (per process)."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = max(1, limit)
        self.queue = max(0, queue)
        self._lanes: dict[str, _Lane] = {}
        self._tenants: OrderedDict[bytes, uuid.UUID] = OrderedDict()

    @staticmethod
    def credential(authorization: str | None) -> bytes | None:
        if not authorization:
            return None
        return hashlib.sha256(authorization.encode("utf-8", "surrogatepass")).digest()

    def key(self, authorization: str | None, client: str) -> str:
        """The lane of a request: its credential's tenant once known, else its address."""
        credential = self.credential(authorization)
        if credential is None:
            return f"ip:{client}"
        tenant = self._tenants.get(credential)
        # a credential not yet seen queues on its own: one caller's new token must not
        # share a lane with every other caller behind the same address
        return f"tenant:{tenant}" if tenant else f"credential:{credential.hex()}"

    def learn(self, authorization: str | None, tenant_id: uuid.UUID | None) -> None:
        """Remember which tenant a credential belongs to, for its next requests."""
        credential = self.credential(authorization)
        if credential is None or tenant_id is None:
            return
        self._tenants[credential] = tenant_id
        self._tenants.move_to_end(credential)
        while len(self._tenants) > MAX_KNOWN_CREDENTIALS:
            self._tenants.popitem(last=False)

    @asynccontextmanager
    async def slot(self, key: str, deadline: float) -> AsyncIterator[None]:
        """Run inside one of the lane's slots; Overloaded if none frees up before deadline."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(self.limit)
        loop = asyncio.get_running_loop()
        if lane.running >= self.limit and lane.waiting >= self.queue:
            self._drop_if_idle(key, lane)
            raise Overloaded(1.0, self.limit)
        if lane.semaphore.locked():
            lane.waiting += 1
            try:
                async with asyncio.timeout_at(deadline):
                    await lane.semaphore.acquire()
            except TimeoutError:
                raise Overloaded(max(1.0, deadline - loop.time()), self.limit) from None
            finally:
                lane.waiting -= 1
        else:
            await lane.semaphore.acquire()  # a free slot: taken without waiting
        lane.running += 1
        try:
            yield
        finally:
            lane.running -= 1
            lane.semaphore.release()
            self._drop_if_idle(key, lane)

    def _drop_if_idle(self, key: str, lane: _Lane) -> None:
        if lane.running == 0 and lane.waiting == 0:
            self._lanes.pop(key, None)
