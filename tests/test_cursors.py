"""Signed cursors: the format is stable, so cursors issued before an upgrade stay valid."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@given(
    secret=st.binary(max_size=200),  # past the 64-byte block: such keys are hashed first
    viewer=st.text(max_size=40),
    update_time=st.integers(min_value=0, max_value=253402300799999),
    target=st.from_regex(r"[A-Za-z0-9_.@-]{1,30}", fullmatch=True),
)
def test_the_signature_is_rfc_2104_hmac_sha256_for_any_key(
    secret: bytes, viewer: str, update_time: int, target: str
) -> None:
    codec = CursorCodec(secret)
    cursor = codec.encode(viewer, Position(update_time, SessionKey.parse(f"p2p|{target}")))
    body, _, mac = cursor.partition(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    expected = hmac.new(secret, viewer.encode() + b"\0" + payload, hashlib.sha256).digest()[:16]
    assert mac == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()


@given(
    viewer=st.text(max_size=40),
    update_time=st.integers(min_value=0, max_value=253402300799999),
    target=st.from_regex(r"[A-Za-z0-9_.@-]{1,30}", fullmatch=True),
    pinned_at=st.none() | st.integers(min_value=0, max_value=253402300799999),
)
def test_a_viewers_signer_signs_as_encode_does(
    viewer: str, update_time: int, target: str, pinned_at: int | None
) -> None:
    position = Position(update_time, SessionKey.parse(f"team|{target}"), pinned_at)
    signed = CODEC.signer(viewer)(update_time, f"team|{target}", pinned_at)
    assert signed == CODEC.encode(viewer, position)
    assert CODEC.decode(viewer, signed) == position
