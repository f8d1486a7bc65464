"""Messages once read, kept in memory.

A message row is written once and never changed or deleted (``insert_message`` does nothing on
a conflict; no statement updates or deletes ``messages``), so a message read once reads the same
ever after, from every process on the database. A page's last messages are looked up here by
their refs and only the ones not seen yet are read, by their ids: the page itself is one indexed
read of session rows. (Joined to the page in SQL, the last messages took 55 of the page's 86 us
on SQLite; the team a message went to shares that one message among all its members' pages.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.domain.sessions import Message

# What an entry costs beyond its texts: the Message, its ref and two dicts' slots (measured with
# sys.getsizeof over a page of short messages, rounded up).
ENTRY_BYTES = 600
DEFAULT_BYTES = 32 * 1024 * 1024


class KeptMessages:
    """Two generations of plain dicts, bounded by bytes.

    A hit is a dict lookup; cachetools' LRUCache spends about half a microsecond per lookup in
    Python, and a page looks up one message per session. A hit in the old generation moves the
    entry to the new one; when the new one outgrows half the budget, the old one is dropped and
    the new one becomes old. So what was used since the last turn over is kept, and the cache
    never holds more than ``max_bytes`` (by ``size_of``'s count)."""

    def __init__(self, max_bytes: int = DEFAULT_BYTES) -> None:
        self._half = max(0, max_bytes // 2)
        self._new: dict[str, Message] = {}
        self._old: dict[str, Message] = {}
        self._new_bytes = 0

    def find(self, refs: Iterable[str]) -> tuple[dict[str, Message], list[str]]:
        """The cached messages among ``refs``, and the refs not cached (in order, once each)."""
        found: dict[str, Message] = {}
        missing: dict[str, None] = {}
        new, old = self._new, self._old
        for ref in refs:
            message = new.get(ref)
            if message is None:
                message = old.pop(ref, None)
                if message is None:
                    missing[ref] = None
                    continue
                self._keep(ref, message)
            found[ref] = message
        return found, list(missing)

    def add(self, messages: Sequence[Message]) -> None:
        for message in messages:
            ref = message.ref
            if ref not in self._new:
                self._old.pop(ref, None)
                self._keep(ref, message)

    def __len__(self) -> int:
        return len(self._new) + len(self._old)

    def _keep(self, ref: str, message: Message) -> None:
        size = size_of(message)
        if size > self._half:
            return  # larger than a generation: read it each time rather than flush for it
        if self._new_bytes + size > self._half:
            self._old, self._new, self._new_bytes = self._new, {}, 0
        self._new[ref] = message
        self._new_bytes += size


def size_of(message: Message) -> int:
    """What ``message`` costs the cache, roughly: its texts' lengths plus a fixed overhead."""
    return (
        ENTRY_BYTES
        + 2 * len(message.server_id)
        + len(message.conversation)
        + len(message.from_account)
        + len(message.client_id or "")
        + len(message.text or "")
        + len(message.attachment or "")
        + len(message.ext or "")
    )
