"""Per-request context: who is asking, and the loaders that batch their reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from gateway.domain.cursors import CursorCodec
from gateway.domain.sessions import Message
from gateway.errors import Unauthenticated
from gateway.live import ChangeNotifier
from gateway.schema.limits import RateLimiter
from gateway.schema.loaders import message_loader
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
    messages: DataLoader[str, Message | None] = field(init=False)

    def __post_init__(self) -> None:
        self.messages = message_loader(self.store)

    def viewer(self) -> str:
        """The authenticated account; raises UNAUTHENTICATED for anonymous requests."""
        if self.viewer_id is None:
            raise self.auth_error or Unauthenticated(
                "no access token: send 'Authorization: Bearer <JWT>'"
            )
        return self.viewer_id
