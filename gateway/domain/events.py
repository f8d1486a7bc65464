"""NIM message-CC events, parsed into what the session lists need.

Accepted shapes (all other fields are ignored; see docs/nim-mapping.md):

- ``eventType`` 1, a conversation message: ``convType`` PERSON, TEAM or SUPER_TEAM, ``to``,
  ``fromAccount``, ``msgTimestamp``, ``msgidServer``, optional ``msgType``, ``body``, ``attach``,
  ``ext``, ``msgidClient``; for teams ``tMembers`` (the members at the message) and, on team
  notifications, ``attach`` = ``{"id": code, "data": {...}}``. ``blacklist: "true"`` means NIM
  refused the message: it is not delivered.
- ``eventType`` 1 with ``convType`` CUSTOM_PERSON or CUSTOM_TEAM: a system notification, which NIM
  keeps out of session lists: acknowledged, never stored. So is an unknown ``convType``.
- ``eventType`` 7 (P2P), 8 (team) or 25 (super team), a recall: ``msgId`` (the recalled message),
  ``from`` (its sender), ``to`` (the peer or team), ``deleteTime``, ``sendTime``, ``selfMsg``.
- Any other ``eventType``: acknowledged and counted, never stored.

Numbers may arrive as JSON numbers or as decimal strings, as NIM sends them. A time later than
``not_after`` (the gateway's clock plus the skew it allows) is taken as ``not_after``, and the
event names the fields it took so (``clamped``): kept, but never the newest thing for long.
Account and team ids (``to``, ``fromAccount``, a recall's ``from`` and ``to``, ``tMembers``
entries, ``data.ids``, ``data.id``) are text: a JSON integer is taken as its decimal text, and
``tMembers`` text is split as NIM writes it (``[123, 0123]`` is the accounts ``123`` and
``0123``), never read as numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from gateway.domain import fields
from gateway.domain.keys import SessionKey, SessionType, conversation_of
from gateway.domain.membership import TeamChange, message_change
from gateway.domain.order import EventKey, event_key
from gateway.domain.sessions import Delivery, Message, MessageType, RevokeNotification
from gateway.errors import BadEvent

MESSAGE = 1
P2P_RECALL = 7
TEAM_RECALL = 8
SUPER_TEAM_RECALL = 25

_CONV_TYPES = {"PERSON": SessionType.P2P, "TEAM": SessionType.TEAM,
               "SUPER_TEAM": SessionType.SUPER_TEAM}  # fmt: skip
SYSTEM_NOTIFICATIONS = frozenset({"CUSTOM_PERSON", "CUSTOM_TEAM"})
_RECALLS = {P2P_RECALL: SessionType.P2P, TEAM_RECALL: SessionType.TEAM,
            SUPER_TEAM_RECALL: SessionType.SUPER_TEAM}  # fmt: skip
_MAX_LISTED = 10_000  # tMembers lists at most 200; anything far larger is not NIM's

# Team notification codes (advanced team / super team) and what they do to the members.
_JOIN_IDS = {0, 401}  # invite: data.ids join
_KICK_IDS = {1, 402}  # kick: data.ids leave
_LEAVE = {2, 403}  # the sender leaves
_DISMISS = {4, 405}  # everyone leaves
_ACCEPT_APPLICATION = {5, 410}  # data.id joins
_ACCEPT_INVITATION = {9, 411}  # the sender joins


@dataclass(frozen=True, slots=True)
class Conversation:
    """Who a message is between: the sender and a peer, or the sender and a team."""

    type: SessionType
    sender: str
    to: str

    @property
    def key(self) -> str:
        """Where the message's id is unique (keys.conversation_of)."""
        return conversation_of(self.sender, SessionKey(self.type, self.to))

    def deliveries(self) -> list[Delivery]:
        """Both sides of a P2P chat (one, when someone writes to themselves)."""
        return [Delivery(owner, SessionKey(SessionType.P2P, peer)) for owner, peer in self.sides()]

    def sides(self) -> list[tuple[str, str]]:
        """The (owner, peer) of each side a P2P message reaches, as ``deliveries``."""
        assert self.type is SessionType.P2P
        if self.to == self.sender:
            return [(self.sender, self.to)]
        return [(self.sender, self.to), (self.to, self.sender)]

    @property
    def team(self) -> SessionKey:
        assert self.type is not SessionType.P2P
        return SessionKey(self.type, self.to)


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A P2P message."""

    conversation: Conversation
    message: Message
    clamped: tuple[str, ...] = ()  # time fields taken as the latest time allowed


@dataclass(frozen=True, slots=True)
class TeamMessageEvent:
    """A message of a team (a team notification too), and what it says about the members."""

    team: SessionKey
    message: Message
    change: TeamChange
    unusable: tuple[str, ...] = ()  # fields left out of ``change`` ("tMembers", "attach")
    clamped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecallEvent:
    conversation: Conversation  # the recalled message's sender, and its peer or team
    revoke: RevokeNotification
    sent: int | None  # when the recalled message was sent (sendTime), when NIM says
    clamped: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """Acknowledged and counted, never stored: ``reason`` is "other_event",
    "system_notification", "blocked" or "unknown_conv_type"; ``label`` the msgType or convType."""

    event_type: int
    reason: str = "other_event"
    label: str = ""


Event = MessageEvent | TeamMessageEvent | RecallEvent | IgnoredEvent


def parse_event(body: object, *, not_after: int | None = None) -> Event:
    """The event ``body`` describes; its times are at most ``not_after`` (ms), when given."""
    if not isinstance(body, Mapping):
        raise BadEvent("the body must be a JSON object", code="NOT_AN_OBJECT")
    if body.get("eventType") in (None, ""):
        raise BadEvent("the body has no eventType", code="MISSING_EVENT_TYPE")
    event_type = _int(body, "eventType")
    if event_type == MESSAGE:
        return _message_event(body, _Times(not_after))
    if event_type in _RECALLS:
        return _recall_event(body, _RECALLS[event_type], _Times(not_after))
    return IgnoredEvent(event_type)


class _Times:
    """Reads an event's times, each at most ``not_after``; remembers which were later."""

    def __init__(self, not_after: int | None) -> None:
        self._not_after = not_after
        self.clamped: tuple[str, ...] = ()

    def __call__(self, body: Mapping[str, object], field: str) -> int:
        time = _time(body, field)
        if self._not_after is not None and time > self._not_after:
            self.clamped += (field,)
            return self._not_after
        return time


def _message_event(body: Mapping[str, object], times: _Times) -> Event:
    conv_type = _str(body, "convType")
    if conv_type in SYSTEM_NOTIFICATIONS:
        return IgnoredEvent(MESSAGE, "system_notification", _opt_str(body, "msgType") or "")
    session_type = _CONV_TYPES.get(conv_type)
    if session_type is None:
        return IgnoredEvent(MESSAGE, "unknown_conv_type", conv_type)
    if _flag(body, "blacklist"):
        return IgnoredEvent(MESSAGE, "blocked", _opt_str(body, "msgType") or "")
    conversation = Conversation(session_type, _account(body, "fromAccount"), _account(body, "to"))
    message = Message(
        server_id=_id(body, "msgidServer"),
        from_account=conversation.sender,
        type=MessageType.from_nim(_opt_str(body, "msgType") or ""),
        time=times(body, "msgTimestamp"),
        client_id=_opt_str(body, "msgidClient"),
        text=_opt_str(body, "body"),
        attachment=_json_text(body, "attach"),
        ext=_json_text(body, "ext"),
        conversation=conversation.key,
    )
    if session_type is SessionType.P2P:
        return MessageEvent(conversation, message, times.clamped)
    change, unusable = _team_change(body, message)
    return TeamMessageEvent(conversation.team, message, change, unusable, times.clamped)


def _team_change(
    body: Mapping[str, object], message: Message
) -> tuple[TeamChange, tuple[str, ...]]:
    """What a team message says about the members, and the fields it could not use. A member list
    or notification NIM would send again unchanged is not refused (NIM would retry it forever):
    the message is kept, and what cannot be read of the members is left out."""
    key = event_key(message.time, message.server_id)
    unusable: list[str] = []
    listed = None
    if body.get("convType") == "TEAM" and body.get("tMembers") is not None:
        try:
            listed = _listed(body["tMembers"])
        except BadEvent:
            unusable.append("tMembers")
    sender = message.from_account
    if message.type is not MessageType.NOTIFICATION:
        return message_change(key, sender, listed=listed), tuple(unusable)
    try:
        change = _notification_change(body, key, sender, listed)
    except BadEvent:
        unusable.append("attach")
        change = message_change(key, sender, listed=listed)
    return change, tuple(unusable)


def _notification_change(
    body: Mapping[str, object], key: EventKey, sender: str, listed: list[str] | None
) -> TeamChange:
    code, data = _notification(body)
    if code in _JOIN_IDS:
        return message_change(key, sender, joins=_ids(data, "ids"), listed=listed)
    if code in _KICK_IDS:
        return message_change(key, sender, leaves=_ids(data, "ids"), listed=listed)
    if code in _LEAVE:
        return message_change(key, sender, leaves=[sender], listed=listed)
    if code in _DISMISS:
        return message_change(key, sender, dismiss=True, listed=listed)
    if code in _ACCEPT_APPLICATION:
        return message_change(key, sender, joins=_ids(data, "id"), listed=listed)
    if code in _ACCEPT_INVITATION:
        return message_change(key, sender, joins=[sender], listed=listed)
    return message_change(key, sender, listed=listed)


def _notification(body: Mapping[str, object]) -> tuple[int | None, Mapping[str, object]]:
    """A team notification's code and data; (None, {}) when its attach says neither."""
    attach = body.get("attach")
    if isinstance(attach, str):
        try:
            attach = orjson.loads(attach)
        except orjson.JSONDecodeError:
            raise BadEvent("attach of a team notification is not JSON") from None
    if not isinstance(attach, Mapping):
        return None, {}
    data = attach.get("data")
    code = _int(attach, "id") if "id" in attach else None
    return code, data if isinstance(data, Mapping) else {}


def _ids(data: Mapping[str, object], field: str) -> list[str]:
    value = data.get(field)
    values = value if isinstance(value, list) else [] if value is None else [value]
    return [_member(v, f"attach.data.{field}") for v in values]


def _listed(value: object) -> list[str]:
    """``tMembers``: NIM's text form ``"[a, b]"`` (unquoted names, which may be digits), a JSON
    array (of names, or of integers taken as their decimal text), or a JSON array of names as
    text."""
    if isinstance(value, str):
        value = _split(value)
    if not isinstance(value, list) or len(value) > _MAX_LISTED:
        raise BadEvent(f"tMembers must be a list of at most {_MAX_LISTED} accounts")
    return [_member(v, "tMembers") for v in value]


def _split(text: str) -> list[object]:
    """The names of ``"[a, b]"`` as written: ``[123, 0123]`` is ``123`` and ``0123``, never the
    numbers 123 and 123. A name in double quotes is a JSON string (``["a", "b"]``)."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise BadEvent("tMembers must be a list of accounts, like [alice, bob]")
    if '"' not in text:  # NIM's usual form: no name is quoted, none needs decoding
        return [name for name in map(str.strip, text[1:-1].split(",")) if name]
    try:
        names = orjson.loads(text)
    except orjson.JSONDecodeError:
        names = None
    if isinstance(names, list) and all(isinstance(name, str) for name in names):
        return list(names)
    return [_unquoted(name.strip()) for name in text[1:-1].split(",") if name.strip()]


def _unquoted(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        try:
            decoded = orjson.loads(name)
        except orjson.JSONDecodeError:
            return name
        if isinstance(decoded, str):
            return decoded
    return name


def _member(value: object, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadEvent(f"{field} must hold account ids")
    return fields.account(value, field)


def _flag(body: Mapping[str, object], field: str) -> bool:
    value = body.get(field)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _recall_event(
    body: Mapping[str, object], session_type: SessionType, times: _Times
) -> RecallEvent:
    sender = _account(body, "from")
    conversation = Conversation(session_type, sender, _account(body, "to"))
    revoke = RevokeNotification(
        message_server_id=_id(body, "msgId"),
        operator=sender,
        time=times(body, "deleteTime"),
        postscript=_opt_str(body, "selfMsg") or None,
    )
    sent = times(body, "sendTime") if body.get("sendTime") not in (None, "") else None
    return RecallEvent(conversation, revoke, sent, times.clamped)


def _str(body: Mapping[str, object], field: str) -> str:
    value = _opt_str(body, field)
    if not value:
        raise fields.missing(field)
    return value


def _opt_str(body: Mapping[str, object], field: str) -> str | None:
    return fields.optional_text(body.get(field), field)


def _no_nul(value: str, field: str) -> str:
    return fields.no_nul(value, field)


def _account(body: Mapping[str, object], field: str) -> str:
    return fields.account(body.get(field), field)


def _id(body: Mapping[str, object], field: str) -> str:
    return fields.identifier(body.get(field), field)


def _int(body: Mapping[str, object], field: str) -> int:
    return fields.integer(body.get(field), field)


def _time(body: Mapping[str, object], field: str) -> int:
    return fields.milliseconds(body.get(field), field)


def _json_text(body: Mapping[str, object], field: str) -> str | None:
    # NIM sends attach and ext as JSON text; a client that sends an object gets it kept as text.
    return fields.optional_json_text(body.get(field), field)
