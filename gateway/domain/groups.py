"""Conversation groups (NIM V2's 会话分组): an owner's named folders of sessions, and the limits
that bound them."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.keys import check_account
from gateway.domain.sessions import check_ext
from gateway.domain.sync import GROUP_PREFIX, Change, SyncPosition
from gateway.errors import BadUserInput

MAX_NAME_LENGTH = 64
# A group's place in its owner's change feed: its key sorts before every session key
# ('p2p|', 'super_team|', 'team|'), so one version's group change comes before its sessions'.
FEED_PREFIX = GROUP_PREFIX


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """NIM's limits depend on the plan (Tencent IM: 20 groups, 1,000 sessions a group); a
    session is in at most 5 groups (NIM's own rule)."""

    groups_per_owner: int = 100
    groups_per_session: int = 5
    sessions_per_group: int = 1000


DEFAULT_LIMITS = GroupLimits()


@dataclass(frozen=True, slots=True)
class SessionGroup:
    owner: str
    id: str
    name: str
    server_ext: str
    create_time: int
    update_time: int


@dataclass(frozen=True, slots=True)
class GroupChange:
    """A group as it is now (``group``), or the tombstone of a deleted one, in the change feed.
    ``key`` is its feed key (``group|<id>``), ordered with the session keys of its version."""

    version: int
    key: str
    group: SessionGroup | None

    @property
    def group_id(self) -> str:
        return self.key.removeprefix(FEED_PREFIX)

    @property
    def position(self) -> SyncPosition:
        return SyncPosition(self.version, self.key)


# What an owner's change feed holds: sessions' changes and groups'.
FeedChange = Change | GroupChange


def feed_key(group_id: str) -> str:
    return f"{FEED_PREFIX}{group_id}"


def check_group_id(value: str) -> str:
    return check_account(value, what="group id")


def check_name(name: str) -> str:
    if not name.strip():
        raise BadUserInput("a group's name may not be empty")
    if len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise BadUserInput(f"a group's name is 1 to {MAX_NAME_LENGTH} characters, without NUL")
    return name


def check_group_ext(ext: str) -> str:
    """A group's server extension follows a session's rules (1024 bytes, no NUL)."""
    return check_ext(ext)
