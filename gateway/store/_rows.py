"""Decoding helpers shared by the SQL backends."""

from __future__ import annotations

from functools import lru_cache

from gateway.domain.keys import SessionKey, SessionType


@lru_cache(maxsize=65536)
def key_from_db(text: str) -> SessionKey:
    # Keys in the database were validated on the way in; only split them.
    prefix, _, target = text.partition("|")
    return SessionKey(SessionType(prefix), target)
