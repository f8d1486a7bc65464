"""Dead letters kept and applied again: the webhook keeps what it cannot apply (``keep``), an
operator replays it through the same ingestion once the gateway can (``replay``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from gateway.domain.dead_letters import UNEXPECTED, kept_headers
from gateway.errors import BadEvent
from gateway.ingest import Ingestor
from gateway.store.base import SessionStore

logger = logging.getLogger("gateway.dead_letters")
_BATCH = 100


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a body cannot be applied: a BadEvent's code and message, or UNEXPECTED (with the
    exception, whose traceback the log line carries)."""

    reason: str
    detail: str
    unexpected: Exception | None = None

    @classmethod
    def of(cls, error: Exception) -> Refusal:
        if isinstance(error, BadEvent):
            return cls(error.code, error.message)
        return cls(UNEXPECTED, f"{type(error).__name__}: {error}", error)


async def keep(
    store: SessionStore,
    body: bytes,
    headers: Mapping[str, str],
    refusal: Refusal,
    now: int,
    limit: int,
) -> int:
    """Keep ``body`` as a dead letter, logged once; returns its id."""
    letter_id = await store.keep_dead_letter(now, refusal.reason, refusal.detail,
                                             kept_headers(headers), body, limit)  # fmt: skip
    logger.warning(
        "kept dead letter %d (%s: %s): `gateway dead-letters show %d` to read it",
        letter_id, refusal.reason, refusal.detail, letter_id, exc_info=refusal.unexpected,
    )  # fmt: skip
    return letter_id


@dataclass(frozen=True, slots=True)
class Replayed:
    id: int
    outcome: str  # an ingestion Outcome's value, "missing", or the reason it is still refused
    detail: str = ""

    @property
    def refused(self) -> bool:
        """Still unusable: the letter stays (else it was applied now, or before, and is gone)."""
        return self.outcome not in {"applied", "duplicate", "ignored", "missing"}


async def replay(
    store: SessionStore, ingestor: Ingestor, ids: Sequence[int] | None
) -> AsyncIterator[Replayed]:
    """Apply the letters ``ids`` (None: every letter, oldest first) through the webhook's own
    ingestion; each one applied, or found applied already (a duplicate), is forgotten. Running it
    again changes nothing more."""
    async for letter_id in _ids(store, ids):
        letter = await store.dead_letter(letter_id)
        if letter is None:
            yield Replayed(letter_id, "missing", "no such dead letter")
            continue
        try:
            event = ingestor.parse(letter.body)
        except Exception as e:  # a refusal, however it comes, is reported
            refusal = Refusal.of(e)
            yield Replayed(letter_id, refusal.reason, refusal.detail)
            continue
        outcome = await ingestor.apply(event)
        await store.forget_dead_letters([letter_id])
        yield Replayed(letter_id, outcome.value)


async def _ids(store: SessionStore, ids: Sequence[int] | None) -> AsyncIterator[int]:
    if ids is not None:
        for letter_id in ids:
            yield letter_id
        return
    after = 0
    while batch := await store.dead_letters(after=after, limit=_BATCH):
        for letter in batch:
            yield letter.id
        after = batch[-1].id
