"""Subscription root: live changes to the viewer's session list."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from gateway.domain.sync import SyncPosition
from gateway.errors import BadUserInput
from gateway.live import Upserted, session_events
from gateway.schema.context import Context
from gateway.schema.prefetch import last_messages
from gateway.schema.sync import SessionEvent, graphql_event

Info = strawberry.Info[Context, None]

# Sent when a subscriber falls too far behind; it should resync with its last sync token.
SLOW_SUBSCRIBER_CLOSE_CODE = 4008


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The viewer's session changes in commit order, each with the sync token "
        "after it. With `since`, the changes after that token come first, so a client that "
        "reconnects misses nothing."
    )
    async def session_events(
        self, info: Info, since: str | None = strawberry.UNSET
    ) -> AsyncGenerator[SessionEvent, None]:
        ctx = info.context
        viewer = ctx.viewer()
        close = ctx.close_connection
        if close is None:
            raise BadUserInput("subscribe over a WebSocket (graphql-transport-ws) at /graphql")
        start = SyncPosition.parse(since) if since else await ctx.store.sync_position(viewer)
        if since:
            await ctx.store.changes_since(viewer, start, 1)  # an expired token fails up front

        async def overflow() -> None:
            await close(SLOW_SUBSCRIBER_CLOSE_CODE, "too far behind: resync with your sync token")

        events = session_events(ctx.store, ctx.notifier, viewer, start,
                                capacity=ctx.event_queue_size, on_overflow=overflow)  # fmt: skip
        if ctx.metrics is not None:
            ctx.metrics.subscriptions.inc()
        try:
            async for event in events:
                sessions = [event.session] if isinstance(event, Upserted) else []
                yield graphql_event(event, await last_messages(info, sessions))
        finally:
            if ctx.metrics is not None:
                ctx.metrics.subscriptions.dec()
