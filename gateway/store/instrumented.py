"""Store calls as an operator sees them: every call through the store interface timed by
operation, failures counted, and, when tracing is on, a span per call (``store.list_sessions``)
inside the request's trace; whatever the backend."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from gateway.store.base import SessionStore

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

Observer = Callable[[float, bool], None]  # (seconds, failed)

# Closing belongs to the store's lifecycle, not to serving traffic.
_UNINSTRUMENTED = frozenset({"close"})


def instrumented(
    store: SessionStore, observer_for: Callable[[str], Observer], tracer: Tracer | None = None
) -> SessionStore:
    """``store`` with each async call of operation ``name`` reported to ``observer_for(name)``
    as ``(seconds, failed)``, and traced by ``tracer`` when one is given."""
    return cast(SessionStore, _InstrumentedStore(store, observer_for, tracer))


class _InstrumentedStore:
    def __init__(
        self, store: SessionStore, observer_for: Callable[[str], Observer], tracer: Tracer | None
    ) -> None:
        self._store = store
        self._observer_for = observer_for
        self._tracer = tracer

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name in _UNINSTRUMENTED or not inspect.iscoroutinefunction(attribute):
            return attribute
        call = attribute if self._tracer is None else _traced(attribute, name, self._tracer)
        timed = _timed(call, self._observer_for(name))
        setattr(self, name, timed)  # wrapped once; later lookups find it without __getattr__
        return timed


Call = Callable[..., Coroutine[Any, Any, Any]]


def _timed(call: Call, observe: Observer) -> Call:
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


def _traced(call: Call, name: str, tracer: Tracer) -> Call:
    from opentelemetry.trace import SpanKind

    span_name = f"store.{name}"

    @functools.wraps(call)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        # Errors are recorded on the span and re-raised (start_as_current_span's defaults).
        with tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT):
            return await call(*args, **kwargs)

    return traced
