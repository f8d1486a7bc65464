"""Look-ahead into the client's selection, to skip work nobody asked for."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from strawberry.types.nodes import Selection


def selects(info: strawberry.Info, name: str) -> bool:
    """Whether the current field's selection (through fragments) includes ``name``."""
    return any(_contains(field.selections, name) for field in info.selected_fields)


def _contains(selections: Iterable[Selection], name: str) -> bool:
    for selection in selections:
        if getattr(selection, "name", None) == name and hasattr(selection, "arguments"):
            return True
        if not hasattr(selection, "arguments") and _contains(selection.selections, name):
            return True  # a fragment: look inside
    return False
