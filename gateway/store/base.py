"""The one interface every storage backend implements."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol, Self

from gateway.domain.dead_letters import DeadLetter
from gateway.domain.groups import GroupLimits, SessionGroup
from gateway.domain.imports import BulkEvent, Checkpoint, CheckpointAfter, TeamList
from gateway.domain.keys import SessionKey
from gateway.domain.membership import TeamChange
from gateway.domain.pages import Filters, Page, PageQuery, Position, TimeWindow
from gateway.domain.sessions import Delivery, Message, RevokeNotification, Session
from gateway.domain.sync import Change, ChangeSet, SyncPosition


class ChangeListener(Protocol):
    """Told after each commit whose owners' lists changed (here or, with a shared database, on
    another replica)."""

    def notify(
        self, owners: frozenset[str], changes: Mapping[str, list[Change]] | None = None
    ) -> None:
        """``owners`` are all whose lists the commit changed (a fan-out to many names every
        owner it reached, though a late message may have left some lists as they were).
        ``changes``, when given (a commit
        here), holds every change it made to the list of each owner a listener watched as it
        wrote, in feed order; an owner without an entry, and every owner when it is not given (a
        commit elsewhere), is known only to have changed: read the feed."""

    def watched(self) -> Collection[str]:
        """The owners it wants to hear about: all are woken when a commit elsewhere cannot
        say whose lists it changed."""
        ...


class SessionStore(Protocol):
    """Per-owner session lists. Every read and write is scoped to one owner, except the
    ingestion writes, which name each owner they touch."""

    async def __aenter__(self) -> Self:
        """Connect and apply pending migrations (``async with store``)."""

    async def __aexit__(self, *exc_info: object) -> None:
        """Close, as ``close``."""

    async def close(self) -> None:
        """Close the connections; closing again does nothing."""

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener`` after every commit that changes someone's list."""

    async def is_empty(self) -> bool:
        """Whether no session of anyone has been stored yet."""

    # Reads ---------------------------------------------------------------------------------

    async def list_sessions(
        self,
        owner: str,
        query: PageQuery,
        *,
        with_sync_position: bool = False,
        with_last_messages: bool = False,
    ) -> Page:
        """A page of live sessions, newest first, strictly after ``query.after``; with
        ``with_sync_position``, also the change feed's position as of the same snapshot; with
        ``with_last_messages``, the last messages of its sessions, read with the page."""

    async def has_sessions_before(self, owner: str, query: PageQuery, position: Position) -> bool:
        """Whether a session that ``query`` lists stands at or before ``position``."""

    async def count_sessions(
        self, owner: str, window: TimeWindow, filters: Filters | None = None
    ) -> int: ...

    async def total_unread(self, owner: str, *, include_muted: bool = False) -> int:
        """The sum of the unread counts; muted sessions' count only with ``include_muted``."""

    async def unread_count(self, owner: str, filters: Filters) -> int:
        """The sum of the unread counts of the sessions ``filters`` lists (types, a group,
        ``muted``)."""

    async def get_sessions(self, owner: str, keys: Sequence[SessionKey]) -> list[Session]:
        """The live sessions among ``keys``; missing and deleted ones are left out."""

    async def get_messages(self, refs: Sequence[str]) -> Mapping[str, Message]:
        """The messages ``refs`` name (``Session.last_message_ref``, ``Message.ref``: a server id
        within its conversation), by ref; unknown ones are left out."""

    # The change feed -----------------------------------------------------------------------

    async def sync_position(self, owner: str) -> SyncPosition:
        """The owner's feed position now: the owner's changes committed later come after it."""

    async def changes_since(self, owner: str, since: SyncPosition, limit: int) -> ChangeSet:
        """Sessions changed or deleted after ``since``, oldest change first; raises
        SyncTokenExpired when tombstones after ``since`` were purged."""

    async def purge_tombstones(self, deleted_before: int) -> None:
        """Take sessions deleted before this time out of the change feed (each keeps its
        deletion's horizon for good); older sync tokens expire."""

    # Owner's writes ------------------------------------------------------------------------

    async def update_ext(self, owner: str, key: SessionKey, ext: str, now: int) -> Session:
        """Set the server ext; creates the session (no last message, ``update_time`` now) when
        it does not exist. An existing session keeps its ``update_time``."""

    async def delete_sessions(
        self, owner: str, keys: Sequence[SessionKey], now: int
    ) -> list[SessionKey]:
        """Delete live sessions and return the keys that were deleted."""

    async def mark_read(self, owner: str, keys: Sequence[SessionKey], now: int) -> list[Session]:
        """Clear the unread count of live sessions and stamp their read time."""

    async def mark_all_read(self, owner: str, now: int) -> None:
        """Mark read every session that has unread messages."""

    async def set_pinned(
        self, owner: str, key: SessionKey, pinned: bool, now: int
    ) -> Session | None:
        """Pin (again: refreshing the pin time) or unpin; None when there is no such session."""

    # NIM V2's conversation features (store/_conversations.py) -------------------------------

    async def list_groups(self, owner: str) -> list[SessionGroup]:
        """The owner's conversation groups, oldest first."""

    async def get_groups(self, owner: str, group_ids: Sequence[str]) -> list[SessionGroup]:
        """The owner's live groups among ``group_ids``, in the order asked."""

    async def groups_of(
        self, owner: str, keys: Sequence[SessionKey]
    ) -> Mapping[SessionKey, list[SessionGroup]]: ...

    async def create_group(
        self,
        owner: str,
        group_id: str | None,
        name: str,
        server_ext: str,
        keys: Sequence[SessionKey],
        now: int,
        limits: GroupLimits,
    ) -> SessionGroup:
        """A new group holding the owner's sessions among ``keys`` (its id made by the store
        when None); LimitExceeded past ``limits``, BadUserInput when a live group has that id."""

    async def update_group(
        self, owner: str, group_id: str, name: str | None, server_ext: str | None, now: int
    ) -> SessionGroup:
        """Rename a group or change its server ext (None: unchanged); NotFound without it."""

    async def delete_group(self, owner: str, group_id: str, now: int) -> None:
        """Delete a group; its sessions stay in the list. NotFound without it."""

    async def add_to_group(
        self,
        owner: str,
        group_id: str,
        keys: Sequence[SessionKey],
        now: int,
        limits: GroupLimits,
    ) -> list[Session]:
        """Add the owner's sessions among ``keys``; returns those added (not there before)."""

    async def remove_from_group(
        self, owner: str, group_id: str, keys: Sequence[SessionKey], now: int
    ) -> list[SessionKey]:
        """Take sessions out of a group; returns the keys that were in it."""

    async def set_muted(self, owner: str, keys: Sequence[SessionKey], muted: bool) -> None:
        """Mute or unmute the owner's live sessions among ``keys``."""

    async def mark_read_where(self, owner: str, filters: Filters, now: int) -> list[Session]:
        """Mark read the sessions with unread messages that ``filters`` (types, a group) lists."""

    async def open_session(self, owner: str, key: SessionKey, now: int) -> Session:
        """The session, created without a last message (``update_time`` now) when missing."""

    # Ingestion writes ----------------------------------------------------------------------

    async def record_message(self, message: Message, deliveries: Sequence[Delivery]) -> bool:
        """Make ``message`` the last message of each delivery's session where it is newer than
        the current one. One transaction; returns False, changing nothing, when the message was
        seen before."""

    async def record_team_message(
        self, team: SessionKey, message: Message, change: TeamChange, now: int
    ) -> bool:
        """Record a team's message and what it says about the members, and deliver it to the
        accounts that receive it (domain/membership.py), recomputing the sessions an older event
        arriving late changes. Returns False, changing nothing, when it was seen before."""

    async def revoke_message(
        self,
        revoke: RevokeNotification,
        deliveries: Sequence[Delivery] = (),
        *,
        team: SessionKey | None = None,
        sent: int | None = None,
    ) -> bool | None:
        """Turn the sessions whose last message is the revoked one into revoke notifications,
        take back its unread mark, and remember the recall for a message that has not arrived
        yet. In a ``team``, it reaches the accounts that received the message (sent at ``sent``).
        Returns False when the recall was seen before, None (changing nothing) when the message
        it names is known to be another conversation's or another sender's."""

    # Bulk import (gateway/importer.py) ------------------------------------------------------

    async def import_events(
        self, events: Sequence[BulkEvent], checkpoint: CheckpointAfter | None = None
    ) -> list[bool | None]:
        """Apply a batch of CC events in one transaction by the webhook's rules, reduced per
        (owner, session) before writing: for each event True when applied, False when seen
        before, None when left to the caller to apply one at a time afterwards (a team's events
        when it has one older than something the store knows of it; a recall of a message that
        is not a new one of the batch). When nothing is left to the caller, ``checkpoint`` of
        the outcomes is saved in the same transaction (it may be called more than once: a
        transaction may be tried again)."""

    async def import_team_list(
        self, team_list: TeamList, checkpoint: Checkpoint | None = None
    ) -> int:
        """``set_team_members`` at the list's time, and ``checkpoint`` saved with it; returns
        the member count."""

    async def import_checkpoint(self, source: str) -> Checkpoint | None:
        """Where an unfinished import of ``source`` stands."""

    async def save_import_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    async def forget_import_checkpoint(self, source: str) -> None:
        """The import of ``source`` finished: a rerun starts from its beginning."""

    # Dead letters: signed CC bodies that could not be applied (domain/dead_letters.py) --------

    async def keep_dead_letter(
        self,
        received_at: int,
        reason: str,
        detail: str,
        headers: Mapping[str, str],
        body: bytes,
        limit: int,
    ) -> int:
        """Keep a body and say why; past ``limit`` letters, the oldest go. Returns its id."""

    async def dead_letters(
        self, *, after: int = 0, limit: int = 100, reason: str | None = None, body_bytes: int = 0
    ) -> list[DeadLetter]:
        """The letters after id ``after``, oldest first, with the first ``body_bytes`` of each
        body (``size`` is the whole body's)."""

    async def dead_letter(self, letter_id: int) -> DeadLetter | None:
        """One letter with its whole body."""

    async def forget_dead_letters(
        self, ids: Sequence[int] | None = None, *, received_before: int | None = None
    ) -> int:
        """Delete the letters ``ids``, or those received before a time, or (neither) all; returns
        how many went."""

    # Team registry: the same membership state as the stream's, stamped with ``now`` ---------

    async def set_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        """Replace the member list; returns the member count."""

    async def add_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int: ...

    async def remove_team_members(
        self, team: SessionKey, members: Sequence[str], now: int
    ) -> int: ...

    async def team_members(self, team: SessionKey) -> list[str]: ...

    async def claim_signature(self, signature: str, expires_at: int, now: int) -> bool:
        """Remember a signed request's ``signature`` until ``expires_at`` (ms), for every process
        on this database; False when it is remembered already (a replay). Signatures whose time
        ran out before ``now`` are forgotten."""
