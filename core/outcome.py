"""What the layers below the entry decided about one request, for the entry to answer with.

The document limits run inside Strawberry's execution, where they can only raise GraphQL
errors; the HTTP answer (status 429 or 400, rate-limit headers) is the entry's. This typed
record, one per request on the context, carries the decisions between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.ratelimit import Budget, CostExceedsBurst, Decision, RateLimited, TokenBuckets


@dataclass
class RequestOutcome:
    # the caller's bucket and key, once the request itself was admitted (None: no rate limit)
    buckets: TokenBuckets | None = None
    key: str = ""
    # the latest rate-limit decision, reported in the `RateLimit-*` headers
    decision: Decision | None = None
    # set when the query's cost was refused: the request is answered with HTTP 429, or 400
    # when the cost exceeds the whole bucket (it would never be admitted)
    refusal: RateLimited | CostExceedsBurst | None = None
    # a GraphQL-over-HTTP request error (no `data`): answered with HTTP 400
    request_error: bool = False
    # who asked (the principal's kind) and whether the answer disclosed personal data (an
    # audited read): what a GET's caching depends on (core/http.py get_caching)
    caller: str = "anonymous"
    personal: bool = False
    # the response carries GraphQL errors (for the request metrics)
    graphql_errors: bool = False
    # the shared (Redis) store, once the request itself was admitted by it: the query's cost
    # is then charged just before execution (`charge_pending`), as validation cannot await
    shared: Any = None
    pending_cost: int | None = None

    async def admit_shared(self, shared: Any, key: str) -> Decision:
        """`admit` against the shared store (core/shared_limits.py)."""
        self.decision = await shared.take(key, 1)
        if self.decision.allowed:
            self.shared, self.key = shared, key
        else:
            self.refusal = self._refused(shared, self.decision)
        return self.decision

    async def charge_pending(self) -> None:
        """Take the rest of the query's cost from the shared store; raise when refused."""
        if self.shared is None or self.pending_cost is None:
            return
        cost, self.pending_cost = self.pending_cost, None
        self.decision = await self.shared.take(self.key, max(0, cost - 1))
        if not self.decision.allowed:
            self.refusal = self._refused(self.shared, self.decision)
            raise self.refusal

    def admit(self, buckets: TokenBuckets, key: str) -> Decision:
        """Take one point for the request itself; the query's cost is charged after parsing."""
        self.decision = buckets.take(key, 1)
        if self.decision.allowed:
            self.buckets, self.key = buckets, key
        else:
            self.refusal = self._refused(buckets, self.decision)
        return self.decision

    def charge_cost(self, cost: int) -> None:
        """Take the rest of the query's cost; raise (stopping execution) when it is refused."""
        budget = self.shared if self.shared is not None else self.buckets
        if budget is not None and cost > budget.burst:
            self.refusal = CostExceedsBurst(cost, int(budget.burst))
            raise self.refusal
        if self.shared is not None:
            self.pending_cost = cost
            return
        if self.buckets is None:
            return
        self.decision = self.buckets.take(self.key, max(0, cost - 1))
        if not self.decision.allowed:
            self.refusal = self._refused(self.buckets, self.decision)
            raise self.refusal

    @staticmethod
    def _refused(buckets: Budget, decision: Decision) -> RateLimited:
        return RateLimited(decision, int(buckets.burst), buckets.rate)
