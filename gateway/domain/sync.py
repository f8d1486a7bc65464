"""The change feed: every write to a session stamps it with a new version, so "everything after
this token" is a keyset over (version, key), and deletions stay visible as tombstones."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from gateway.domain.keys import SessionKey
from gateway.domain.sessions import Session
from gateway.errors import BadUserInput


@dataclass(frozen=True, slots=True)
class SyncPosition:
    """A point in one owner's change feed: every change up to ``version`` (up to ``key`` within
    that version, when a page ended inside it) has been seen."""

    version: int
    key: str | None = None

    def token(self) -> str:
        payload = orjson.dumps([self.version, self.key])
        return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")

    @classmethod
    def parse(cls, token: str) -> SyncPosition:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            version, key = orjson.loads(raw)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise BadUserInput("the sync token is malformed") from None
        if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**63:
            raise BadUserInput("the sync token is malformed")  # versions are BIGINTs
        if key is not None and not isinstance(key, str):
            raise BadUserInput("the sync token is malformed")
        if key is not None:
            try:
                SessionKey.parse(key)  # what no store holds (NUL, ...) is no position in a feed
            except BadUserInput:
                raise BadUserInput("the sync token is malformed") from None
        return cls(version, key)


@dataclass(frozen=True, slots=True)
class Change:
    """A session as it is now (``session``), or the tombstone of a deleted one."""

    version: int
    key: SessionKey
    session: Session | None

    @property
    def position(self) -> SyncPosition:
        return SyncPosition(self.version, str(self.key))


@dataclass(frozen=True, slots=True)
class ChangeSet:
    changes: list[Change]
    position: SyncPosition  # after the last change, or the token asked with when there is none
    has_more: bool
