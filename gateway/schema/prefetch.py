"""Reading ahead what the client selected, so fields resolve without awaiting one by one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import strawberry
from strawberry.types.nodes import Selection

from gateway._compat.strawberry import raw_info
from gateway.domain import sessions as domain
from gateway.store.base import SessionStore


def selects(info: strawberry.Info, name: str, *, deep: bool = False) -> bool:
    """Whether the current field's selection includes ``name``: among its own fields (through
    fragments), or with ``deep`` anywhere below it.

    The answer depends on the document only (directives are not evaluated), and parsing is
    cached, so it is kept by the field's syntax nodes: a cache entry holds its nodes, so no other
    node can have their ids while it lives. (A plain dict, emptied when full: a page asks
    twice, and an LRU's bookkeeping cost more than the answer.)"""
    nodes = raw_info(info).field_nodes
    key = (name, deep, *map(id, nodes))
    known = _selects.get(key)
    if known is None:
        found = any(_contains(field.selections, name, deep) for field in info.selected_fields)
        known = (nodes, found)
        if len(_selects) >= _SELECTS_KEPT:
            _selects.clear()
        _selects[key] = known
    return known[1]


_SELECTS_KEPT = 4096
_selects: dict[tuple[object, ...], tuple[object, bool]] = {}


def _contains(selections: Iterable[Selection], name: str, deep: bool) -> bool:
    for selection in selections:
        is_field = hasattr(selection, "arguments")
        if is_field and getattr(selection, "name", None) == name:
            return True
        if (deep or not is_field) and _contains(selection.selections, name, deep):
            return True
    return False


async def last_messages(
    info: strawberry.Info, sessions: Sequence[domain.Session]
) -> Mapping[str, domain.Message]:
    """The last messages of ``sessions`` in one read, if the client asked for them at all
    (NIM's needLastMessage): without `lastMessage` in the selection no message is read."""
    ids = [ref for s in sessions if (ref := s.shown_message_ref) is not None]
    if not ids or not selects(info, "lastMessage", deep=True):
        return {}
    store: SessionStore = info.context.store
    return await store.get_messages(ids)
