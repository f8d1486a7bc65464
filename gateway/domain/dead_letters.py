"""Dead letters: correctly signed message-CC bodies the gateway could not apply.

NIM retries every answer but 200, for ever: such a body is answered 200 and kept whole (the raw
bytes, the headers that say who sent it and when, why it was refused, when it came) for an
operator to read and, once the gateway can use it, to apply again (``gateway dead-letters``).
"""

from __future__ import annotations

import unicodedata
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


def readable(raw: bytes | str) -> str:
    """Text safe to print on a terminal: bytes that are no UTF-8 and control characters (but
    newlines and tabs) written as escapes, so a body cannot drive the operator's terminal."""
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    return "".join(_escaped(c) for c in text)


def _escaped(c: str) -> str:
    if c in "\n\t" or not unicodedata.category(c).startswith("C"):
        return c
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def summary(body: bytes) -> str:
    """One line that says what a body is: its NIM fields when it is an object, else its start."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        named = [f"{name}={document[name]!r}" for name in _SUMMARY_FIELDS if name in document]
        return readable(" ".join(named)) or "an object without NIM's fields"
    return readable(body[:60]) + ("..." if len(body) > 60 else "")
