"""Admission: a fair share of the database pool per tenant, and one deadline per request.

Every request waits for a slot of its tenant (at most `limit` run at once per tenant, at most
`queue` more wait) before it takes a pooled connection. The request's deadline starts
before that wait, so the admission wait, the pool wait and the execution together stay
within the execution timeout. A request that cannot be admitted in time gets HTTP 503
`OVERLOADED` with `Retry-After`: nothing ran, and it is safe to retry.

The tenant is known only after authentication, which itself needs a connection. So a
credential not seen yet is first identified (`identify`: one short statement in a
transaction of its own, at most `limit` at once per client address), and only then
queues under its tenant, like every later request of it: sixty new keys of one tenant
hold that tenant's share of the pool, not sixty connections. A credential that names no
tenant (wrong, revoked) queues with the anonymous callers of its client address.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from collections import OrderedDict

from sqlalchemy import text

from core.auth import bearer_token, hash_token
from core.db import Db, unit_of_work
from core.http import Refusal

# credential -> tenant, bounded: a forgotten credential is only identified again
MAX_KNOWN_CREDENTIALS = 100_000
# the tenant of a secret, and nothing else: no principal, no tenant scope kept
TENANT_OF = text("SELECT tenant_id FROM app_authenticate(:hash)")


class Overloaded(Refusal):
    """Too many requests of one tenant at once: refused before it ran, safe to retry."""

    def __init__(self, retry_after: float, limit: int, of: str = "this tenant") -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            503,
            "OVERLOADED",
            f"Too many requests of {of} are running at once; nothing was done. "
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

    @staticmethod
    def tenant_lane(tenant_id: uuid.UUID | str | None) -> str:
        """The lane of a request whose principal is known (the fast lane's); the tenant as
        a UUID or its text."""
        return f"tenant:{tenant_id}"

    async def lane(self, db: Db, authorization: str | None, client: str, deadline: float) -> str:
        """The lane of a request, a new credential identified first: its first request
        must not wait on a row lock or the pool outside its tenant's share."""
        credential = self.credential(authorization)
        if credential is None:
            return f"ip:{client}"
        tenant = self._tenants.get(credential)
        if tenant is None:
            # identification is bounded too: a few at a time per address, one short statement
            async with self.slot(f"identify:{client}", deadline):
                tenant = await identify(db, authorization)
            self.learn(authorization, tenant)
        return self.tenant_lane(tenant) if tenant else f"ip:{client}"

    def learn(self, authorization: str | None, tenant_id: uuid.UUID | None) -> None:
        """Remember which tenant a credential belongs to, for its next requests."""
        credential = self.credential(authorization)
        if credential is None or tenant_id is None:
            return
        self._tenants[credential] = tenant_id
        self._tenants.move_to_end(credential)
        while len(self._tenants) > MAX_KNOWN_CREDENTIALS:
            self._tenants.popitem(last=False)

    def holding(self, tenant_id: uuid.UUID) -> int:
        """Requests of a tenant running or waiting in its lane now (metrics, tests)."""
        lane = self._lanes.get(f"tenant:{tenant_id}")
        return lane.running + lane.waiting if lane else 0

    def slot(self, key: str, deadline: float) -> _Slot:
        """Run inside one of the lane's slots; Overloaded if none frees up before deadline.
        (A class, not a generator: every request enters one.)"""
        return _Slot(self, key, deadline)

    def _drop_if_idle(self, key: str, lane: _Lane) -> None:
        if lane.running == 0 and lane.waiting == 0:
            self._lanes.pop(key, None)


class _Slot:
    """`Admission.slot`: a slot of the lane `key` while the block runs."""

    __slots__ = ("admission", "deadline", "key", "lane")

    def __init__(self, admission: Admission, key: str, deadline: float) -> None:
        self.admission = admission
        self.key = key
        self.deadline = deadline

    async def __aenter__(self) -> None:
        admission, key, deadline = self.admission, self.key, self.deadline
        lane = admission._lanes.get(key)
        if lane is None:
            lane = admission._lanes[key] = _Lane(admission.limit)
        if lane.running >= admission.limit and lane.waiting >= admission.queue:
            admission._drop_if_idle(key, lane)
            raise Overloaded(1.0, admission.limit, _whose(key))
        if lane.semaphore.locked():
            lane.waiting += 1
            try:
                async with asyncio.timeout_at(deadline):
                    await lane.semaphore.acquire()
            except TimeoutError:
                retry = max(1.0, deadline - asyncio.get_running_loop().time())
                raise Overloaded(retry, admission.limit, _whose(key)) from None
            finally:
                lane.waiting -= 1
        else:
            await lane.semaphore.acquire()  # a free slot: taken without waiting
        lane.running += 1
        self.lane = lane

    async def __aexit__(self, *_: object) -> None:
        lane = self.lane
        lane.running -= 1
        lane.semaphore.release()
        self.admission._drop_if_idle(self.key, lane)


def _whose(key: str) -> str:
    return "this tenant" if key.startswith("tenant:") else "this client address"


async def identify(db: Db, authorization: str | None) -> uuid.UUID | None:
    """The tenant of a credential, in a short transaction of its own (the request's own
    transaction authenticates it again, fully); None when it names none."""
    token = bearer_token(authorization)
    if not token or len(token) > 200:
        return None  # authentication refuses it without a statement
    async with unit_of_work(db):
        rows = (await db.execute(TENANT_OF, {"hash": hash_token(token)})).all()
    # two matches would be ambiguous: authentication refuses them
    return rows[0].tenant_id if len(rows) == 1 else None
