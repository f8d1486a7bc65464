"""Signed cursors: the format is stable, so cursors issued before an upgrade stay valid."""

from __future__ import annotations

import pytest

from gateway.domain.cursors import CursorCodec
from gateway.domain.keys import SessionKey
from gateway.domain.pages import Position
from gateway.errors import BadUserInput

CODEC = CursorCodec(b"fixed-secret")
ISSUED = {
    "WzE3OTAwMDAwMDAxMjMsInAycHxib2IiXQ.I0GjJZ-B6xGMY5FUSj1h1w": Position(
        1790000000123, SessionKey.parse("p2p|bob")
    ),
    "WzE3OTAwMDAwMDAxMjMsInRlYW18NDIiLDE3OTAwMDAwMDA5OTld.ikrXO-VDk_nin9FBh7Bv_Q": Position(
        1790000000123, SessionKey.parse("team|42"), 1790000000999
    ),
}


@pytest.mark.parametrize("cursor", ISSUED)
def test_cursors_are_the_ones_earlier_releases_issued(cursor: str) -> None:
    assert CODEC.encode("alice", ISSUED[cursor]) == cursor
    assert CODEC.decode("alice", cursor) == ISSUED[cursor]


@pytest.mark.parametrize("cursor", ISSUED)
def test_a_cursor_is_refused_to_another_viewer(cursor: str) -> None:
    with pytest.raises(BadUserInput):
        CODEC.decode("bob", cursor)
