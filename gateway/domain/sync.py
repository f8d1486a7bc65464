"""The change feed: every write to a session stamps it with a new version, so "everything after
this token" is a keyset over (version, key), and deletions stay visible as tombstones."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from gateway.domain.keys import SessionKey, check_account
from gateway.domain.sessions import Session
from gateway.errors import BadUserInput, SyncTokenExpired

if TYPE_CHECKING:
    from gateway.domain.groups import GroupChange

# A conversation group's feed key ('group|<id>'): groups share their owner's feed with sessions.
GROUP_PREFIX = "group|"

# The token's format: [2, version, key]. A bare [version, key] is a position in the one global feed
# of the releases before per-owner feeds.
_FORMAT = 2
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


@dataclass(frozen=True, slots=True)
class SyncPosition:
    """A point in one owner's change feed: every change up to ``version`` (up to ``key`` within
    that version, when a page ended inside it) has been seen."""

    version: int
    key: str | None = None

    def token(self) -> str:
        # base64url without padding; binascii directly, as a fan-out makes one per subscriber.
        payload = orjson.dumps([_FORMAT, self.version, self.key])
        encoded = binascii.b2a_base64(payload, newline=False).translate(_URL_SAFE)
        return encoded.rstrip(b"=").decode("ascii")

    @classmethod
    def parse(cls, token: str) -> SyncPosition:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = orjson.loads(raw)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise BadUserInput("the sync token is malformed") from None
        if isinstance(payload, list) and len(payload) == 2 and _is_position(*payload):
            raise SyncTokenExpired(
                "this sync token is from before the gateway's upgrade: reload the whole list"
            )
        if not (isinstance(payload, list) and len(payload) == 3 and payload[0] == _FORMAT
                and _is_position(*payload[1:])):  # fmt: skip
            raise BadUserInput("the sync token is malformed")
        return cls(payload[1], payload[2])


def _is_position(version: object, key: object) -> bool:
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version < 2**63:
        return False  # versions are BIGINTs
    if key is None:
        return True
    if not isinstance(key, str):
        return False
    try:
        if key.startswith(GROUP_PREFIX):
            check_account(key.removeprefix(GROUP_PREFIX), what="group id")
        else:
            SessionKey.parse(key)  # what no store holds (NUL, ...) is no position in a feed
    except BadUserInput:
        return False
    return True


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
    # The conversation groups' changes among the same positions (their keys sort first in a
    # version): with ``changes``, in feed order, they make the page.
    groups: list[GroupChange] = field(default_factory=list)

    def in_feed_order(self) -> list[Change | GroupChange]:
        if not self.groups:
            return list(self.changes)
        return sorted([*self.groups, *self.changes], key=lambda c: (c.version, str(c.key)))
