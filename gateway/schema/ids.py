"""Relay global IDs for sessions and conversation groups. Every ``id`` argument also accepts the
NIM key of a session, or a group's own id."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from gateway.domain.groups import check_group_id
from gateway.domain.keys import SessionKey
from gateway.errors import BadUserInput

_PREFIX = "Session:"
_GROUP_PREFIX = "SessionGroup:"


@lru_cache(maxsize=65_536)  # a list is read again and again; its keys come from one cache too
def global_id(key: SessionKey) -> str:
    return base64.b64encode(f"{_PREFIX}{key}".encode()).decode("ascii")


def parse_session_id(value: str) -> SessionKey:
    """A session's key from its global ID (``U2Vzc2lvbjpwMnB8Ym9i``) or NIM key (``p2p|bob``)."""
    if "|" in value:  # the base64 alphabet has no '|'
        return SessionKey.parse(value)
    try:
        decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError):  # not base64, or not ASCII / UTF-8
        decoded = ""
    if not decoded.startswith(_PREFIX):
        raise BadUserInput(f"{value!r} is neither a session's global ID nor a NIM session key")
    return SessionKey.parse(decoded.removeprefix(_PREFIX))


def group_global_id(group_id: str) -> str:
    return base64.b64encode(f"{_GROUP_PREFIX}{group_id}".encode()).decode("ascii")


def parse_group_id(value: str) -> str:
    """A group's id from its global ID or from the id itself."""
    decoded = _decoded(value)
    if decoded is not None and decoded.startswith(_GROUP_PREFIX):
        return check_group_id(decoded.removeprefix(_GROUP_PREFIX))
    return check_group_id(value)


def is_group_id(value: str) -> bool:
    """Whether ``value`` is a group's global ID (``node`` and ``nodes`` take both kinds)."""
    decoded = _decoded(value)
    return decoded is not None and decoded.startswith(_GROUP_PREFIX)


def _decoded(value: str) -> str | None:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
