"""A lean WebSocket subscriber for measuring fan-out: one asyncio Protocol per socket that, while
the measurement runs, only stamps each arriving frame with ``time.perf_counter()`` and keeps the
raw bytes. Frames are parsed and checked after the measurement (``frames``), so the client's
CPU does not add to the latency it measures, and a wrong or missing frame still fails loudly.

Only what the benchmark needs: a client handshake over plain TCP, masked text frames out,
unmasked server frames in (text, ping, close), no extensions.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65_536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big") if size else b""
    return head + mask + masked


class Subscriber(asyncio.Protocol):
    """One socket. Frames received are counted as they complete (``on_frame`` is called with
    their number, from 1) and kept raw with the time their last byte arrived."""

    def __init__(self, on_frame: Callable[[int], None]) -> None:
        self._on_frame = on_frame
        self._transport: asyncio.Transport | None = None
        self._head = bytearray()
        self._upgraded: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting: asyncio.Future[bytes] | None = None
        self.raw = bytearray()  # every byte after the handshake's response
        self.stamps: list[float] = []  # when each text frame's last byte arrived
        self._scanned = 0  # offset in raw of the next frame's first byte
        self._texts = 0
        self._taken = 0  # text frames handed out by next_text
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # Set-up (before the measurement: parses as it goes) --------------------------------------

    async def handshake(self, url: str, subprotocol: str) -> None:
        parts = urlsplit(url)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {subprotocol}\r\n\r\n"
        )
        assert self._transport is not None
        self._transport.write(request.encode())
        head = await self._upgraded
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise SystemExit(f"WebSocket upgrade refused: {status.decode(errors='replace')}")

    def send_text(self, text: bytes) -> None:
        assert self._transport is not None
        self._transport.write(client_frame(_TEXT, text))

    async def next_text(self) -> bytes:
        """The next text frame's payload (set-up only: the measurement reads ``raw`` later)."""
        texts = self.texts()
        if len(texts) > self._taken:
            self._taken += 1
            return texts[self._taken - 1]
        self._waiting = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(self._waiting, 30)
        finally:
            self._waiting = None

    def mark(self) -> int:
        """Frames so far (the set-up's); the measured ones are those after this count."""
        self._taken = self._texts
        return self._texts

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(client_frame(_CLOSE, (1000).to_bytes(2, "big")))
            self._transport.close()

    # asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._upgraded.done():
            self._upgraded.set_exception(ConnectionError("closed during the handshake"))
        if self._waiting is not None and not self._waiting.done():
            self._waiting.set_exception(ConnectionError("closed by the server"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self._upgraded.done():
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            data = bytes(self._head[end + 4 :])
            self._upgraded.set_result(bytes(self._head[:end]))
        self.raw += data
        self._scan(now)

    def _scan(self, now: float) -> None:
        # Frame boundaries only (two header bytes, maybe a length); the payloads are left for
        # later, but pings are answered: the server closes a socket that does not pong.
        raw, at = self.raw, self._scanned
        while len(raw) - at >= 2:
            size = raw[at + 1] & 0x7F
            start = at + 2
            if size == 126:
                if len(raw) - at < 4:
                    return
                size, start = int.from_bytes(raw[at + 2 : at + 4], "big"), at + 4
            elif size == 127:
                if len(raw) - at < 10:
                    return
                size, start = int.from_bytes(raw[at + 2 : at + 10], "big"), at + 10
            end = start + size
            if len(raw) < end:
                return
            opcode = raw[at] & 0x0F
            self._scanned = at = end
            if opcode == _TEXT:
                self._texts += 1
                self.stamps.append(now)
                if self._waiting is not None and not self._waiting.done():
                    self._taken += 1
                    self._waiting.set_result(bytes(raw[start:end]))
                self._on_frame(self._texts)
            elif opcode == _PING and self._transport is not None:
                self._transport.write(client_frame(_PONG, bytes(raw[start:end])))

    # After the measurement ---------------------------------------------------------------------

    def texts(self) -> list[bytes]:
        """Every text frame's payload so far, in order; any other data frame fails."""
        out: list[bytes] = []
        raw, at = self.raw, 0
        while at < self._scanned:
            first, size = raw[at], raw[at + 1]
            if size & 0x80:
                raise SystemExit("the server sent a masked frame")
            size &= 0x7F
            start = at + 2
            if size == 126:
                size, start = int.from_bytes(raw[at + 2 : at + 4], "big"), at + 4
            elif size == 127:
                size, start = int.from_bytes(raw[at + 2 : at + 10], "big"), at + 10
            opcode = first & 0x0F
            if not first & 0x80 or opcode not in (_TEXT, _CLOSE, _PING, _PONG):
                raise SystemExit(f"unexpected frame: first byte {first:#x}")
            if opcode == _TEXT:
                out.append(bytes(raw[start : start + size]))
            at = start + size
        return out


async def connect(url: str, subprotocol: str, on_frame: Callable[[int], None]) -> Subscriber:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, subscriber = await loop.create_connection(
        lambda: Subscriber(on_frame), parts.hostname or "127.0.0.1", parts.port or 80
    )
    await subscriber.handshake(url, subprotocol)
    return subscriber
