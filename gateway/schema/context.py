"""Per-request context: who is asking, and what serves them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.domain.cursors import CursorCodec
from gateway.errors import Unauthenticated
from gateway.live import ChangeNotifier
from gateway.metrics import Metrics
from gateway.schema.limits import RateLimiter
from gateway.store.base import SessionStore


@dataclass
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

    def viewer(self) -> str:
        """The authenticated account; raises UNAUTHENTICATED for anonymous requests."""
        if self.viewer_id is None:
            raise self.auth_error or Unauthenticated(
                "no access token: send 'Authorization: Bearer <JWT>'"
            )
        return self.viewer_id
