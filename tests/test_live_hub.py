"""The live hub without a network: grouping, bounded queues, limits, coalescing.

Invariants guarded here:
- subscribers of one document, variables and credential share one group: one execution per
  event however many they are; another credential is another group;
- a socket whose send queue is full is closed with 4008 (slow consumer), never buffered
  beyond its bound, and counted in the metrics;
- the per-connection and per-tenant limits refuse a subscription with a reason;
- an event of another tenant runs nothing; events about one object arriving before its
  group's execution starts coalesce into one execution;
- once subscriptions settle, and after a fan-out, the process's objects are frozen out of
  the collector's full passes (which stalled a fan-out ~1 s with 10,000 subscribers); cyclic
  garbage frozen with them is collected after the open sockets have turned over, or after a
  bounded number of freezes.
"""

from __future__ import annotations

import asyncio
import gc
import uuid
import weakref

from prometheus_client import CollectorRegistry

from core.ids import encode_id
from microspace.live.freezer import Freezer
from microspace.live.hub import SLOW_CONSUMER, Answer, Hub, Socket, frame_text
from microspace.live.metrics import LiveMetrics
from microspace.live.topics import Event, plan
from schema.build import build_schema

SCHEMA = build_schema()._schema  # type: ignore[attr-defined]
TENANT, OTHER = uuid.uuid4(), uuid.uuid4()
SPACE = uuid.uuid4()
DOC = "subscription($id: ID!) { spaceChanged(id: $id) { id title } }"


def _hub(**limits: int) -> tuple[Hub, list[str | None]]:
    hub = Hub(
        LiveMetrics(CollectorRegistry()),
        per_connection=limits.get("per_connection", 100),
        per_tenant=limits.get("per_tenant", 1000),
    )
    ran: list[str | None] = []

    async def run(group, obj):  # type: ignore[no-untyped-def]
        ran.append(obj)
        await asyncio.sleep(0.01)
        return Answer('{"data":{"spaceChanged":{"id":"x","title":"t"}}}')

    hub.run = run
    return hub, ran


def _add(hub: Hub, socket: Socket, op: str, credential: str = "Bearer a") -> str | None:
    p = plan(SCHEMA, DOC, None, {"id": encode_id("Space", SPACE)}, "member")
    return hub.add(
        socket,
        op,
        p,
        tenant_id=TENANT,
        kind="member",
        credential=credential,
        origin=None,
        client=None,
    )


def _event(tenant: uuid.UUID = TENANT) -> Event:
    return Event(tenant, uuid.uuid4(), "space.updated", encode_id("Space", SPACE), None)


async def test_one_execution_per_group_and_event():
    hub, ran = _hub()
    sockets = [Socket(8) for _ in range(50)]
    for s in sockets:
        assert _add(hub, s, "1") is None
    other = Socket(8)
    assert _add(hub, other, "1", credential="Bearer b") is None
    hub.dispatch([_event()])
    await asyncio.gather(*hub.tasks)
    assert len(ran) == 2  # two credentials, 51 subscribers
    assert all(len(s.frames) == 1 for s in [*sockets, other])
    frame = frame_text(sockets[0].frames.popleft())
    assert (
        frame
        == '{"id":"1","type":"next","payload":{"data":{"spaceChanged":{"id":"x","title":"t"}}}}'
    )


async def test_a_full_queue_closes_the_socket_as_a_slow_consumer():
    hub, _ = _hub()
    slow = Socket(2)
    _add(hub, slow, "1")
    for _ in range(3):
        hub.dispatch([_event()])
        await asyncio.gather(*hub.tasks)
    assert slow.closed and slow.close_code is not None
    assert slow.close_code[0] == SLOW_CONSUMER == 4008
    assert len(slow.frames) <= 2  # never past its bound
    closes = hub.metrics.closed.labels(reason="4008")._value.get()
    assert closes == 1


async def test_limits_refuse_with_a_reason():
    hub, _ = _hub(per_connection=2, per_tenant=3)
    a, b = Socket(8), Socket(8)
    assert _add(hub, a, "1") is None and _add(hub, a, "2") is None
    assert "at most 2 subscriptions" in (_add(hub, a, "3") or "")
    assert _add(hub, b, "1") is None
    assert "per process" in (_add(hub, b, "2") or "")
    hub.detach(a)
    assert _add(hub, b, "2") is None  # the tenant's count went down with the socket


async def test_other_tenants_events_run_nothing_and_one_objects_events_coalesce():
    hub, ran = _hub()
    s = Socket(8)
    _add(hub, s, "1")
    hub.dispatch([_event(OTHER)])
    assert not hub.tasks and not ran
    hub.dispatch([_event(), _event(), _event()])
    await asyncio.gather(*hub.tasks)
    assert len(ran) == 1


def test_keep_alive_pings_a_slice_at_a_time_and_every_socket_once_a_period():
    hub, _ = _hub()
    sockets = [Socket(8) for _ in range(200)]
    for s in sockets:
        s.ready = True
        hub.attach(s)
    hub.ping_all(part=0, parts=10)
    first = sum(len(s.frames) for s in sockets)
    assert 0 < first < 60  # a slice, not the 200 at once
    for part in range(1, 10):
        hub.ping_all(part=part, parts=10)
    assert all(len(s.frames) == 1 for s in sockets)


def _walked(obj: object) -> bool:
    """Whether the collector's passes walk `obj` (frozen objects are in none of them)."""
    return any(o is obj for o in gc.get_objects())


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_settled_subscriptions_are_frozen_and_frozen_garbage_goes_after_turnover():
    hub, _ = _hub()
    hub.freezer = Freezer(settle=0.02, turnover_min=3)
    try:
        sockets = [Socket(8) for _ in range(3)]
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        for s in sockets:
            hub.attach(s)
            assert _add(hub, s, "1") is None
        assert _walked(sockets[0])  # not yet: the burst has not settled
        await asyncio.sleep(0.1)
        assert hub.freezer.freezes == 1  # one freeze for the burst
        assert not _walked(sockets[0]) and not _walked(hub.groups)
        hub.dispatch([_event()])
        await asyncio.gather(*hub.tasks)
        await asyncio.sleep(0.1)
        assert hub.freezer.freezes == 2  # and one after the fan-out
        del cycle
        gc.collect()
        assert gone() is not None  # frozen garbage: kept until the turnover
        for s in sockets:
            hub.detach(s)
        await asyncio.sleep(0)
        assert hub.freezer.passes == 1
        assert gone() is None
    finally:
        hub.freezer.stop()
        gc.unfreeze()


async def test_a_mass_disconnect_costs_one_full_pass_at_its_end():
    hub, _ = _hub()
    hub.freezer = Freezer(settle=60, turnover_min=2)
    try:
        sockets = [Socket(8) for _ in range(10)]
        for s in sockets:
            hub.attach(s)
        for s in sockets[:9]:
            hub.detach(s)
        await asyncio.sleep(0)
        assert hub.freezer.passes == 0  # 9 of the 10 open: not yet turned over
        hub.detach(sockets[9])
        await asyncio.sleep(0)
        assert hub.freezer.passes == 1
    finally:
        hub.freezer.stop()
        gc.unfreeze()


def test_frozen_garbage_is_collected_after_a_bounded_number_of_freezes():
    freezer = Freezer(freezes_per_pass=3)
    try:
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        freezer.freeze()
        del cycle
        freezer.freeze()
        assert gone() is not None and freezer.passes == 0
        freezer.freeze()
        assert freezer.passes == 1 and gone() is None
    finally:
        gc.unfreeze()
