"""Dead letters: correctly signed message-CC bodies the gateway could not apply.

NIM retries every answer but 200, for ever: such a body is answered 200 and kept whole (the raw
bytes, the headers that say who sent it and when, why it was refused, when it came) for an
operator to read and, once the gateway can use it, to apply again (``gateway dead-letters``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

DEFAULT_LIMIT = 10_000
# NIM's signature headers and what says how the body is encoded: enough to tell who sent it,
# when, and to check its signature again.
KEPT_HEADERS = ("AppKey", "CurTime", "MD5", "CheckSum", "Content-Type", "Content-Encoding")
UNEXPECTED = "UNEXPECTED"  # the reason when reading the body failed in a way nobody foresaw
_SUMMARY_FIELDS = ("eventType", "convType", "msgType", "msgidServer", "msgId", "to")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    received_at: int  # ms since the epoch
    reason: str  # the code of the BadEvent that refused it, or UNEXPECTED
    detail: str
    headers: Mapping[str, str]
    body: bytes  # whole, or its first bytes where a list says so
    size: int  # of the whole body, in bytes


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers worth keeping, under NIM's spelling, from a case-insensitive mapping."""
    return {name: headers[name] for name in KEPT_HEADERS if name in headers}


def summary(body: bytes) -> str:
    """One line that says what a body is: its NIM fields when it is an object, else its start."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        named = [f"{name}={document[name]!r}" for name in _SUMMARY_FIELDS if name in document]
        return " ".join(named) or "an object without NIM's fields"
    start = body[:60].decode("utf-8", "backslashreplace")
    return repr(start) + ("..." if len(body) > 60 else "")
