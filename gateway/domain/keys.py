"""Session keys: NIM's ``type|target`` text form, e.g. ``p2p|bob``, ``team|123``; and the
conversations they show."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from gateway.errors import BadUserInput

MAX_ACCOUNT_LENGTH = 128


class SessionType(Enum):
    P2P = "p2p"
    TEAM = "team"
    SUPER_TEAM = "super_team"


_TYPES_BY_PREFIX = {t.value: t for t in SessionType}


@dataclass(frozen=True, slots=True, order=True)
class SessionKey:
    type: SessionType
    target: str

    def __str__(self) -> str:
        return f"{self.type.value}|{self.target}"

    def __hash__(self) -> int:
        # The target's alone (a str keeps its hash): the generated hash of (type, target) runs
        # Enum.__hash__ in Python at every dict lookup. Keys of two types with one target are
        # still unequal, so they still differ as dict keys.
        return hash(self.target)

    @classmethod
    def parse(cls, text: str) -> SessionKey:
        prefix, sep, target = text.partition("|")
        session_type = _TYPES_BY_PREFIX.get(prefix)
        if not sep or session_type is None:
            raise BadUserInput(
                f"{text!r} is not a session key: expected 'p2p|<account>', 'team|<tid>' "
                "or 'super_team|<tid>'"
            )
        return cls(session_type, check_account(target, what="session target"))


def check_account(value: str, *, what: str = "account id") -> str:
    """Return ``value`` when it is a usable NIM account or team id, else raise BadUserInput."""
    if not value:
        raise BadUserInput(f"the {what} is empty")
    if len(value) > MAX_ACCOUNT_LENGTH:
        raise BadUserInput(f"the {what} is longer than {MAX_ACCOUNT_LENGTH} characters")
    if not value.isprintable() or any(c.isspace() for c in value):
        raise BadUserInput(f"the {what} contains whitespace or control characters")
    return value


def p2p_conversation(one: str, other: str) -> str:
    """The conversation of a P2P chat, the same text seen from either side. Accounts hold no
    whitespace (:func:`check_account`), so the space between the two is unambiguous."""
    low, high = sorted((one, other))
    return f"p2p|{low} {high}"


@lru_cache(maxsize=65_536)  # a page, an event's views, ask for the same sessions' again and again
def conversation_of(owner: str, key: SessionKey) -> str:
    """The conversation ``owner``'s session ``key`` shows: the team's own key for a team, the
    pair of accounts for a P2P chat. Message ids are unique within a conversation only."""
    if key.type is SessionType.P2P:
        return p2p_conversation(owner, key.target)
    return str(key)
