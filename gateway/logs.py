"""Logging: plain text for a person at a terminal, JSON lines anywhere else; each line with the
request id it belongs to."""

from __future__ import annotations

import logging
import sys
import uuid
from contextvars import ContextVar
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str] = ContextVar("request_id", default="-")
HEADER = "x-request-id"


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        # uvicorn attaches a copy of some messages with terminal colour codes; JSON gets the plain
        # message only.
        record.__dict__.pop("color_message", None)
        return True


class _Text(logging.Formatter):
    """For a person at a terminal: time, level, message, and the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", "-")
        return line if rid == "-" else f"{line} [{rid}]"


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr): as ``fmt`` says, ``json`` lines or ``text``; ``auto`` is text
    on a terminal and JSON anywhere else (a file, a pipe, a log collector)."""
    out = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(out)
    handler.addFilter(_RequestId())
    if fmt == "json" or (fmt == "auto" and not out.isatty()):
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))  # fmt: skip
    else:
        handler.setFormatter(_Text())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (or makes one), logs under it and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        rid = given if given.isprintable() and 0 < len(given) <= 128 else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(HEADER, rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
