"""websockets' surface used by the gateway's WebSocket protocol (``server/websocket.py``) below
uvicorn: the sans-I/O connection uvicorn keeps in ``conn`` (``state``, ``extensions``,
``send_text``, ``data_to_send``), whose frames a fan-out writes itself when no extension is
negotiated (``text_frame``: RFC 6455's framing, which ``tests/test_live_frames.py`` compares
with websockets' own at every length class)."""

from __future__ import annotations

from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from gateway._compat import IncompatibleLibrary, expect_parameters

__all__ = ["State", "check"]

LIBRARY = "websockets"
MODULE = "websockets"


def check() -> None:
    if not isinstance(getattr(State, "OPEN", None), State):
        raise IncompatibleLibrary(LIBRARY, "State.OPEN is gone", MODULE)
    expect_parameters(LIBRARY, MODULE, Protocol, "send_text", ["self", "data"])
    expect_parameters(LIBRARY, MODULE, Protocol, "data_to_send", ["self"])
    connection = ServerProtocol()
    missing = [name for name in ("state", "extensions") if not hasattr(connection, name)]
    if missing:
        raise IncompatibleLibrary(LIBRARY, f"ServerProtocol has no {', '.join(missing)}", MODULE)
