"""Idle subscriptions without a task.

A subscription whose events go out as frames from the notifier's fan-out (schema/frames.py,
``live.Watcher.take``) has nothing to do while it waits: its task would only hold, suspended,
the stack that started it (the WebSocket handler's operation, the schema's stream and its
extensions, graphql-core's subscription, the resolver's generators), some 20 KiB a
subscription. So on graphql-transport-ws, where it would wait, it parks instead: its run of
the operation ends without a ``complete``, and only its watcher stays, in the notifier. When
the fan-out cannot serve it (a read is needed, a message is not at hand, an event does not
compile), the watcher calls ``Parking.resume``: the handler runs the operation again, and the
subscription goes on from the watcher's position, then parks again. A run that ends without
parking (the client completed the operation, the socket closed, the subscriber fell behind, an
error) ends the subscription: ``close`` takes the watcher out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.live import ChangeNotifier, Watcher


@dataclass(eq=False, slots=True)
class Parking:
    """One operation's subscription across the runs of its operation."""

    resume: Callable[[], None]  # runs the operation again, in a task of its own
    watcher: Watcher | None = None  # once the first run has started to follow
    closed: bool = False
    _release: Callable[[], None] | None = field(default=None, repr=False)

    def adopt(self, notifier: ChangeNotifier, owner: str, watcher: Watcher,
              on_close: Callable[[], None]) -> None:  # fmt: skip
        """The first run's ``watcher`` (of ``owner``'s changes): added to ``notifier`` until
        ``close``, which also calls ``on_close``."""
        notifier.add(owner, watcher)
        self.watcher = watcher

        def release() -> None:
            notifier.discard(owner, watcher)
            on_close()

        self._release = release

    def park(self, watcher: Watcher) -> bool:
        if self.closed:
            return False
        watcher.on_wake = self._wake
        return True

    def _wake(self) -> None:
        if not self.closed:
            self.resume()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.watcher is not None:
            self.watcher.on_wake = None
        if self._release is not None:
            self._release()


@dataclass(eq=False, slots=True)
class ParkingRun:
    """One run of the operation (``Context.run``): ``parked`` once its subscription parked,
    ending the run."""

    parking: Parking
    resumed: bool
    parked: bool = False

    def park(self, watcher: Watcher) -> bool:
        self.parked = self.parking.park(watcher)
        return self.parked
