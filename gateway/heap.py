"""The serving process's heap.

What start-up builds (modules, the schema, the store and its connections) lives as long as the
process, and there is a lot of it: ~75,000 objects that every full collection of the cyclic
garbage collector walks again. Such a collection takes tens of milliseconds on a small machine
and stops every request in flight, which is where a busy worker's p99 came from. Frozen after
start-up, those objects are left out of every collection; what requests allocate is collected
as before (the thresholds stay Python's: raising them made the young collections, which then
walk every request in flight, pause longer than the full ones did once frozen).

Subscriptions live long too, and weigh more: with a thousand open (each a connection, its
protocol handlers, tasks and generators), a full collection stopped the loop for 50-400 ms in
the middle of a fan-out. ``settling`` freezes them as well, a second after subscriptions start
(after one full collection of what is not frozen yet, so that no garbage is frozen). Frozen
objects that become cyclic garbage are freed only once unfrozen: when more subscriptions have
ended than were alive at the last freeze, everything is thawed, and the next settling collects.
So settling waits for a pause: a second after the last subscription started (five at most
after the first), and, a few tenths more, while a subscription's run is in flight
(schema/parking.py: a subscription parks by ending its run, whose stack is then garbage).
Frozen in the middle of a connection storm, the handshakes and runs under way became frozen
garbage: 2-4.5 KiB a socket, for good.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_SETTLE_S = 1.0
_MIN_ENDED_TO_THAW = 100
_DEFERRALS = 10  # at most, each a tenth of the settling time
_LONGEST_WAIT = 5  # settling times from the first start not yet settled


class SettlingHeap:
    """Counts the subscriptions that start and end, and freezes them once they settle (only
    while ``serving``: a lifespan entered ``frozen_after_start``)."""

    def __init__(self, settle_s: float = _SETTLE_S) -> None:
        self.serving = False
        self.alive = 0
        self._settle_s = settle_s
        self._timer: asyncio.TimerHandle | None = None
        self._frozen_alive = 0  # subscriptions alive at the last freeze
        self._ended = 0  # since the last freeze or thaw
        self.running = 0  # subscriptions' runs in flight
        self._deferred = 0
        self._first: float | None = None  # when the first start not yet settled came

    def started(self) -> None:
        self.alive += 1
        if not self.serving:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._first is None:
            self._first = now
        if self._timer is not None:
            self._timer.cancel()
        at = min(now + self._settle_s, self._first + _LONGEST_WAIT * self._settle_s)
        self._timer = loop.call_at(at, self.settle)

    def ended(self) -> None:
        self.alive -= 1
        self._ended += 1
        if self.serving and self._ended > max(_MIN_ENDED_TO_THAW, self._frozen_alive):
            gc.unfreeze()
            self._ended = self._frozen_alive = 0

    def run_started(self) -> None:
        self.running += 1

    def run_ended(self) -> None:
        self.running -= 1

    def settle(self) -> None:
        """Collects what is not frozen, then freezes what is left."""
        self.stop()
        if self.running and self._deferred < _DEFERRALS:
            self._deferred += 1
            self._timer = asyncio.get_running_loop().call_later(self._settle_s / 10, self.settle)
            return
        self._deferred = 0
        self._first = None
        gc.collect()
        gc.freeze()
        self._frozen_alive, self._ended = self.alive, 0

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# The collector is the process's: so is what freezes subscriptions out of it.
settling = SettlingHeap()


@asynccontextmanager
async def frozen_after_start() -> AsyncIterator[None]:
    """Freezes what exists when entered (a lifespan enters it once start-up is done) out of
    the cyclic garbage collector, and the subscriptions that start while serving once they
    settle, until exited."""
    gc.collect()  # start-up's garbage is freed, not frozen for good
    gc.freeze()
    settling.serving = True
    try:
        yield
    finally:
        settling.serving = False
        settling.stop()
        gc.unfreeze()
