"""Logging: plain text for a person at a terminal, JSON lines anywhere else; each line with the
request id it belongs to. Lines are formatted and written by a thread of their own: a request
pays for its record (one access log line, say) and a queue put, not for JSON encoding or a write
that blocks while whoever reads the logs falls behind."""

from __future__ import annotations

import logging
import queue
import random
import sys
import threading
from contextvars import ContextVar
from logging.handlers import QueueHandler, QueueListener
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str] = ContextVar("request_id", default="-")
HEADER = "x-request-id"
_HEADER = HEADER.encode()


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


_FLUSH_TIMEOUT_S = 5


class _Mark(logging.LogRecord):
    """Not a line: set once every record queued before it is written."""

    def __init__(self) -> None:
        super().__init__("gateway.logs", logging.DEBUG, __file__, 0, "", None, None)
        self.written = threading.Event()


class _Writer(QueueListener):
    def handle(self, record: logging.LogRecord) -> None:
        if isinstance(record, _Mark):
            record.written.set()
        else:
            super().handle(record)


class _Queued(QueueHandler):
    """Hands records to a thread that formats and writes them with ``handler``; closing it
    writes what is still queued (``logging.shutdown`` closes it at exit)."""

    def __init__(self, handler: logging.Handler) -> None:
        super().__init__(queue.SimpleQueue())
        self._writer: QueueListener | None = _Writer(self.queue, handler)
        self._writer.start()

    def flush(self) -> None:
        """Returns once every record queued so far is written (or after a few seconds: the
        reader of the logs may be gone)."""
        if self._writer is not None:
            mark = _Mark()
            self.queue.put_nowait(mark)
            mark.written.wait(_FLUSH_TIMEOUT_S)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Only a thread of this process reads the record: no copy, no pickling. The message is
        # merged now, from its arguments as they are when logged.
        if record.args:
            record.msg, record.args = record.getMessage(), None
        return record

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()
            for handler in writer.handlers:
                handler.close()
        super().close()


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr): as ``fmt`` says, ``json`` lines or ``text``; ``auto`` is text
    on a terminal and JSON anywhere else (a file, a pipe, a log collector)."""
    out = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(out)
    if fmt == "json" or (fmt == "auto" and not out.isatty()):
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))  # fmt: skip
    else:
        handler.setFormatter(_Text())
    queued = _Queued(handler)
    queued.addFilter(_RequestId())  # where the record is made: the request id is a context variable
    root = logging.getLogger()
    for replaced in root.handlers:
        if isinstance(replaced, _Queued):
            replaced.close()
    root.handlers[:] = [queued]
    root.setLevel(level.upper())


def flush_logs() -> None:
    """Writes every line logged so far: before the process ends without running ``atexit``
    (killed by a signal it re-raises, say)."""
    for handler in logging.getLogger().handlers:
        handler.flush()


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID, or a new one."""
    given = next((value for name, value in scope["headers"] if name == _HEADER), b"")
    rid = given.decode("latin-1")
    if not (rid.isprintable() and 0 < len(rid) <= 128):
        # Unique, not secret: no system call (uuid4's urandom releases and retakes the GIL).
        rid = f"{random.getrandbits(128):032x}"
    return rid


class RequestIdMiddleware:
    """Takes the caller's X-Request-ID (or makes one), logs under it and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        token = request_id.set(rid)
        if scope["type"] == "websocket":  # no response head to echo it in: nothing to wrap
            try:
                await self.app(scope, receive, send)
            finally:
                request_id.reset(token)
            return

        echoed = (_HEADER, rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
