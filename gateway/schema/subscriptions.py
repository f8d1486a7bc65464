"""Subscription root: live changes to the viewer's session list."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

import strawberry

from gateway.domain import sessions as domain
from gateway.domain.sync import SyncPosition
from gateway.errors import BadUserInput
from gateway.live import Event, MessageCache, Upserted, Watcher, follow, patiently
from gateway.metrics import Metrics
from gateway.schema.context import Context
from gateway.schema.conversations import UnreadFilter
from gateway.schema.frames import EventRenderer, FrameSink, renderer_for
from gateway.schema.prefetch import selects
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
        close = _socket_closer(ctx)
        run = ctx.run
        resumed = run.parking.watcher if run is not None and run.resumed else None
        if resumed is not None:  # parked, and now run again: on from where it stood
            start = resumed.position
        else:
            start = SyncPosition.parse(since) if since else await ctx.store.sync_position(viewer)
            if since:
                await ctx.store.changes_since(viewer, start, 1)  # an expired token fails up front

        async def overflow() -> None:
            await close(SLOW_SUBSCRIBER_CLOSE_CODE, "too far behind: resync with your sync token")

        # Over a WebSocket, events whose selection compiles go out as frames from here; any
        # other event is yielded to Strawberry, in order (it is sent before this resumes).
        sink = ctx.frames
        renderer = None if sink is None else renderer_for(info)
        with_messages = selects(info, "lastMessage", deep=True)
        deliver = None
        if sink is not None and renderer is not None and sink.send_text_now is not None:
            deliver = _direct_delivery(ctx.notifier.messages, sink, renderer,
                                       with_messages=with_messages)  # fmt: skip
        # Over graphql-transport-ws, with every event sent from the fan-out, it waits parked,
        # without a task (schema/parking.py); the parking counts it, once.
        parking = run.parking if run is not None and deliver is not None else None
        watcher = resumed
        if parking is not None and watcher is None:
            watcher = Watcher(ctx.event_queue_size)
            watcher.position = start
            parking.adopt(ctx.notifier, viewer, watcher, _uncount(ctx.metrics))
            if ctx.metrics is not None:
                ctx.metrics.subscriptions.inc()
        park = None if parking is None or run is None else run.park
        events = follow(ctx.store, ctx.notifier, viewer, start, capacity=ctx.event_queue_size,
                        on_overflow=overflow, deliver=deliver, watcher=watcher,
                        park=park)  # fmt: skip
        if ctx.metrics is not None and parking is None:
            ctx.metrics.subscriptions.inc()
        try:
            async for batch in events:
                messages = await _messages(ctx, batch) if with_messages else {}
                for event in batch:
                    payload = None if renderer is None else renderer.payload(event, messages)
                    if payload is None:
                        yield graphql_event(event, messages)
                    else:
                        assert sink is not None
                        await sink.send(payload)
        finally:
            await events.aclose()
            if ctx.metrics is not None and parking is None:
                ctx.metrics.subscriptions.dec()

    @strawberry.subscription(
        description="The unread count of a filter (as `unreadCount`): now, then each time it "
        "changes, and only then (NIM V2's subscribeUnreadCountByFilter)."
    )
    async def unread_count(
        self, info: Info, filter: UnreadFilter | None = strawberry.UNSET
    ) -> AsyncGenerator[int, None]:
        ctx = info.context
        viewer = ctx.viewer()
        close = _socket_closer(ctx)
        filters = (filter or UnreadFilter()).filters()

        async def overflow() -> None:
            await close(SLOW_SUBSCRIBER_CLOSE_CODE, "too far behind: subscribe again")

        # The feed from before the first count: a change committed in between is read again
        # below and, changing nothing, sends nothing.
        start = await ctx.store.sync_position(viewer)
        count = await ctx.store.unread_count(viewer, filters)
        yield count
        changes = follow(ctx.store, ctx.notifier, viewer, start, capacity=ctx.event_queue_size,
                         on_overflow=overflow)  # fmt: skip
        if ctx.metrics is not None:
            ctx.metrics.subscriptions.inc()
        try:
            async for _ in changes:
                now = await ctx.store.unread_count(viewer, filters)
                if now != count:
                    count = now
                    yield count
        finally:
            await changes.aclose()
            if ctx.metrics is not None:
                ctx.metrics.subscriptions.dec()


def _uncount(metrics: Metrics | None) -> Callable[[], None]:
    # What a parked subscription keeps holds no context of its operation's: only what it uses.
    def uncount() -> None:
        if metrics is not None:
            metrics.subscriptions.dec()

    return uncount


def _socket_closer(ctx: Context) -> Callable[[int, str], Awaitable[None]]:
    """What closes the subscriber's WebSocket; a subscription over anything else is refused."""
    if ctx.close_connection is None:
        raise BadUserInput("subscribe over a WebSocket (graphql-transport-ws) at /graphql")
    return ctx.close_connection


def _direct_delivery(
    cache: MessageCache, sink: FrameSink, renderer: EventRenderer, *, with_messages: bool
) -> Callable[[list[Event]], bool]:
    """Sends a batch of events from the notifier's fan-out (live.Watcher.take), as the loop in
    ``session_events`` would, or nothing (False) when that loop must: a message is not at hand
    without a read, an event does not compile, or the socket cannot take the frames now."""

    def deliver(events: list[Event]) -> bool:
        messages: Mapping[str, domain.Message] = {}
        if with_messages:
            known = cache.at_hand(_message_ids(events))
            if known is None:
                return False
            messages = known
        payloads = []
        for event in events:
            payload = renderer.payload(event, messages)
            if payload is None:
                return False
            payloads.append(payload)
        return sink.send_now(payloads)

    return deliver


async def _messages(ctx: Context, events: list[Event]) -> Mapping[str, domain.Message]:
    """The last messages of the events' sessions: none read for the fan-out of a message the
    webhook stored, one read for all the subscriptions that ask at once (live.MessageCache)."""
    ids = _message_ids(events)
    return await patiently(lambda: ctx.notifier.messages.get(ctx.store, ids)) if ids else {}


def _message_ids(events: list[Event]) -> list[str]:
    return [
        ref
        for e in events
        if isinstance(e, Upserted) and (ref := e.session.shown_message_ref) is not None
    ]
