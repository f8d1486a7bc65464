"""Applies NIM events to the session lists: the one write path for the webhook, the import
command and the demo seeder."""

from __future__ import annotations

from enum import Enum

from gateway.domain.events import Event, IgnoredEvent, MessageEvent, RecallEvent, parse_event
from gateway.store.base import SessionStore


class Outcome(Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


class Ingestor:
    def __init__(self, store: SessionStore) -> None:
        self._store = store

    async def apply_json(self, body: object) -> tuple[Event, Outcome]:
        """Parse and apply one CC event body; raises BadEvent for anything unusable."""
        event = parse_event(body)
        return event, await self.apply(event)

    async def apply(self, event: Event) -> Outcome:
        if isinstance(event, IgnoredEvent):
            return Outcome.IGNORED
        deliveries, team = event.conversation.fanout()
        if isinstance(event, MessageEvent):
            applied = await self._store.record_message(event.message, deliveries, team=team)
        else:
            assert isinstance(event, RecallEvent)
            applied = await self._store.revoke_message(event.revoke, deliveries, team=team)
        return Outcome.APPLIED if applied else Outcome.DUPLICATE
