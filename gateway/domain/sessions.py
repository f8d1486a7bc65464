"""What a session row holds: its key, update time, ext and last message."""

from __future__ import annotations

from enum import Enum

from gateway.domain.keys import SessionKey, conversation_of
from gateway.domain.records import record
from gateway.errors import BadUserInput

MAX_EXT_BYTES = 1024
MAX_PAGE_SIZE = 100


class LastMessageKind(Enum):
    """NIM's ``NIMLastMsgType``: 0 a normal message, 1 a revoke notification."""

    MESSAGE = 0
    REVOKE_NOTIFICATION = 1


class MessageType(Enum):
    TEXT = "TEXT"
    PICTURE = "PICTURE"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"
    LOCATION = "LOCATION"
    NOTIFICATION = "NOTIFICATION"
    FILE = "FILE"
    NETCALL_AUDIO = "NETCALL_AUDIO"
    NETCALL_VIDEO = "NETCALL_VIDEO"
    NRTC_NETCALL = "NRTC_NETCALL"  # a call record
    TIPS = "TIPS"
    CUSTOM = "CUSTOM"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def from_nim(cls, name: str) -> MessageType:
        if name == "NETCALL_VEDIO":  # NIM's own spelling
            return cls.NETCALL_VIDEO
        try:
            return cls(name)
        except ValueError:
            return cls.UNKNOWN


@record
class Message:
    server_id: str
    from_account: str
    type: MessageType
    time: int
    client_id: str | None = None
    text: str | None = None
    attachment: str | None = None  # JSON text, as NIM sends it
    ext: str | None = None  # JSON text
    conversation: str = ""  # keys.conversation_of: where server_id is unique

    @property
    def ref(self) -> str:
        return message_ref(self.conversation, self.server_id)


@record
class RevokeNotification:
    message_server_id: str
    operator: str
    time: int
    postscript: str | None = None


@record
class Session:
    owner: str
    key: SessionKey
    update_time: int
    server_ext: str = ""
    last_message_kind: LastMessageKind | None = None
    last_message_id: str | None = None
    revoke: RevokeNotification | None = None
    unread_count: int = 0
    last_read_time: int | None = None
    pinned_at: int | None = None
    muted: bool = False  # do-not-disturb: its unread messages stay out of the badge

    @property
    def last_message_ref(self) -> str | None:
        """What names the last message among all conversations' (``Message.ref``)."""
        if self.last_message_id is None:
            return None
        return message_ref(conversation_of(self.owner, self.key), self.last_message_id)

    @property
    def shown_message_ref(self) -> str | None:
        """``last_message_ref`` when the session shows its last message: a message, not a
        recall's notice. What a page, a session or an event reads the message of."""
        if self.last_message_kind is not LastMessageKind.MESSAGE:
            return None
        return self.last_message_ref


def message_ref(conversation: str, server_id: str) -> str:
    """One message among every conversation's: NIM's ids are unique within a conversation only.
    (Neither holds a newline.)"""
    return f"{conversation}\n{server_id}"


@record
class Delivery:
    """One owner's session that a message lands in."""

    owner: str
    key: SessionKey


def check_ext(ext: str) -> str:
    if "\x00" in ext:
        raise BadUserInput("ext may not contain NUL characters")
    size = len(ext.encode("utf-8"))
    if size > MAX_EXT_BYTES:
        raise BadUserInput(f"ext is {size} bytes of UTF-8; the limit is {MAX_EXT_BYTES}")
    return ext
