"""Prometheus metrics of one application instance (its own registry, so tests can build many).

Labels stay bounded: the operation name is the client's, so only well-formed names are kept,
and each tenant brings at most TENANT_OPERATIONS distinct ones (`OperationLabels`): a tenant
that sends thousands of names sees its own later ones counted as `other`, never another's.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import pool_waiting
from core.tenant_cache import TenantCache

# distinct names one tenant (or all anonymous callers together) may make labels of
TENANT_OPERATIONS = 50
# every tenant's together: a backstop on the series count, reached only by many tenants
MAX_OPERATIONS = 2000
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATEMENT_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 100)

# the histograms' upper bounds as prometheus_client keeps them (+Inf last): an observation
# counts in the first bucket whose bound it does not exceed
LATENCY_BOUNDS = (*LATENCY_BUCKETS, float("inf"))
STATEMENT_BOUNDS = (*STATEMENT_BUCKETS, float("inf"))

# statements of the request being served: a list, so tasks that copy the context share it
_statements: ContextVar[list[int] | None] = ContextVar("statements", default=None)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # first in the registry: what requests counted since the last scrape, added to the
        # metrics before any is collected (`Tallies`)
        self.tallies = Tallies(self)
        self.registry.register(self.tallies)
        self.operations = OperationLabels()
        # the labelled children per (operation, type, outcome), made at the first request
        # of each (as `labels()` made them), and the requests' tally of them
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Tally]] = {}
        self.requests = Counter(
            "microspace_graphql_requests",
            "GraphQL requests by operation name, type and outcome.",
            ["operation", "type", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "microspace_graphql_request_duration_seconds",
            "Time to answer a GraphQL request, by operation type and outcome.",
            ["type", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.statements = Histogram(
            "microspace_graphql_sql_statements",
            "SQL statements run for one GraphQL request.",
            buckets=STATEMENT_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "microspace_rate_limit_refusals",
            "Requests refused by the rate limit.",
            registry=self.registry,
        )
        self.rate_limit_fallbacks = Counter(
            "microspace_rate_limit_local_decisions",
            "Rate-limit decisions taken by this process's own buckets as Redis was unreachable.",
            registry=self.registry,
        )
        self.pool_in_use = Gauge(
            "microspace_db_pool_in_use", "Pooled connections checked out.", registry=self.registry
        )
        self.pool_waiting = Gauge(
            "microspace_db_pool_waiting",
            "Requests waiting for a pooled connection.",
            registry=self.registry,
        )
        self.webhooks_due = Gauge(
            "microspace_webhook_deliveries_due",
            "Webhook deliveries due, all tenants (counted up to 1000).",
            registry=self.registry,
        )
        self.outbox_due = Gauge(
            "microspace_outbox_due",
            "Outbox messages due for delivery, all tenants (counted up to 1000).",
            registry=self.registry,
        )

    def request(self) -> _Measured:
        """Measure one request; the caller reports (operation, type, outcome) when known."""
        return _Measured(self)

    def watch_engine(self, engine: AsyncEngine) -> None:
        """Count statements per request and read the pool's state at scrape time."""

        def count(*_: Any) -> None:
            counter = _statements.get()
            if counter is not None:
                counter[0] += 1

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        pool = engine.sync_engine.pool
        self.pool_in_use.set_function(lambda: float(getattr(pool, "checkedout", lambda: 0)()))
        self.pool_waiting.set_function(lambda: float(pool_waiting(pool)))

    def watch_caches(self, caches: Iterable[TenantCache[Any]]) -> None:
        """The caches' hits, misses, evictions, entries and bytes, read at scrape time."""
        self.registry.register(CacheCollector(list(caches)))


class Tally:
    """The observations of one (operation, type, outcome) since the last scrape."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self, bounds: int) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * bounds


class Tallies(Collector):
    """The request metrics' observations, counted in plain numbers by each request and
    added to the prometheus_client metrics when the registry is collected: the same series
    and values, without the two locks and several calls of each of a request's three
    observations. Requests and scrapes both run on the event loop's thread.

    Registered first, so `collect` adds them before any metric is read; it yields nothing."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.statements = Tally(len(STATEMENT_BOUNDS))

    def describe(self) -> list[Any]:
        return []  # no series of its own (and no collect at registration)

    def collect(self) -> Iterator[Any]:
        self.flush()
        return iter(())

    def flush(self) -> None:
        metrics = self.metrics
        for counter, latency, tally in metrics._children.values():
            if tally.count:
                counter.inc(tally.count)
                _add(latency, tally)
        _add(metrics.statements, self.statements)


def _add(histogram: Histogram, tally: Tally) -> None:
    """A tally's observations, into a histogram (or its labelled child) as its `observe`
    adds each: the sum, and one count per observation in its bucket."""
    if not tally.count:
        return
    histogram._sum.inc(tally.sum)
    for bucket, n in zip(histogram._buckets, tally.buckets, strict=True):
        if n:
            bucket.inc(n)
    tally.count = 0
    tally.sum = 0.0
    tally.buckets = [0] * len(tally.buckets)


class CacheCollector(Collector):
    """Series by `cache` name (core/tenant_cache.py): counted by the caches themselves, so
    a request pays no label lookup."""

    def __init__(self, caches: list[TenantCache[Any]]) -> None:
        self.caches = caches

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        counters = {
            "hits": "Lookups that found an entry, by cache.",
            "misses": "Lookups that found none, by cache.",
            "evictions": "Entries evicted to stay within a bound, by cache.",
        }
        for name, doc in counters.items():
            family = CounterMetricFamily(f"microspace_cache_{name}", doc, labels=["cache"])
            for cache in self.caches:
                family.add_metric([cache.name], getattr(cache, name))
            yield family
        gauges = {
            "entries": "Entries held, by cache.",
            "bytes": "Estimated bytes held, by cache.",
        }
        for name, doc in gauges.items():
            gauge = GaugeMetricFamily(f"microspace_cache_{name}", doc, labels=["cache"])
            for cache in self.caches:
                gauge.add_metric([cache.name], getattr(cache, name))
            yield gauge


class OperationLabels:
    """Operation names as labels, a share per tenant: a name becomes a label when a request
    of a known tenant brings it, within that tenant's share and the overall backstop."""

    def __init__(self, per_tenant: int = TENANT_OPERATIONS, total: int = MAX_OPERATIONS) -> None:
        self.per_tenant = per_tenant
        self.total = total
        self._labels: set[str] = set()
        self._by_tenant: dict[str, set[str]] = {}

    def label(self, name: str | None, tenant: str | None) -> str:
        """`name`, or `other` past its tenant's share. A request not attributed to a tenant
        (`tenant` None) adds no label: it uses one some tenant brought, or `other`."""
        if not name:
            return "anonymous"
        own = self._by_tenant.get(tenant) if tenant is not None else None
        if own is not None and name in own:
            return name  # it matched NAME when it was added
        if not NAME.match(name):
            return "other"
        if tenant is None:
            return name if name in self._labels else "other"
        if own is None:
            own = self._by_tenant[tenant] = set()
        if len(own) >= self.per_tenant:
            return "other"
        if name not in self._labels:
            if len(self._labels) >= self.total:
                return "other"
            self._labels.add(name)
        own.add(name)
        return name


class Report:
    """What a request turned out to be, told to `Metrics.request` when known."""

    def __init__(self) -> None:
        self.operation: str | None = None
        # whose request: a tenant id, `anonymous` for callers without one, None when unknown
        self.tenant: str | None = None
        self.kind = "unknown"
        self.outcome = "error"  # unless told otherwise: it raised
        self.discarded = False

    def __call__(
        self, operation: str | None, kind: str, outcome: str, tenant: str | None = None
    ) -> None:
        self.operation, self.kind, self.outcome = operation, kind, outcome
        self.tenant = tenant

    def discard(self) -> None:
        """Not counted here: the request is handed on and counted where it is answered."""
        self.discarded = True


class _Measured:
    """One request measured by `Metrics.request` (a class, not a generator: every request
    of the API enters one)."""

    __slots__ = ("counter", "metrics", "report", "started", "token")

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __enter__(self) -> Report:
        self.counter = [0]
        self.token = _statements.set(self.counter)
        self.started = time.perf_counter()
        self.report = Report()
        return self.report

    def __exit__(self, *_: object) -> None:
        _statements.reset(self.token)
        report = self.report
        if report.discarded:
            return
        metrics = self.metrics
        operation = metrics.operations.label(report.operation, report.tenant)
        labels = (operation, report.kind, report.outcome)
        children = metrics._children.get(labels)
        if children is None:
            children = metrics._children[labels] = (
                metrics.requests.labels(*labels),
                metrics.latency.labels(*labels[1:]),
                Tally(len(LATENCY_BOUNDS)),
            )
        # counted here, added to the metrics at the next scrape (`Tallies`)
        elapsed = time.perf_counter() - self.started
        tally = children[2]
        tally.count += 1
        tally.sum += elapsed
        tally.buckets[bisect.bisect_left(LATENCY_BOUNDS, elapsed)] += 1
        statements = metrics.tallies.statements
        count = self.counter[0]
        statements.count += 1
        statements.sum += count
        statements.buckets[bisect.bisect_left(STATEMENT_BOUNDS, count)] += 1


@contextmanager
def counting_statements() -> Iterator[list[int]]:
    """Count the statements of the code inside (e.g. a live execution, which is not an HTTP
    request): `[n]` once the block ends."""
    counter = [0]
    token = _statements.set(counter)
    try:
        yield counter
    finally:
        _statements.reset(token)


def count_statements(n: int) -> None:
    """Count statements sent around SQLAlchemy (raw asyncpg) for the current request."""
    counter = _statements.get()
    if counter is not None:
        counter[0] += n
