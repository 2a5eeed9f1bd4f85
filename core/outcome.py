"""What the layers below the entry decided about one request, for the entry to answer with.

The document limits run inside Strawberry's execution, where they can only raise GraphQL
errors; the HTTP answer (status 429 or 400, rate-limit headers) is the entry's. This typed
record, one per request on the context, carries the decisions between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.ratelimit import Decision, RateLimited, TokenBuckets


@dataclass
class RequestOutcome:
    # the caller's bucket and key, once the request itself was admitted (None: no rate limit)
    buckets: TokenBuckets | None = None
    key: str = ""
    # the latest rate-limit decision, reported in the `RateLimit-*` headers
    decision: Decision | None = None
    # set when the query's cost was refused: the request is answered with HTTP 429
    refusal: RateLimited | None = None
    # a GraphQL-over-HTTP request error (no `data`): answered with HTTP 400
    request_error: bool = False
    # the principal kind that ran a trusted document by hash (microspace/persisted.py): a
    # widget's GET is then cacheable
    persisted_by: str | None = None

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
        if self.buckets is None:
            return
        self.decision = self.buckets.take(self.key, max(0, cost - 1))
        if not self.decision.allowed:
            self.refusal = self._refused(self.buckets, self.decision)
            raise self.refusal

    @staticmethod
    def _refused(buckets: TokenBuckets, decision: Decision) -> RateLimited:
        return RateLimited(decision, int(buckets.burst), buckets.rate)
