"""Four membership rules, each pinned by a deterministic history, on both backends (issue 23: a
bug planted in any of them passed the whole suite before):

- two membership snapshots (``tMembers``) of one millisecond: the one with the larger
  msgidServer is the later;
- 410 (application accepted: ``data.id`` joins) is not 411 (invitation accepted: the sender
  joins, ``data.id`` is the inviter);
- a late event that rebuilds a session marked read counts unread only what came after the mark;
- a recall after a kick reaches the members at the message's send time, the kicked one included.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.sessions import LastMessageKind
from gateway.ingest import Ingestor
from gateway.store.base import SessionStore
from tests.helpers import T0, cc_recall

SUPER = SessionType.SUPER_TEAM
NOW = T0 + 86_400_000  # the ingestor's clock: after every event here (none is taken as later)


def event(msgid: str, sender: str, tid: str, time: int, conv: str = "SUPER_TEAM",
          **fields: Any) -> dict[str, Any]:  # fmt: skip
    return {"eventType": "1", "convType": conv, "to": tid, "fromAccount": sender,
            "msgTimestamp": str(time), "msgidServer": msgid, "msgType": "TEXT", "body": msgid,
            **fields}  # fmt: skip


def notification(msgid: str, sender: str, tid: str, time: int, code: int, **data: Any) -> Any:
    return event(msgid, sender, tid, time, msgType="NOTIFICATION",
                 attach={"id": code, "data": data})  # fmt: skip


async def state(store: SessionStore, key: SessionKey, *accounts: str) -> dict[str, Any]:
    found = {}
    for account in accounts:
        sessions = await store.get_sessions(account, [key])
        found[account] = (
            (sessions[0].last_message_id, sessions[0].unread_count) if sessions else None
        )
    return found


# -- 1. two snapshots of one millisecond ----------------------------------------------------------

TIED_SNAPSHOTS = [
    event("999", "a", "61", T0, conv="TEAM", tMembers="[a, b, c]"),
    event("1000", "a", "61", T0, conv="TEAM", tMembers="[a, b]"),  # c is gone after it
    event("1003", "a", "61", T0 + 5, conv="TEAM"),  # to the members before it: a and b
    event("1004", "b", "61", T0 + 9, conv="TEAM"),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=str)
async def test_of_two_member_lists_in_one_millisecond_the_larger_id_is_the_later(
    order: tuple[int, ...], store: SessionStore
) -> None:
    ingestor = Ingestor(store, lambda: NOW)
    for n in order:
        await ingestor.apply_json(TIED_SNAPSHOTS[n])
    key = SessionKey(SessionType.TEAM, "61")
    assert await store.team_members(key) == ["a", "b"]
    assert await state(store, key, "a", "b", "c") == {
        "a": ("1004", 1), "b": ("1004", 3), "c": ("999", 1)
    }  # fmt: skip


# -- 2. application accepted (410, 5) is not invitation accepted (411, 9) -----------------------


@pytest.mark.parametrize(("application", "invitation"), [(410, 411), (5, 9)])
@pytest.mark.parametrize("late", [False, True], ids=["in-order", "accepts-late"])
async def test_an_accepted_application_adds_data_id_an_accepted_invitation_its_sender(
    application: int, invitation: int, late: bool, store: SessionStore
) -> None:
    tid = f"62{application}{int(late)}"
    history = [
        notification("1", "owner", tid, T0, 401, ids=["bob"]),
        notification("2", "owner", tid, T0 + 1, application, id="dave"),  # dave applied
        notification("3", "erin", tid, T0 + 2, invitation, id="owner"),  # owner invited erin
        event("4", "bob", tid, T0 + 3),
    ]
    ingestor = Ingestor(store, lambda: NOW)
    for body in history[:1] + history[3:] + history[1:3] if late else history:
        await ingestor.apply_json(body)
    key = SessionKey(SUPER, tid)
    assert await store.team_members(key) == ["bob", "dave", "erin", "owner"]
    assert await state(store, key, "owner", "bob", "dave", "erin") == {
        "owner": ("4", 1), "bob": ("4", 0), "dave": ("4", 1), "erin": ("4", 1)
    }  # fmt: skip


# -- 3. the read mark survives a late event that rebuilds the session -----------------------------


@pytest.mark.parametrize("early", [0, 12], ids=["whole-history", "from-the-late-event"])
async def test_a_late_rejoin_counts_unread_only_what_came_after_the_read_mark(
    early: int, store: SessionStore
) -> None:
    """bob is kicked, marks the team read, and a re-invite from before the mark arrives late:
    he gets back m2 (older than the mark: read) and m3 (newer: unread). With ``early`` messages
    before the kick, the late event rebuilds from where it happened instead of from the start."""
    tid = f"63{early}"
    key = SessionKey(SUPER, tid)
    ingestor = Ingestor(store, lambda: NOW)
    await ingestor.apply_json(notification("100", "alice", tid, T0, 401, ids=["bob", "carol"]))
    for n in range(early):
        await ingestor.apply_json(event(str(200 + n), "carol", tid, T0 + 1 + n))
    await ingestor.apply_json(notification("300", "alice", tid, T0 + 20, 402, ids=["bob"]))
    await ingestor.apply_json(event("400", "carol", tid, T0 + 30))  # m2
    read_at = T0 + 3_600_000
    [marked] = await store.mark_read("bob", [key], read_at)
    assert (marked.last_message_id, marked.unread_count) == ("300", 0)
    await ingestor.apply_json(event("500", "carol", tid, read_at + 1000))  # m3: bob is out
    await ingestor.apply_json(notification("350", "alice", tid, T0 + 25, 401, ids=["bob"]))
    [bob] = await store.get_sessions("bob", [key])
    assert (bob.last_message_id, bob.unread_count, bob.last_read_time) == ("500", 1, read_at)


# -- 4. a recall after a kick reaches the members at the message's send time ----------------------


@pytest.mark.parametrize("arrival", ["in-order", "recall-first", "kick-last"])
async def test_a_recall_after_a_kick_reaches_the_kicked_member(
    arrival: str, store: SessionStore
) -> None:
    tid = f"64{len(arrival)}"
    key = SessionKey(SUPER, tid)
    invite = notification("1", "alice", tid, T0, 401, ids=["bob", "carol"])
    message = event("2", "carol", tid, T0 + 10)
    kick = notification("3", "alice", tid, T0 + 20, 402, ids=["bob"])
    recall = cc_recall("2", "carol", tid, T0 + 30, event_type=25, sent=T0 + 10)
    order = {"in-order": [invite, message, kick, recall],
             "recall-first": [invite, recall, message, kick],
             "kick-last": [invite, message, recall, kick]}[arrival]  # fmt: skip
    ingestor = Ingestor(store, lambda: NOW)
    for body in order:
        await ingestor.apply_json(body)
    # bob's last message is the kick that removed him; the recalled message is unread no more.
    assert await state(store, key, "alice", "bob", "carol") == {
        "alice": ("3", 0), "bob": ("3", 0), "carol": ("3", 0)
    }  # fmt: skip


async def test_a_recall_after_a_silent_removal_revokes_the_removed_members_last_message(
    store: SessionStore,
) -> None:
    """Removed by the registry (no message): the recalled message is still bob's last one."""
    key = SessionKey(SUPER, "65")
    ingestor = Ingestor(store, lambda: NOW)
    await ingestor.apply_json(notification("1", "alice", "65", T0, 401, ids=["bob", "carol"]))
    await ingestor.apply_json(event("2", "carol", "65", T0 + 10))
    await store.remove_team_members(key, ["bob"], T0 + 20)
    await ingestor.apply_json(cc_recall("2", "carol", "65", T0 + 30, event_type=25, sent=T0 + 10))
    [bob] = await store.get_sessions("bob", [key])
    assert (bob.last_message_kind, bob.unread_count) == (LastMessageKind.REVOKE_NOTIFICATION, 0)
    assert bob.revoke is not None
    assert (bob.revoke.message_server_id, bob.revoke.time) == ("2", T0 + 30)
