"""Subscriptions of one process, grouped so that each event runs each query once.

Subscribers of the same rewritten document, the same variables and the same credential (and
origin) form one group: their answers are identical by construction (same query, same
principal, same audience), so one execution per event serves all of them, however many
sockets hold it (1,000 widgets on one page share one key: one statement per change).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from microspace.live.follows import Follows
from microspace.live.freezer import Freezer
from microspace.live.metrics import LiveMetrics
from microspace.live.topics import Event, Plan

log = logging.getLogger("microspace.live")

# close codes (docs/live.md)
BAD_REQUEST = 4400
UNAUTHORIZED = 4401
FORBIDDEN = 4403
INIT_TIMEOUT = 4408
DUPLICATE_ID = 4409
TOO_MANY_INITS = 4429
SLOW_CONSUMER = 4008
GOING_AWAY = 1001


@dataclass
class Answer:
    """What one execution of a group's query gave."""

    body: str  # the GraphQL response, JSON text
    # the credential no longer stands (or may not be used from the origin): close code
    close: tuple[int, str] | None = None
    # a request error (limits, validation): the subscription cannot go on
    fatal: bool = False


Runner = Callable[["Group", str | None], Awaitable[Answer]]

# a frame's text, or a `next` message's prefix and the answer it carries: a fan-out queues
# the pair, and each sender joins it when it sends, so a fan-out to 10,000 sockets does not
# hold 10,000 copies of the answer at once (each copy was written, then read again by the
# encoding, after the processor's caches had long lost it: ~2 us a frame at 5,000 sockets)
Frame = str | tuple[str, str]


def frame_text(frame: Frame) -> str:
    return frame if isinstance(frame, str) else frame[0] + frame[1] + "}"


class Socket:
    """What the hub needs of a connection: a bounded queue of frames, and a close.

    A deque and one waiter rather than an asyncio.Queue: a fan-out offers one frame to each
    of 10,000 sockets, and the queue's own steps (its getter futures, its wake-up of the next
    waiter, its checks) were a third of the CPU a frame cost before it reached the server."""

    def __init__(self, queue_size: int) -> None:
        self.frames: deque[Frame] = deque()
        self.limit = queue_size
        self.closed = False
        # acknowledged (`connection_ack` sent): keep-alive pings start then
        self.ready = False
        self.slot = 0
        self.close_code: tuple[int, str] | None = None
        self.subscriptions: dict[str, Group] = {}
        # the sender's wait for frames (or the close), when it waits
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, frame: Frame) -> bool:
        """Queue a frame; False (and the socket is to close) when its queue is full."""
        if self.closed:
            return True
        if len(self.frames) >= self.limit:
            self.close(SLOW_CONSUMER, "Slow consumer: the send queue is full")
            return False
        self.frames.append(frame)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def close(self, code: int, reason: str) -> None:
        """Ask the connection to close: its sender sends the frames queued before this, then
        the close frame."""
        if self.closed:
            return
        self.closed = True
        self.close_code = (code, reason)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wait(self) -> asyncio.Future[None]:
        """Done when a frame is offered or the socket is to close (the sender awaits it when
        it has sent every queued frame)."""
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter


@dataclass(eq=False)
class Group:
    key: tuple[object, ...]
    plan: Plan
    tenant_id: uuid.UUID
    kind: str
    credential: str
    origin: str | None
    client: tuple[str, int] | None
    # (socket, operation id) -> the frame prefix of that subscriber's `next` messages
    subscribers: dict[tuple[Socket, str], str] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # objects an execution is already queued for: later events about them coalesce
    queued: set[str | None] = field(default_factory=set)


class Hub:
    def __init__(
        self,
        metrics: LiveMetrics,
        *,
        per_connection: int,
        per_tenant: int,
        concurrency: int = 8,
    ) -> None:
        self.metrics = metrics
        self.per_connection = per_connection
        self.per_tenant = per_tenant
        self.run: Runner | None = None
        self.groups: dict[tuple[object, ...], Group] = {}
        self.by_tenant: dict[uuid.UUID, set[Group]] = defaultdict(set)
        self.tenant_counts: dict[uuid.UUID, int] = defaultdict(int)
        self.sockets: set[Socket] = set()
        self._slots = itertools.count()
        # executions at once, and connections' own statements (authentication when they
        # open and subscribe) at once: the pool is shared with HTTP requests
        self.gate = asyncio.Semaphore(concurrency)
        self.db_gate = asyncio.Semaphore(max(1, concurrency // 2))
        self.tasks: set[asyncio.Task[None]] = set()
        # long-lived connections' objects out of the collector's full passes (freezer.py)
        self.freezer = Freezer()
        # the tenants followed in the database (microspace/live/follows.py), if any
        self.follows: Follows | None = None

    # subscriptions -----------------------------------------------------------------------

    def add(
        self,
        socket: Socket,
        op_id: str,
        plan: Plan,
        *,
        tenant_id: uuid.UUID,
        kind: str,
        credential: str,
        origin: str | None,
        client: tuple[str, int] | None,
    ) -> str | None:
        """Subscribe; the reason it was refused (a limit) or None."""
        if len(socket.subscriptions) >= self.per_connection:
            return f"A connection may hold at most {self.per_connection} subscriptions."
        if self.tenant_counts[tenant_id] >= self.per_tenant:
            return f"A tenant may hold at most {self.per_tenant} subscriptions per process."
        variables = orjson.dumps(plan.variables, option=orjson.OPT_SORT_KEYS)
        key = (plan.query, plan.operation_name, variables, plan.filter_id, credential, origin)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, plan, tenant_id, kind, credential, origin, client)
            self.by_tenant[tenant_id].add(group)
        group.subscribers[(socket, op_id)] = (
            '{"id":' + orjson.dumps(op_id).decode() + ',"type":"next","payload":'
        )
        socket.subscriptions[op_id] = group
        self.tenant_counts[tenant_id] += 1
        self.metrics.subscriptions.inc()
        self.freezer.made()
        return None

    def remove(self, socket: Socket, op_id: str) -> None:
        group = socket.subscriptions.pop(op_id, None)
        if group is None:
            return
        group.subscribers.pop((socket, op_id), None)
        self.tenant_counts[group.tenant_id] -= 1
        if self.tenant_counts[group.tenant_id] <= 0:
            del self.tenant_counts[group.tenant_id]
            if self.follows is not None:
                self.follows.changed()
        self.metrics.subscriptions.dec()
        if not group.subscribers:
            self.groups.pop(group.key, None)
            tenant_groups = self.by_tenant.get(group.tenant_id)
            if tenant_groups is not None:
                tenant_groups.discard(group)
                if not tenant_groups:
                    del self.by_tenant[group.tenant_id]

    def attach(self, socket: Socket) -> None:
        socket.slot = next(self._slots)  # its keep-alive slice
        self.sockets.add(socket)
        self.metrics.sockets.inc()

    def detach(self, socket: Socket) -> None:
        for op_id in list(socket.subscriptions):
            self.remove(socket, op_id)
        if socket in self.sockets:
            self.sockets.discard(socket)
            self.metrics.sockets.dec()
            self.freezer.left(len(self.sockets))

    def wants_blocks(self, tenant_id: uuid.UUID) -> bool:
        """Whether a block event of this tenant could reach anyone (its space is looked up)."""
        return any(g.plan.topic.by_space for g in self.by_tenant.get(tenant_id, ()))

    # events ------------------------------------------------------------------------------

    def dispatch(self, events: list[Event]) -> None:
        """Queue one execution per matching group and event (in event order per group)."""
        for event in events:
            self.metrics.events.inc()
            for group in list(self.by_tenant.get(event.tenant_id, ())):
                if not group.plan.matches(event, group.kind):
                    continue
                obj = group.plan.object_for(event)
                if obj in group.queued:
                    continue  # an execution not yet started will read the newer state
                group.queued.add(obj)
                task = asyncio.create_task(self._answer(group, obj))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _answer(self, group: Group, obj: str | None) -> None:
        async with group.lock:
            group.queued.discard(obj)
            if not group.subscribers or self.run is None:
                return
            try:
                async with self.gate:
                    answer = await self.run(group, obj)
            except Exception:
                log.exception("live execution failed")
                self.metrics.failures.inc()
                return
            self.metrics.executions.inc()
            self.deliver(group, answer)

    def deliver(self, group: Group, answer: Answer) -> None:
        if answer.close is not None:
            code, reason = answer.close
            for socket, _ in list(group.subscribers):
                socket.close(code, reason)
                self.metrics.closed.labels(reason=str(code)).inc()
            return
        sent = 0
        for (socket, op_id), prefix in list(group.subscribers.items()):
            frame: Frame
            if answer.fatal:
                frame = (
                    '{"id":'
                    + orjson.dumps(op_id).decode()
                    + ',"type":"error","payload":'
                    + _errors_of(answer.body)
                    + "}"
                )
                self.remove(socket, op_id)
            else:
                frame = (prefix, answer.body)
            if socket.offer(frame):
                sent += 1
            else:
                self.metrics.closed.labels(reason=str(SLOW_CONSUMER)).inc()
        self.metrics.messages.inc(sent)
        self.freezer.made()

    # keep-alive and shutdown -------------------------------------------------------------

    def ping_all(self, part: int = 0, parts: int = 1) -> None:
        """Ping the sockets of one slice (`slot % parts == part`), all by default."""
        for socket in list(self.sockets):
            if socket.slot % parts != part:
                continue
            if socket.ready and not socket.offer('{"type":"ping"}'):
                self.metrics.closed.labels(reason=str(SLOW_CONSUMER)).inc()

    def close_all(self, code: int = GOING_AWAY, reason: str = "Server shutting down") -> None:
        for socket in list(self.sockets):
            socket.close(code, reason)


def _errors_of(body: str) -> str:
    errors = orjson.loads(body).get("errors") or [{"message": "The subscription ended."}]
    return orjson.dumps(errors).decode()
