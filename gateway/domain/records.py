"""Immutable records that are cheap to build.

A frozen dataclass assigns each field through ``object.__setattr__`` in its ``__init__``: five
times the cost of a plain one (about a microsecond for a session's eleven fields), and a page
builds a session and a message per row, a team message a session per member. ``record`` makes
a class frozen to the type checker (``mypy --strict`` refuses any assignment to its fields, as
for ``@dataclass(frozen=True)``) and, at run time, a plain slotted dataclass that compares and
hashes by value as a frozen one does. Nothing assigns to a record's fields after ``__init__``;
``dataclasses.replace`` makes a changed copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from typing_extensions import dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    return dataclass(slots=True, unsafe_hash=True)(cls)
