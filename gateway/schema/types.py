"""The object types of the schema, built from domain records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from operator import attrgetter

import strawberry
from strawberry.scalars import JSON

from gateway.domain import groups as domain_groups
from gateway.domain import json_text
from gateway.domain import sessions as domain
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.sessions import LastMessageKind, MessageType
from gateway.schema.context import Context
from gateway.schema.ids import global_id, group_global_id
from gateway.schema.scalars import Timestamp

strawberry.enum(SessionType, description="What a session is with: a peer, a team or a super team.")
strawberry.enum(
    LastMessageKind,
    description="NIM's NIMLastMsgType: a normal message (0) or a revoke notification (1).",
)
strawberry.enum(
    MessageType,
    description="NIM's message types; UNKNOWN for any type this server does not know.",
)


@strawberry.interface(description="An object with a global ID (Relay).")
class Node:
    id: strawberry.ID


@strawberry.type(description="A message, as the last message of a session.")
class Message:
    server_id: strawberry.ID = strawberry.field(description="NIM's msgidServer.")
    client_id: str | None = strawberry.field(description="NIM's msgidClient.")
    from_: str = strawberry.field(name="from", description="The sender's account id.")
    type: MessageType
    text: str | None = strawberry.field(description="The text body (TEXT messages).")
    attachment: JSON | None = strawberry.field(
        description=(
            "NIM's attach: the content of a non-text message. JSON as sent; a String when it is "
            f"not JSON or nests deeper than {json_text.MAX_DEPTH} levels (its text, as received)."
        )
    )
    ext: JSON | None = strawberry.field(
        description="The message's extension; like attachment, a String when not servable JSON."
    )
    time: Timestamp = strawberry.field(description="NIM's msgTimestamp.")

    @classmethod
    def of(cls, message: domain.Message) -> Message:
        return MessageOf(message)


class MessageOf(Message):
    """A ``Message`` read from its domain record: each field is computed when it is read (a
    page reads four of eight; ``attachment`` and ``ext`` are JSON to decode). Its fields are
    properties, set from ``_MESSAGE_FIELDS`` below."""

    __slots__ = ("_record",)

    def __init__(self, record: domain.Message) -> None:
        self._record = record


# attrgetter: a read of the record's own attribute runs in C, not as a Python lambda.
_MESSAGE_FIELDS: dict[str, Callable[[MessageOf], object]] = {
    "server_id": attrgetter("_record.server_id"),
    "client_id": attrgetter("_record.client_id"),
    "from_": attrgetter("_record.from_account"),
    "type": attrgetter("_record.type"),
    "text": attrgetter("_record.text"),
    "attachment": lambda v: _json(v._record.attachment),
    "ext": lambda v: _json(v._record.ext),
    "time": attrgetter("_record.time"),
}


@strawberry.type(description="What recalled a session's last message.")
class RevokeNotification:
    message_server_id: strawberry.ID = strawberry.field(
        description="The server id of the recalled message."
    )
    operator: str = strawberry.field(description="The account that recalled it.")
    time: Timestamp
    postscript: str | None

    @classmethod
    def of(cls, revoke: domain.RevokeNotification) -> RevokeNotification:
        return cls(
            message_server_id=strawberry.ID(revoke.message_server_id),
            operator=revoke.operator,
            time=Timestamp(revoke.time),
            postscript=revoke.postscript,
        )


@strawberry.type(
    description="One of the viewer's conversation groups (NIM V2's 会话分组): a named folder of "
    "sessions. A session is in at most 5 groups."
)
class SessionGroup(Node):
    group_id: strawberry.ID = strawberry.field(
        description="The group's own id (NIM's groupId); `id` is its global ID."
    )
    name: str
    server_ext: str = strawberry.field(description="The group's extension string; '' if unset.")
    create_time: Timestamp
    update_time: Timestamp = strawberry.field(description="When it was last renamed or changed.")

    @classmethod
    def of(cls, group: domain_groups.SessionGroup) -> SessionGroup:
        return cls(
            id=strawberry.ID(group_global_id(group.id)),
            group_id=strawberry.ID(group.id),
            name=group.name,
            server_ext=group.server_ext,
            create_time=Timestamp(group.create_time),
            update_time=Timestamp(group.update_time),
        )


@strawberry.type(description="One entry of the viewer's server-side session list.")
class Session(Node):
    key: str = strawberry.field(description="NIM session key: 'p2p|bob', 'team|123', ...")
    type: SessionType
    target: str = strawberry.field(description="The peer's account id or the team id.")
    update_time: Timestamp = strawberry.field(
        description="The latest server-side update; the list is ordered by it."
    )
    server_ext: str = strawberry.field(
        description="The viewer's own extension string for this session; '' when never set."
    )
    last_message_kind: LastMessageKind | None = strawberry.field(
        description="Null while the session has no message."
    )
    last_revoke_notification: RevokeNotification | None = strawberry.field(
        description="Set when lastMessageKind is REVOKE_NOTIFICATION."
    )
    unread_count: int = strawberry.field(
        description="Messages from others since the last mark-read (kept by the server)."
    )
    last_read_time: Timestamp | None = strawberry.field(
        description="When the viewer last marked this session read."
    )
    pinned_at: Timestamp | None = strawberry.field(description="When it was (last) pinned.")
    pinned: bool = strawberry.field(
        description="Whether the viewer pinned this session to the top."
    )
    last_message: Message | None = strawberry.field(
        description="The last message; null unless lastMessageKind is MESSAGE."
    )
    muted: bool = strawberry.field(
        description="Do-not-disturb: its unread messages still count here, but not in "
        "`totalUnreadCount` or `unreadCount` unless they include muted sessions."
    )

    @strawberry.field(description="The viewer's conversation groups that hold this session.")
    async def groups(self, info: strawberry.Info[Context, None]) -> list[SessionGroup]:
        groups = await info.context.groups_of(_key_of(self))
        return [SessionGroup.of(group) for group in groups]

    @classmethod
    def of(
        cls, session: domain.Session, messages: Mapping[str, domain.Message] | None = None
    ) -> Session:
        ref = session.shown_message_ref
        message = messages.get(ref) if messages and ref is not None else None
        return cls.with_message(session, message)

    @classmethod
    def with_message(cls, session: domain.Session, message: domain.Message | None) -> Session:
        """``session`` with ``message`` as its last message (read ahead by the field that
        returned it: schema/prefetch.py), or none."""
        return SessionOf(session, None if message is None else _latest.message(message))


class SessionOf(Session):
    """A ``Session`` read from its domain record: each field is computed when it is read, so a
    page pays for the fields its query selects, not for all fourteen. Its fields are
    properties, set from ``_SESSION_FIELDS`` below; Strawberry and graphql-core see a
    ``Session`` (it is one), and compiled code reads it as it reads any Session."""

    __slots__ = ("_id", "_key", "_message", "_record")

    def __init__(self, record: domain.Session, message: Message | None) -> None:
        self._record = record
        self._message = message
        # Read by nearly every selection (and a page's cursors): looked up once, kept.
        self._id, self._key = _texts.of(record.key)


@lru_cache(maxsize=65_536)  # keys come from one cache (store/_rows.key_from_db), lists repeat
def _key_texts(key: SessionKey) -> tuple[strawberry.ID, str]:
    return strawberry.ID(global_id(key)), str(key)


class _Texts:
    """The last key's texts, kept by identity: a fan-out's thousand views share one key object
    (looking it up again would hash it in Python each time)."""

    __slots__ = ("key", "texts")

    def __init__(self) -> None:
        self.key: SessionKey | None = None
        self.texts: tuple[strawberry.ID, str] = (strawberry.ID(""), "")

    def of(self, key: SessionKey) -> tuple[strawberry.ID, str]:
        if key is not self.key:
            self.key, self.texts = key, _key_texts(key)
        return self.texts


_texts = _Texts()


def _revoke(view: SessionOf) -> RevokeNotification | None:
    revoke = view._record.revoke
    return None if revoke is None else RevokeNotification.of(revoke)


_SESSION_FIELDS: dict[str, Callable[[SessionOf], object]] = {
    "id": attrgetter("_id"),
    "key": attrgetter("_key"),
    "type": attrgetter("_record.key.type"),
    "target": attrgetter("_record.key.target"),
    "update_time": attrgetter("_record.update_time"),
    "server_ext": attrgetter("_record.server_ext"),
    "last_message_kind": attrgetter("_record.last_message_kind"),
    "last_revoke_notification": _revoke,
    "unread_count": attrgetter("_record.unread_count"),
    "last_read_time": attrgetter("_record.last_read_time"),
    "pinned_at": attrgetter("_record.pinned_at"),
    "pinned": lambda v: v._record.pinned_at is not None,
    "last_message": attrgetter("_message"),
    "muted": attrgetter("_record.muted"),
}

# The views' fields, each a property (one call a read): see SessionOf, MessageOf.
for _name, _read in _SESSION_FIELDS.items():
    setattr(SessionOf, _name, property(_read))
for _name, _read_message in _MESSAGE_FIELDS.items():
    setattr(MessageOf, _name, property(_read_message))


class _Latest:
    """The last message record converted, kept by identity: a team message is the last message
    of every member's session, so a fan-out shows one record a thousand times in a row; they
    all get one object (which the compiled selection then completes once: fastpath/events.py)."""

    __slots__ = ("converted", "record")

    def __init__(self) -> None:
        self.record: domain.Message | None = None
        self.converted: Message | None = None

    def message(self, record: domain.Message) -> Message:
        if record is not self.record or self.converted is None:
            self.record, self.converted = record, Message.of(record)
        return self.converted


_latest = _Latest()


def _key_of(session: Session) -> SessionKey:
    return SessionKey(session.type, session.target)


def _timestamp(ms: int | None) -> Timestamp | None:
    return None if ms is None else Timestamp(ms)


def _json(text: str | None) -> JSON | None:
    # JSON within the depth bound; anything else (not JSON, or nested too deep for any response
    # to encode) is served as its text.
    return None if text is None else JSON(json_text.decode(text))
