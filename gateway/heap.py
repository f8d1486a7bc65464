"""The serving process's heap.

What start-up builds (modules, the schema, the store and its connections) lives as long as the
process, and there is a lot of it: ~75,000 objects that every full collection of the cyclic
garbage collector walks again. Such a collection takes tens of milliseconds on a small machine
and stops every request in flight, which is where a busy worker's p99 came from. Frozen after
start-up, those objects are left out of every collection; what requests allocate is collected
as before (the thresholds stay Python's: raising them made the young collections, which then
walk every request in flight, pause longer than the full ones did once frozen).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def frozen_after_start() -> AsyncIterator[None]:
    """Freezes what exists when entered (a lifespan enters it once start-up is done) out of
    the cyclic garbage collector, until exited."""
    gc.collect()  # start-up's garbage is freed, not frozen for good
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
