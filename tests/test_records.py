"""Domain records (domain/records.py): frozen to the type checker, plain at run time, equal and
hashed by value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mypy import api

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.sessions import Message, MessageType, Session

KEY = SessionKey(SessionType.P2P, "bob")


def test_records_compare_and_hash_by_value() -> None:
    one, same = Session("alice", KEY, 1, unread_count=2), Session("alice", KEY, 1, unread_count=2)
    assert one == same
    assert hash(one) == hash(same)
    assert len({one, same, dataclasses.replace(one, unread_count=3)}) == 2
    assert Message("5", "bob", MessageType.TEXT, 1) == Message("5", "bob", MessageType.TEXT, 1)


def test_the_type_checker_refuses_assigning_to_a_record(tmp_path: Path) -> None:
    source = tmp_path / "assigns.py"
    source.write_text(
        "from gateway.domain.keys import SessionKey, SessionType\n"
        "from gateway.domain.sessions import Session\n"
        "session = Session('alice', SessionKey(SessionType.P2P, 'bob'), 1)\n"
        "session.unread_count = 3\n"
    )
    out, _, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                              str(source)])  # fmt: skip
    assert status == 1, out
    assert 'Property "unread_count" defined in "Session" is read-only' in out
