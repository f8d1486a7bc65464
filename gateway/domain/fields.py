"""Strict parsers for the fields of NIM's webhooks, each raising :class:`BadEvent` naming the field.

One rule for every backend: what one store could not hold (NUL, a number past BIGINT) is refused
here, before any store sees it. Numbers arrive as JSON numbers or as decimal text, as NIM sends
them; text numbers are ASCII digits only (``int()`` also takes ``"²"``-like digits, signs,
spaces and underscores). Account and team ids are text, often digits: a JSON integer is taken as
its decimal text, and text is kept as sent (``0123`` stays ``0123``).

Each refusal has a code the webhook counts its dead letters by: ``MISSING_FIELD``,
``NUL_CHARACTER`` or ``BAD_EVENT`` (anything else malformed).
"""

from __future__ import annotations

from functools import lru_cache

from gateway.domain import json_text
from gateway.domain.keys import check_account
from gateway.errors import BadEvent, BadUserInput

MAX_DIGITS = 18  # every such number is below 2**63: a BIGINT on every backend
MAX_ID_LENGTH = 128
MAX_TIME = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def is_ascii_digits(text: str, max_digits: int = MAX_DIGITS) -> bool:
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def missing(field: str) -> BadEvent:
    return BadEvent(f"{field} is required", code="MISSING_FIELD")


def integer(value: object, field: str) -> int:
    """A non-negative integer of at most :data:`MAX_DIGITS` digits."""
    if value is None or value == "":
        raise missing(field)
    if isinstance(value, str) and is_ascii_digits(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_DIGITS:
        return value
    raise BadEvent(f"{field} must be a non-negative integer of at most {MAX_DIGITS} ASCII digits")


def milliseconds(value: object, field: str) -> int:
    """An instant as milliseconds since the epoch, within the years 1970 to 9999."""
    ms = integer(value, field)
    if ms > MAX_TIME:
        raise BadEvent(f"{field} must be milliseconds since the epoch")
    return ms


def identifier(value: object, field: str) -> str:
    """A message id: text (or a JSON integer) of 1 to :data:`MAX_ID_LENGTH` printable
    characters without whitespace."""
    if value is None or value == "":
        raise missing(field)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_ID_LENGTH
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise BadEvent(
            f"{field} must be an id of 1 to {MAX_ID_LENGTH} printable characters, no spaces"
        )
    return value


def account(value: object, field: str) -> str:
    """An account or team id (see :func:`gateway.domain.keys.check_account`): text, or a JSON
    integer taken as its decimal text."""
    if isinstance(value, str) and _is_account(value):
        return value
    if value is None or value == "":
        raise missing(field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadEvent(f"{field} must be an account id: text or an integer")
    if "\x00" in value:
        raise BadEvent(f"{field} contains a NUL character", code="NUL_CHARACTER")
    try:
        return check_account(value, what=field)
    except BadUserInput as e:
        raise BadEvent(e.message) from None


@lru_cache(maxsize=65_536)
def _is_account(value: str) -> bool:
    """Whether ``value`` passes :func:`account` (remembered: a team message lists up to 200
    accounts, mostly the same ones again)."""
    try:
        check_account(value)
    except BadUserInput:
        return False
    return "\x00" not in value


def optional_text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadEvent(f"{field} must be a string")
    return no_nul(value, field)


def no_nul(value: str, field: str) -> str:
    # Text columns (PostgreSQL's at least) cannot hold NUL: refuse it on every backend alike.
    if "\x00" in value:
        raise BadEvent(f"{field} contains a NUL character", code="NUL_CHARACTER")
    return value


def optional_json_text(value: object, field: str) -> str | None:
    """JSON content as text: text is kept as sent, an object or array is encoded (at any depth:
    see :mod:`gateway.domain.json_text`)."""
    if value is None or isinstance(value, str):
        return optional_text(value, field)
    if isinstance(value, dict | list):
        return json_text.encode(value)  # a NUL inside is escaped as \u0000
    raise BadEvent(f"{field} must be JSON text")
