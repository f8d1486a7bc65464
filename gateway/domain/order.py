"""One order for NIM's events: ``(msgTimestamp, msgidServer as an unsigned integer)``.

NIM's ``msgidServer`` is a Long sent as text: in one millisecond, id ``…1000`` comes after
``…999``. Ids are compared through a sort key that compares, as text, the way the numbers do:
``"0"``, the value in 20 digits (the whole unsigned 64-bit range, zero-padded), then the id as
sent, so ``0123`` and ``123`` tie on the number and still differ. Any other id (letters, or more
than 20 significant digits: no Long) keys as ``"1"`` and its text, after every number. The registry
stamps its changes with the empty id, before any message of the same millisecond.

The databases compute the same key from the id (migrations ``order_key``, ``last_msg_order``,
``event_order``); ``tests/test_order.py`` holds both backends to :func:`id_order`.
"""

from __future__ import annotations

from typing import NamedTuple

ID_DIGITS = 20  # 18446744073709551615, the largest unsigned 64-bit integer, has 20 digits


def id_order(server_id: str) -> str:
    """The sort key of a message id (see the module's docstring)."""
    if not server_id:
        return ""
    if server_id.isascii() and server_id.isdigit():
        digits = server_id.lstrip("0")
        if len(digits) <= ID_DIGITS:
            return "0" + digits.rjust(ID_DIGITS, "0") + server_id
    return "1" + server_id


class EventKey(NamedTuple):
    """Where an event stands in its team's history: its time, then its id's sort key. The id
    itself comes last, so it never decides (the key is one-to-one with the id)."""

    time: int
    order: str
    event_id: str


def event_key(time: int, server_id: str) -> EventKey:
    return EventKey(time, id_order(server_id), server_id)


FIRST = EventKey(-(2**63), "", "")  # before every event
LAST = EventKey(2**63, "", "")  # after every event
