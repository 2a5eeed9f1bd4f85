"""Keeps the objects of open connections out of the cyclic collector's full passes.

A full (generation 2) pass walks every tracked object. With 10,000 subscribers on one
process that is ~1.4 million objects (~136 per connection: its protocol, transport, tasks,
queue, scope), ~1 s on a 2-core machine; the pass falls where allocation triggers it, in the
middle of a fan-out, so one change in several reached everyone ~1 s late (bench/README.md).

Once a burst of subscriptions has settled, the process's objects are frozen (`gc.freeze`:
moved to the permanent generation, which no pass walks); so they are after a fan-out too,
which renews every subscriber's waiting (~13 objects each: the coroutines, futures and
wake-ups of its pending receive and send) that would otherwise fill the oldest generation
again. Frozen objects are still freed by reference counting when they die (a closed
connection leaves no cycles). What freezing can keep is cyclic garbage that had already
reached the oldest generation (a request's leftovers); so everything is unfrozen, collected
once (a pass CPython would have run anyway) and frozen again once as many sockets have closed
as were open at most since the last full pass (the population has turned over), or after
FREEZES_PER_PASS freezes (an hour of constant activity).
"""

from __future__ import annotations

import asyncio
import gc

SETTLE_SECONDS = 1.0
# a full pass at least this many closes apart, however few sockets stay open
TURNOVER_MIN = 1000
FREEZES_PER_PASS = 3600


class Freezer:
    def __init__(
        self,
        settle: float = SETTLE_SECONDS,
        turnover_min: int = TURNOVER_MIN,
        freezes_per_pass: int = FREEZES_PER_PASS,
    ) -> None:
        self.settle = settle
        self.turnover_min = turnover_min
        self.freezes_per_pass = freezes_per_pass
        self.since_pass = 0  # freezes since the last full pass
        self.closed = 0  # sockets closed since the last full pass
        self.peak = 0  # most sockets open at once since then
        self.stopped = False
        self.freezes = 0
        self.passes = 0
        self._timer: asyncio.TimerHandle | None = None

    def made(self) -> None:
        """Long-lived objects were made (a subscription, a fan-out's renewed waiting): freeze
        them once the burst has settled (at most once per `settle` seconds)."""
        if self._timer is None and not self.stopped:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.settle, self.freeze)

    def left(self, still_open: int) -> None:
        """A socket closed: once the open population has turned over, one full pass (a mass
        disconnect of N sockets costs one pass, at its end)."""
        if self.stopped:
            return
        self.closed += 1
        self.peak = max(self.peak, still_open + 1)
        if self.closed >= max(self.turnover_min, self.peak):
            self.closed, self.peak = 0, still_open
            asyncio.get_running_loop().call_soon(self.full_pass)

    def freeze(self) -> None:
        self._timer = None
        self.since_pass += 1
        if self.since_pass >= self.freezes_per_pass:
            self.full_pass()
            return
        # the young generations' garbage is collected (a few ms), not frozen
        gc.collect(1)
        gc.freeze()
        self.freezes += 1

    def full_pass(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.passes += 1
        self.since_pass = 0

    def stop(self) -> None:
        """Shutting down: the sockets' closes need no collection."""
        self.stopped = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
