"""Storage backends behind one interface (:class:`SessionStore`)."""

from gateway.store.base import SessionStore
from gateway.store.sqlite import SqliteStore

__all__ = ["SessionStore", "SqliteStore"]
