"""uvicorn's WebSocket protocol (websockets, sans-I/O), with a way for a subscription to send a
text frame at once, from a callback.

A fan-out hands each subscription's frames straight to its socket (gateway/live.py), with no
task woken and no trip through the ASGI ``send`` chain (Starlette's and our middleware, then
uvicorn's ``send``), which together cost more than the frame itself. ``send_text_now`` is
offered in the connection's ASGI scope under ``SEND_TEXT_NOW``; it sends what uvicorn's
``send`` would send for a ``websocket.send`` of the same text, or nothing, when the socket
cannot take it now (not open, closing, or the client is not reading: backpressure), and the
caller then takes the ordinary way, which waits.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway._compat.uvicorn import WebSocketsSansIOProtocol
from gateway._compat.websockets import State

SEND_TEXT_NOW = "gateway.send_text_now"
SendTextNow = Callable[[list[bytes]], bool]
"""Sends each text (UTF-8) as a text frame at once, or none (False: the socket cannot now)."""


class FramedWebSocketProtocol(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        # In the scope's small "extensions" dict: a key more in the scope itself grows it.
        extensions: dict[str, object] = self.scope.setdefault("extensions", {})  # type: ignore[assignment]
        extensions[SEND_TEXT_NOW] = self.send_text_now
        await super().run_asgi()

    def send_text_now(self, texts: list[bytes]) -> bool:
        """Sends each of ``texts`` (UTF-8) as a text frame, or none (False)."""
        conn = self.conn
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
            or conn.state is not State.OPEN
        ):
            return False
        if conn.extensions:
            # permessage-deflate (browsers ask for it): websockets encodes every frame.
            for text in texts:
                conn.send_text(text)
            self.transport.write(b"".join(conn.data_to_send()))
            return True
        # No extension: each frame is a header and the text as it is (websockets' own framing
        # costs a fan-out a third of its time outside the system call). Whatever websockets
        # holds unsent goes first; uvicorn flushes after each event, so that is normally none.
        self.transport.write(b"".join([*conn.data_to_send(), *map(text_frame, texts)]))
        return True


def text_frame(text: bytes) -> bytes:
    """A final, unmasked (server-to-client) text frame of ``text`` (RFC 6455, section 5.2)."""
    length = len(text)
    if length < 126:
        return bytes((0x81, length)) + text
    if length < 65536:
        return b"\x81\x7e" + length.to_bytes(2, "big") + text
    return b"\x81\x7f" + length.to_bytes(8, "big") + text
