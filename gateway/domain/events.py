"""NIM message-CC events, parsed into what the session lists need.

Accepted shapes (all other fields are ignored):

- ``eventType`` 1, a conversation message: ``convType`` (PERSON, CUSTOM_PERSON, TEAM,
  CUSTOM_TEAM, SUPER_TEAM, CUSTOM_SUPER_TEAM), ``to``, ``fromAccount``, ``msgTimestamp``,
  ``msgidServer``, optional ``msgType``, ``body``, ``attach``, ``ext``, ``msgidClient``.
- ``eventType`` 7 (P2P) or 8 (team) recall: the recalled message's server id as ``deleteMsgid``
  (else ``msgidServer``), the operator as ``fromAccount``, the conversation as ``to`` (with
  ``convType`` for super teams), the time as ``msgTimestamp``, an optional postscript in
  ``attach`` or ``body``.
- Any other ``eventType``: acknowledged and counted, never stored.

Numbers may arrive as JSON numbers or as decimal strings, as NIM sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.domain import fields
from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.sessions import Delivery, Message, MessageType, RevokeNotification
from gateway.errors import BadEvent

MESSAGE = 1
P2P_RECALL = 7
TEAM_RECALL = 8

_CONV_TYPES = {
    "PERSON": SessionType.P2P,
    "CUSTOM_PERSON": SessionType.P2P,
    "TEAM": SessionType.TEAM,
    "CUSTOM_TEAM": SessionType.TEAM,
    "SUPER_TEAM": SessionType.SUPER_TEAM,
    "CUSTOM_SUPER_TEAM": SessionType.SUPER_TEAM,
}


@dataclass(frozen=True, slots=True)
class Conversation:
    """Who a message is between: the sender and a peer, or the sender and a team."""

    type: SessionType
    sender: str
    to: str

    def fanout(self) -> tuple[list[Delivery], SessionKey | None]:
        """The explicit deliveries, and the team whose every member also gets the message."""
        if self.type is SessionType.P2P:
            deliveries = [Delivery(self.sender, SessionKey(SessionType.P2P, self.to))]
            if self.to != self.sender:
                deliveries.append(Delivery(self.to, SessionKey(SessionType.P2P, self.sender)))
            return deliveries, None
        team = SessionKey(self.type, self.to)
        return [Delivery(self.sender, team)], team


@dataclass(frozen=True, slots=True)
class MessageEvent:
    conversation: Conversation
    message: Message


@dataclass(frozen=True, slots=True)
class RecallEvent:
    conversation: Conversation
    revoke: RevokeNotification


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    event_type: int


Event = MessageEvent | RecallEvent | IgnoredEvent


def parse_event(body: object) -> Event:
    if not isinstance(body, Mapping):
        raise BadEvent("the body must be a JSON object")
    if "eventType" not in body:
        raise BadEvent("the body has no eventType", code="MISSING_EVENT_TYPE")
    event_type = _int(body, "eventType")
    if event_type == MESSAGE:
        return _message_event(body)
    if event_type in (P2P_RECALL, TEAM_RECALL):
        return _recall_event(body, event_type)
    return IgnoredEvent(event_type)


def _message_event(body: Mapping[str, object]) -> MessageEvent:
    conv_type = _str(body, "convType")
    session_type = _CONV_TYPES.get(conv_type)
    if session_type is None:
        raise BadEvent(f"convType {conv_type!r} is not one of {', '.join(_CONV_TYPES)}")
    conversation = Conversation(session_type, _account(body, "fromAccount"), _account(body, "to"))
    message = Message(
        server_id=_id(body, "msgidServer"),
        from_account=conversation.sender,
        type=MessageType.from_nim(_opt_str(body, "msgType") or ""),
        time=_time(body, "msgTimestamp"),
        client_id=_opt_str(body, "msgidClient"),
        text=_opt_str(body, "body"),
        attachment=_json_text(body, "attach"),
        ext=_json_text(body, "ext"),
    )
    return MessageEvent(conversation, message)


def _recall_event(body: Mapping[str, object], event_type: int) -> RecallEvent:
    if event_type == P2P_RECALL:
        session_type = SessionType.P2P
    else:
        conv_type = _opt_str(body, "convType") or "TEAM"
        session_type = _CONV_TYPES.get(conv_type, SessionType.TEAM)
        if session_type is SessionType.P2P:
            raise BadEvent("a team recall (eventType 8) with a P2P convType")
    recalled_field = "deleteMsgid" if body.get("deleteMsgid") not in (None, "") else "msgidServer"
    operator = _account(body, "fromAccount")
    conversation = Conversation(session_type, operator, _account(body, "to"))
    postscript = _opt_str(body, "attach") or _opt_str(body, "body")
    revoke = RevokeNotification(
        message_server_id=_id(body, recalled_field),
        operator=operator,
        time=_time(body, "msgTimestamp"),
        postscript=postscript,
    )
    return RecallEvent(conversation, revoke)


def _str(body: Mapping[str, object], field: str) -> str:
    value = _opt_str(body, field)
    if not value:
        raise BadEvent(f"{field} is required")
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
