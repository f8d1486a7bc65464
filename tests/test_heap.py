"""While the gateway serves, what its start-up built is out of the garbage collector's way."""

from __future__ import annotations

import asyncio
import gc

from gateway.heap import SettlingHeap, frozen_after_start, settling
from gateway.live import ChangeNotifier
from gateway.settings import Settings
from gateway.store import open_store
from gateway.web.app import served_app


async def test_what_exists_when_entered_is_frozen_until_exited() -> None:
    built = [object()]  # a container, tracked by the collector
    async with frozen_after_start():
        assert gc.get_freeze_count() > 0
        assert not any(o is built for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(o is built for o in gc.get_objects())


async def test_a_served_app_is_frozen_while_it_serves(settings: Settings) -> None:
    store = open_store(settings)
    app = served_app(settings, store, lifespan=[store])
    async with app.router.lifespan_context(app):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


async def test_subscriptions_are_frozen_once_they_settle() -> None:
    heap = SettlingHeap()
    async with frozen_after_start():
        heap.serving = True
        heap.started()
        connection = [object()]  # built for the subscription, after start-up
        heap.settle()
        assert not any(o is connection for o in gc.get_objects())
        heap.ended()


async def test_a_subscription_starting_arms_the_settling() -> None:
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    class Watched(SettlingHeap):
        def settle(self) -> None:
            super().settle()
            settled.set_result(None)

    heap = Watched(settle_s=0)
    async with frozen_after_start():
        heap.serving = True
        heap.started()
        await asyncio.wait_for(settled, 10)
        heap.ended()


def test_nothing_is_armed_or_frozen_when_not_serving() -> None:
    heap = SettlingHeap(settle_s=0)
    heap.started()  # no running loop needed: nothing is scheduled
    heap.ended()
    assert gc.get_freeze_count() == 0
    assert heap.alive == 0


async def test_the_heap_thaws_once_more_subscriptions_ended_than_were_frozen() -> None:
    heap = SettlingHeap()
    async with frozen_after_start():
        heap.serving = True
        for _ in range(150):
            heap.started()
        heap.settle()
        for _ in range(150):
            heap.ended()
            assert gc.get_freeze_count() > 0  # garbage of as many as were frozen, at most
        heap.started()
        heap.ended()
        assert gc.get_freeze_count() == 0
        heap.stop()


async def test_a_subscription_counts_as_alive_while_it_watches() -> None:
    notifier = ChangeNotifier()
    before = settling.alive
    with notifier.watch("alice"):
        assert settling.alive == before + 1
    assert settling.alive == before
