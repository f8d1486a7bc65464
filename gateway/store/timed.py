"""Store latency as an operator sees it: every call through the store interface timed by
operation, and failures counted, whatever the backend."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from gateway.store.base import SessionStore

Observer = Callable[[float, bool], None]  # (seconds, failed)

# open/close belong to the app's lifespan, not to serving traffic.
_UNTIMED = frozenset({"open", "close"})


def timed(store: SessionStore, observer_for: Callable[[str], Observer]) -> SessionStore:
    """``store`` with each async call of operation ``name`` reported to ``observer_for(name)``
    as ``(seconds, failed)``."""
    return cast(SessionStore, _TimedStore(store, observer_for))


class _TimedStore:
    def __init__(self, store: SessionStore, observer_for: Callable[[str], Observer]) -> None:
        self._store = store
        self._observer_for = observer_for

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name in _UNTIMED or not inspect.iscoroutinefunction(attribute):
            return attribute
        timed = _timed(attribute, self._observer_for(name))
        setattr(self, name, timed)  # wrapped once; later lookups find it without __getattr__
        return timed


def _timed(
    call: Callable[..., Coroutine[Any, Any, Any]], observe: Observer
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(call)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        failed = True
        try:
            result = await call(*args, **kwargs)
            failed = False
            return result
        finally:
            observe(time.perf_counter() - started, failed)

    return timed
