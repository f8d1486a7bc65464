"""Applies NIM events to the session lists: the one write path for the webhook, the import
command, dead letters' replay and the demo seeder."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

import orjson

from gateway.domain.events import (
    Event,
    IgnoredEvent,
    MessageEvent,
    RecallEvent,
    TeamMessageEvent,
    parse_event,
)
from gateway.domain.keys import SessionType
from gateway.domain.sessions import Message
from gateway.errors import BadEvent
from gateway.store.base import SessionStore


def parse_body(body: bytes, *, not_after: int | None = None) -> Event:
    """A CC request's raw body as an event (times at most ``not_after``, as parse_event takes
    them); raises BadEvent, with the code a dead letter is kept under, for anything the gateway
    cannot use."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadEvent("the body is not JSON", code="BAD_JSON") from None
    return parse_event(document, not_after=not_after)


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


# How far past the ingestor's clock an event's times may be (GATEWAY_NIM_MAX_EVENT_AHEAD_S).
MAX_EVENT_AHEAD_MS = 300_000


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Ingestor:
    def __init__(
        self,
        store: SessionStore,
        clock: Callable[[], int] = wall_clock_ms,
        *,
        on_stored: Callable[[Message], None] | None = None,
        max_ahead_ms: int = MAX_EVENT_AHEAD_MS,
    ) -> None:
        """``on_stored`` hears of each message this ingestor stored, once it is committed (and
        before the subscribers it woke run: live.MessageCache.remember). An event's times are
        taken as at most ``max_ahead_ms`` past the clock: one far ahead (a sender's clock, a
        bad value NIM passed on) would otherwise stay the newest thing of its session and team
        and make every later event "late"."""
        self._store = store
        self._clock = clock
        self._on_stored = on_stored
        self.max_ahead_ms = max_ahead_ms

    def parse(self, body: bytes) -> Event:
        """A CC request's raw body as an event, its times bounded by this ingestor's clock."""
        return parse_body(body, not_after=self._clock() + self.max_ahead_ms)

    def parse_document(self, document: object) -> Event:
        """A CC event's parsed JSON as an event, its times bounded by this ingestor's clock."""
        return parse_event(document, not_after=self._clock() + self.max_ahead_ms)

    async def apply_json(self, body: object) -> tuple[Event, Outcome]:
        """Parse and apply one CC event body; raises BadEvent for anything unusable."""
        event = parse_event(body, not_after=self._clock() + self.max_ahead_ms)
        return event, await self.apply(event)

    async def apply(self, event: Event) -> Outcome:
        if isinstance(event, IgnoredEvent):
            return Outcome.IGNORED
        applied: bool | None  # None: a recall of another chat's message, ignored
        if isinstance(event, MessageEvent):
            deliveries = event.conversation.deliveries()
            applied = await self._store.record_message(event.message, deliveries)
        elif isinstance(event, TeamMessageEvent):
            applied = await self._store.record_team_message(
                event.team, event.message, event.change, self._clock()
            )
        else:
            assert isinstance(event, RecallEvent)
            conversation = event.conversation
            if conversation.type is SessionType.P2P:
                applied = await self._store.revoke_message(
                    event.revoke, conversation.deliveries(), sent=event.sent
                )
            else:
                applied = await self._store.revoke_message(
                    event.revoke, team=conversation.team, sent=event.sent
                )
        if applied is None:
            return Outcome.IGNORED
        if (
            applied
            and self._on_stored is not None
            and isinstance(event, MessageEvent | TeamMessageEvent)
        ):
            self._on_stored(event.message)
        return Outcome.APPLIED if applied else Outcome.DUPLICATE
