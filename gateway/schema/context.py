"""Per-operation context: who is asking, and what serves them.

Over HTTP each request has its own. Over a WebSocket, Strawberry keeps one per connection (made
in ``get_context``, authenticated in ``on_ws_connect``), and the gateway's subprotocol handlers
(web/subprotocols.py) run each operation with a copy of its own (``for_operation``), which
carries where the operation's frames go and its run's parking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from strawberry.dataloader import DataLoader

from gateway.domain.cursors import CursorCodec
from gateway.domain.groups import DEFAULT_LIMITS, GroupLimits, SessionGroup
from gateway.domain.keys import SessionKey
from gateway.errors import Unauthenticated
from gateway.live import ChangeNotifier
from gateway.metrics import Metrics
from gateway.schema.limits import RateLimiter
from gateway.store.base import SessionStore

if TYPE_CHECKING:
    from gateway.schema.frames import FrameSink
    from gateway.schema.parking import ParkingRun


@dataclass(slots=True)  # a WebSocket's lives as long as the socket
class Context:
    store: SessionStore
    cursors: CursorCodec
    clock: Callable[[], int]
    notifier: ChangeNotifier
    event_queue_size: int = 1000
    viewer_id: str | None = None
    auth_error: Unauthenticated | None = None
    # WebSocket connections: the connection_init payload, and how to close the socket.
    connection_params: dict[str, object] | None = None
    close_connection: Callable[[int, str], Awaitable[None]] | None = None
    socket_id: int = 0
    rate_limiter: RateLimiter | None = None
    metrics: Metrics | None = None
    group_limits: GroupLimits = DEFAULT_LIMITS
    # The operation's own. Where a subscription sends the events it compiles, as finished
    # frames (None: every event goes through Strawberry); its run, when it may park.
    frames: FrameSink | None = None
    run: ParkingRun | None = None
    _groups_loader: DataLoader[SessionKey, list[SessionGroup]] | None = field(
        default=None, repr=False
    )

    def for_operation(
        self, frames: FrameSink | None = None, run: ParkingRun | None = None
    ) -> Context:
        """This connection's context for one operation (``run``: one run of it, which may park)."""
        return replace(self, frames=frames, run=run, _groups_loader=None)

    @property
    def resumed(self) -> bool:
        """A run that goes on with an operation already under way (a parked subscription's):
        it spends no token and is not observed again (GatewaySchema)."""
        return self.run is not None and self.run.resumed

    def viewer(self) -> str:
        """The authenticated account; raises UNAUTHENTICATED for anonymous requests."""
        if self.viewer_id is None:
            raise self.auth_error or Unauthenticated(
                "no access token: send 'Authorization: Bearer <JWT>'"
            )
        return self.viewer_id

    def groups_of(self, key: SessionKey) -> Awaitable[list[SessionGroup]]:
        """The viewer's groups that hold the session ``key``: the sessions of one response ask
        together, in one read (uncached: a WebSocket's context lives as long as its socket)."""
        if self._groups_loader is None:
            viewer = self.viewer()

            async def load(keys: Sequence[SessionKey]) -> list[list[SessionGroup]]:
                found = await self.store.groups_of(viewer, keys)
                return [found.get(key, []) for key in keys]

            self._groups_loader = DataLoader(load, cache=False)
        return self._groups_loader.load(key)
