"""Opaque, signed keyset cursors.

A cursor names a position in one viewer's list and is signed for that viewer, so a cursor that
was edited, or issued to someone else, is refused instead of silently moving the page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import orjson

from gateway.domain.keys import SessionKey
from gateway.domain.pages import Position
from gateway.errors import BadUserInput

_MAC_BYTES = 16


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        # Keyed once: each MAC copies this state instead of hashing the key again.
        self._keyed = hmac.new(secret, digestmod=hashlib.sha256)

    def encode(self, viewer: str, position: Position) -> str:
        parts: list[object] = [position.update_time, str(position.key)]
        if position.pinned_at is not None:
            parts.append(position.pinned_at)
        payload = orjson.dumps(parts)
        return f"{_b64(payload)}.{_b64(self._mac(viewer, payload))}"

    def decode(self, viewer: str, cursor: str) -> Position:
        body, _, mac = cursor.partition(".")
        try:
            payload = _unb64(body)
            valid = hmac.compare_digest(_unb64(mac), self._mac(viewer, payload))
        except (ValueError, binascii.Error):
            valid = False
        if not valid:
            raise BadUserInput("the cursor is not one this server issued to you")
        update_time, key, *pinned = orjson.loads(payload)
        return Position(update_time, SessionKey.parse(key), pinned[0] if pinned else None)

    def _mac(self, viewer: str, payload: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(viewer.encode() + b"\0" + payload)
        return mac.digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
