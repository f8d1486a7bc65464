"""Custom scalars: ``DateTime`` is ISO-8601 UTC with milliseconds, held as epoch milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from gateway.errors import BadUserInput

Timestamp = NewType("Timestamp", int)
"""Milliseconds since the epoch; ``DateTime`` in the schema."""

_EPOCH = datetime(1970, 1, 1)  # naive UTC: formatting it needs no time-zone arithmetic
_EPOCH_UTC = _EPOCH.replace(tzinfo=UTC)


def format_timestamp(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=65_536)  # a page's timestamps share few seconds; a list is read again and again
def _second(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).isoformat()


def parse_timestamp(value: object) -> Timestamp:
    """An ISO-8601 string with a time zone, or epoch milliseconds as NIM gives them."""
    if isinstance(value, bool):
        raise BadUserInput("DateTime must be an ISO-8601 string or epoch milliseconds")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise BadUserInput(f"{value!r} is not an ISO-8601 date-time") from None
        if parsed.tzinfo is None:
            raise BadUserInput(f"{value!r} has no time zone; add one, e.g. 'Z' for UTC")
        ms = (parsed - _EPOCH_UTC) // timedelta(milliseconds=1)
    else:
        raise BadUserInput("DateTime must be an ISO-8601 string or epoch milliseconds")
    try:
        format_timestamp(ms)
    except OverflowError:
        raise BadUserInput(f"{value!r} is outside the years 1 to 9999") from None
    return Timestamp(ms)


DATETIME = strawberry.scalar(
    name="DateTime",
    description=(
        "An instant as ISO-8601 in UTC with millisecond precision, e.g. "
        "`2026-11-26T08:30:00.000Z`. Inputs also accept any time-zone offset, or "
        "milliseconds since the epoch as an Int."
    ),
    serialize=format_timestamp,
    parse_value=parse_timestamp,
)

SCALARS: dict[object, ScalarDefinition] = {Timestamp: DATETIME}
