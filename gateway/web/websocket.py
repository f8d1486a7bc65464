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

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

SEND_TEXT_NOW = "gateway.send_text_now"


class FramedWebSocketProtocol(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        self.scope[SEND_TEXT_NOW] = self.send_text_now  # type: ignore[literal-required]
        await super().run_asgi()

    def send_text_now(self, texts: list[bytes]) -> bool:
        """Sends each of ``texts`` (UTF-8) as a text frame, or none (False)."""
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or self.transport.is_closing()
            or self.conn.state is not State.OPEN
        ):
            return False
        for text in texts:
            self.conn.send_text(text)
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
