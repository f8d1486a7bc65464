"""The team registry's request bodies: ``{"type": "TEAM" | "SUPER_TEAM", "members": [...]}``, the
members accounts as text or JSON integers (taken as their decimal text, as NIM's ids are)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.domain import fields
from gateway.domain.keys import SessionKey, SessionType, check_account
from gateway.errors import BadEvent, BadUserInput

MAX_MEMBERS = 100_000
_TYPES = {"TEAM": SessionType.TEAM, "SUPER_TEAM": SessionType.SUPER_TEAM}


@dataclass(frozen=True, slots=True)
class MemberChange:
    team: SessionKey
    members: list[str]


def team_key(tid: str, type_name: object) -> SessionKey:
    session_type = _TYPES.get(type_name) if isinstance(type_name, str) else None
    if session_type is None:
        raise BadEvent('type must be "TEAM" or "SUPER_TEAM"')
    try:
        return SessionKey(session_type, check_account(tid, what="team id"))
    except BadUserInput as e:
        raise BadEvent(e.message) from None


def parse_member_change(tid: str, body: object) -> MemberChange:
    if not isinstance(body, Mapping):
        raise BadEvent("the body must be a JSON object")
    members = body.get("members")
    if not isinstance(members, list):
        raise BadEvent("members must be a list of account ids")
    if len(members) > MAX_MEMBERS:
        raise BadEvent(f"at most {MAX_MEMBERS} members in one request")
    checked: list[str] = []
    for n, member in enumerate(members):
        if isinstance(member, bool) or not isinstance(member, str | int):
            raise BadEvent(f"members[{n}] is not an account id (text or an integer)")
        try:
            checked.append(fields.account(member, f"members[{n}]"))
        except BadEvent as e:
            raise BadEvent(e.message) from None  # the registry answers BAD_EVENT for any of them
    return MemberChange(team_key(tid, body.get("type")), list(dict.fromkeys(checked)))
