"""While the gateway serves, what its start-up built is out of the garbage collector's way."""

from __future__ import annotations

import gc

from gateway.heap import frozen_after_start
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
