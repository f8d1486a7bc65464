"""Strawberry's names, converted once: its ``NameConverter`` turns a Python name into the
schema's (``only_unread`` to ``onlyUnread``) every time an argument is converted, for every
argument a field declares, on every request. The conversion depends on the name alone, so
each is made once and remembered (the names are the schema's own: a bounded set)."""

from __future__ import annotations

from strawberry.schema.name_converter import NameConverter


class RememberingNameConverter(NameConverter):
    def __init__(self, auto_camel_case: bool = True) -> None:
        super().__init__(auto_camel_case)
        self._converted: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._converted.get(name)
        if converted is None:
            converted = self._converted[name] = super().apply_naming_config(name)
        return converted
