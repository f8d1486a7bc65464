"""Per-request context: who is asking, and what serves them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from gateway.domain.cursors import CursorCodec
from gateway.domain.groups import DEFAULT_LIMITS, GroupLimits, SessionGroup
from gateway.domain.keys import SessionKey
from gateway.errors import Unauthenticated
from gateway.live import ChangeNotifier
from gateway.metrics import Metrics
from gateway.schema.limits import RateLimiter
from gateway.store.base import SessionStore


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
    _groups_loader: DataLoader[SessionKey, list[SessionGroup]] | None = field(
        default=None, repr=False
    )

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
