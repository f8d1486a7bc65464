"""Rows to domain records and back, shared by the SQL backends (SQLite tuples, asyncpg Records:
both index by position)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any, Protocol, overload

import orjson

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.membership import Fact, MemberList, Snapshot
from gateway.domain.order import EventKey
from gateway.domain.receiving import TeamMessage, counts_unread
from gateway.domain.sessions import (
    LastMessageKind,
    Message,
    MessageType,
    RevokeNotification,
    Session,
)
from gateway.domain.sync import Change


class Row(Protocol):
    """A result row: a tuple from SQLite, a Record from asyncpg."""

    @overload
    def __getitem__(self, index: int, /) -> Any: ...
    @overload
    def __getitem__(self, index: slice, /) -> Sequence[Any]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...


# Enum members by value: a dict lookup, not an Enum call, per row.
_LAST_KINDS = {kind.value: kind for kind in LastMessageKind}
_MESSAGE_TYPES = {kind.value: kind for kind in MessageType}


@lru_cache(maxsize=65536)
def key_from_db(text: str) -> SessionKey:
    # Keys in the database were validated on the way in; only split them.
    prefix, _, target = text.partition("|")
    return SessionKey(SessionType(prefix), target)


def session_from_row(
    owner: str, row: Row | Sequence[Any], key: SessionKey | None = None
) -> Session:
    """A row of ``SESSION_COLUMNS`` (``key``: its first column, when already parsed)."""
    (text_key, update_time, server_ext, kind, last_id, operator, revoke_time, postscript,
     unread, last_read_time, pinned_at, muted) = row[:12]  # fmt: skip
    last_kind = None if kind is None else _LAST_KINDS.get(kind) or LastMessageKind(kind)
    revoke = None
    if last_kind is LastMessageKind.REVOKE_NOTIFICATION:
        revoke = RevokeNotification(str(last_id), str(operator), int(revoke_time),
                                    opt_str(postscript))  # fmt: skip
    # Positionally, in the field order: a fan-out builds a thousand of these per message. The
    # values have their columns' types (see message_from_row); muted is SQLite's 0 or 1.
    return Session(
        owner,
        key_from_db(text_key) if key is None else key,
        update_time,
        server_ext,
        last_kind,
        last_id,
        revoke,
        unread,
        last_read_time,
        pinned_at,
        bool(muted),
    )


def change_from_row(owner: str, row: Row | Sequence[Any], key: SessionKey | None = None) -> Change:
    """A row of version, deleted_at, then ``SESSION_COLUMNS`` (``key``: its session's, when
    already known)."""
    key = key_from_db(str(row[2])) if key is None else key
    session = None if row[1] is not None else session_from_row(owner, row[2:], key)
    return Change(int(row[0]), key, session)


def owned_changes_from_rows(
    rows: Iterable[Row], key: SessionKey | None = None
) -> list[tuple[str, Change]]:
    """Rows of owner, version, deleted_at, then ``SESSION_COLUMNS``, with their owners (``key``:
    the key of every row, when known: a fan-out's rows are all of one session)."""
    changes = []
    for row in rows:
        owner = str(row[0])
        changes.append((owner, change_from_row(owner, row[1:], key)))
    return changes


def message_from_row(row: Row | Sequence[Any]) -> Message:
    """A row of ``MESSAGE_COLUMNS``. Its values have their columns' types already (SQLite
    converts to a TEXT or INTEGER column's affinity when storing; asyncpg returns the column's
    type), so they go in as they are, positionally: a page builds one per session."""
    server_id, client_id, from_account, type_, time, text, attachment, ext, conversation = row[:9]
    message_type = _MESSAGE_TYPES.get(type_) or MessageType(type_)
    return Message(server_id, from_account, message_type, time, client_id, text, attachment, ext,
                   conversation)  # fmt: skip


def opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def message_values(m: Message, conversation: str) -> tuple[object, ...]:
    """A message of ``conversation`` as the ``messages`` columns, in ``MESSAGE_COLUMNS`` order."""
    return (m.server_id, m.client_id, m.from_account, m.type.value, m.time, m.text,
            m.attachment, m.ext, conversation)  # fmt: skip


_MESSAGE = LastMessageKind.MESSAGE.value  # read once: an Enum's value is a descriptor call
_REVOKED = LastMessageKind.REVOKE_NOTIFICATION.value


def last_message_values(message: Message, revoke: RevokeNotification | None) -> tuple[object, ...]:
    """The session columns after (owner, key, kind) that make ``message`` its last message:
    update_time, last_kind, last_msg_id, last_msg_time and the revoke columns."""
    if revoke is None:
        return (message.time, _MESSAGE, message.server_id, message.time, None, None, None)
    update_time = max(message.time, revoke.time)
    return (update_time, _REVOKED, message.server_id, message.time, revoke.operator,
            revoke.time, revoke.postscript)  # fmt: skip


# A team's membership (store/_team_statements.py) ------------------------------------------------


def fact_from_row(row: Row) -> Fact:
    account, time, order, event_id, member, receives = row
    return Fact(str(account), EventKey(int(time), str(order), str(event_id)), bool(member),
                bool(receives))  # fmt: skip


def snapshot_from_row(row: Row) -> Snapshot:
    time, order, event_id, members, receivers = row
    return Snapshot(
        EventKey(int(time), str(order), str(event_id)),
        frozenset(orjson.loads(members)),
        None if receivers is None else frozenset(orjson.loads(receivers)),
    )


def member_list_from_row(row: Row) -> MemberList:
    """A checkpoint's row."""
    time, order, event_id, members = row
    return MemberList(EventKey(int(time), str(order), str(event_id)),
                      frozenset(orjson.loads(members)))  # fmt: skip


def names_value(accounts: AbstractSet[str]) -> str:
    """Accounts as a column of member lists holds them: a JSON array, sorted."""
    return orjson.dumps(sorted(accounts)).decode()


def team_message_from_row(row: Row) -> tuple[TeamMessage, RevokeNotification | None]:
    time, order, server_id, sender, type_, operator, revoke_time, postscript = row
    revoke = None
    if operator is not None:
        revoke = RevokeNotification(str(server_id), str(operator), int(revoke_time),
                                    opt_str(postscript))  # fmt: skip
    counted = counts_unread(MessageType.from_nim(str(type_)))
    key = EventKey(int(time), str(order), str(server_id))
    return TeamMessage(key, str(sender), counted, revoke is not None), revoke
