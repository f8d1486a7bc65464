"""The store: every rule of the session lists in SQL, once, over a driver (sqlite.py, postgres.py).

Writes go through ``Write`` (store/_write.py): each locks the owners it may change, in order, and
stamps their rows with each owner's next version; the listeners hear of the changes after COMMIT.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Self, TypeVar

import orjson

from gateway.domain.dead_letters import DeadLetter
from gateway.domain.keys import SessionKey, conversation_of
from gateway.domain.membership import TeamChange, registry_change
from gateway.domain.order import event_key
from gateway.domain.pages import Filters, Page, PageQuery, Position, TimeWindow
from gateway.domain.receiving import counts_unread
from gateway.domain.sessions import Delivery, Message, MessageType, RevokeNotification, Session
from gateway.domain.sync import GROUP_PREFIX, Change, ChangeSet, SyncPosition
from gateway.store import _lists as lists
from gateway.store import _teams as teams
from gateway.store import _upgrades as upgrades
from gateway.store._bulk import BulkStatements
from gateway.store._changes import ChangeLog, change_set
from gateway.store._conversations import ConversationFeatures, GroupStatements
from gateway.store._driver import Connection, Driver
from gateway.store._imports import ImportFeatures
from gateway.store._lists import KINDS
from gateway.store._messages import DEFAULT_BYTES, KeptMessages
from gateway.store._rows import (
    Row,
    last_message_values,
    message_from_row,
    message_values,
    opt_str,
    session_from_row,
)
from gateway.store._statements import Statements
from gateway.store._write import Write
from gateway.store.base import ChangeListener

T = TypeVar("T")


class SqlStore(ConversationFeatures, ImportFeatures):
    def __init__(self, driver: Driver, *, message_cache_bytes: int = DEFAULT_BYTES) -> None:
        self._driver = driver
        self._messages = KeptMessages(message_cache_bytes)
        self._sql = Statements(driver.dialect)
        self._groups = GroupStatements(driver.dialect)
        self._bulk = BulkStatements(driver.dialect)
        self._listeners: list[ChangeListener] = []
        driver.on_remote_change(self._changed_elsewhere)

    async def __aenter__(self) -> Self:
        try:
            await self._driver.open()
            await upgrades.run_pending(self._write, _wall_clock_ms())
        except BaseException:
            await self._driver.close()  # a half-open store's threads would keep a process alive
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._driver.close()

    async def close(self) -> None:
        await self._driver.close()

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def _write(self, work: Callable[[Write], Awaitable[T]]) -> T:
        async def attempt(db: Connection) -> tuple[T, ChangeLog]:
            tx = Write(db, self._sql, self._watched)
            result = await work(tx)
            if tx.changes:
                await self._driver.notify(db, tx.changes.owners())
            return result, tx.changes

        result, changes = await self._driver.transaction(attempt)
        if changes:
            owners, by_owner = changes.owners(), changes.by_owner()
            for listener in self._listeners:
                listener.notify(owners, by_owner)
        return result

    def _watched(self, owners: Collection[str]) -> set[str]:
        """The owners among ``owners`` that a listener watches."""
        found: set[str] = set()
        for listener in self._listeners:
            watched = listener.watched()
            if len(watched) < len(owners):
                found.update(owner for owner in watched if owner in owners)
            else:
                found.update(owner for owner in owners if owner in watched)
        return found

    def _changed_elsewhere(self, owners: frozenset[str] | None) -> None:
        for listener in self._listeners:
            listener.notify(frozenset(listener.watched()) if owners is None else owners)

    # Reads ---------------------------------------------------------------------------------

    async def is_empty(self) -> bool:
        async with self._driver.read() as db:
            return await db.fetch_one(self._sql.any_session) is None

    async def list_sessions(
        self,
        owner: str,
        query: PageQuery,
        *,
        with_sync_position: bool = False,
        with_last_messages: bool = False,
    ) -> Page:
        rows: list[Row] = []
        position = None
        sections = lists.sections(query)
        # One snapshot when the page reads more than once (the token, or two parts).
        snapshot = with_sync_position or len(sections) > 1
        async with self._driver.read(snapshot=snapshot, bounded=lists.by_index(query)) as db:
            if with_sync_position:
                position = SyncPosition(await _clock(db, self._sql, owner))
            for n, section in enumerate(sections):
                wanted = query.limit + 1 - len(rows)
                text, params = lists.page_statement(owner, query, section, wanted, continued=n > 0)
                rows += await db.fetch(text, *params)
                if len(rows) > query.limit:
                    break
            has_more = len(rows) > query.limit
            sessions = [session_from_row(owner, row) for row in rows[: query.limit]]
            last_messages: list[Message | None] = []
            if with_last_messages:
                refs = [s.shown_message_ref for s in sessions]
                found = await self._find_messages(db, [ref for ref in refs if ref is not None])
                last_messages = [None if ref is None else found.get(ref) for ref in refs]
        return Page(sessions, has_more, position, last_messages)

    async def has_sessions_before(self, owner: str, query: PageQuery, position: Position) -> bool:
        async with self._driver.read(bounded=lists.by_index(query)) as db:
            for text, params in lists.before_statements(owner, query, position):
                if await db.fetch_one(text, *params) is not None:
                    return True
        return False

    async def count_sessions(
        self, owner: str, window: TimeWindow, filters: Filters | None = None
    ) -> int:
        text, params = lists.count_statement(owner, window, filters or Filters())
        async with self._driver.read() as db:
            return await _number(db, text, *params)

    async def total_unread(self, owner: str, *, include_muted: bool = False) -> int:
        if not include_muted:
            return await self.unread_count(owner, Filters(muted=False))
        async with self._driver.read() as db:
            return await _number(db, self._sql.total_unread, owner)

    async def get_sessions(self, owner: str, keys: Sequence[SessionKey]) -> list[Session]:
        async with self._driver.read(bounded=True) as db:
            rows = await db.fetch(self._sql.sessions_by_key, owner, [str(k) for k in keys])
        return [session_from_row(owner, row) for row in rows]

    async def get_messages(self, refs: Sequence[str]) -> Mapping[str, Message]:
        found, missing = self._messages.find(refs)
        if missing:
            async with self._driver.read(bounded=True) as db:
                found.update(await self._read_messages(db, missing))
        return found

    async def _find_messages(self, db: Connection, refs: Sequence[str]) -> dict[str, Message]:
        found, missing = self._messages.find(refs)
        if missing:
            found.update(await self._read_messages(db, missing))
        return found

    async def _read_messages(self, db: Connection, refs: Sequence[str]) -> dict[str, Message]:
        """The messages of ``refs`` (those that exist), read by their ids, and kept."""
        wanted = set(refs)
        ids = sorted({ref.partition("\n")[2] for ref in wanted})
        messages = [message_from_row(row) for row in await db.fetch(self._sql.messages_by_id, ids)]
        self._messages.add(messages)
        return {message.ref: message for message in messages if message.ref in wanted}

    # The change feed -----------------------------------------------------------------------

    async def sync_position(self, owner: str) -> SyncPosition:
        async with self._driver.read(bounded=True) as db:
            return SyncPosition(await _clock(db, self._sql, owner))

    async def changes_since(self, owner: str, since: SyncPosition, limit: int) -> ChangeSet:
        sql = self._sql
        # A position at a group has seen none of its version's sessions (group keys sort first).
        key = "" if since.key is not None and since.key.startswith(GROUP_PREFIX) else since.key
        async with self._driver.read(snapshot=True, bounded=True) as db:
            purged = await db.fetch_one(sql.purged_through, owner)
            if key is None:
                rows = await db.fetch(sql.changes_after_version, owner, since.version, limit + 1)
            else:
                rows = await db.fetch(sql.changes_after_key, owner, since.version, key,
                                      limit + 1)  # fmt: skip
            groups = await self._group_changes(db, owner, since, limit + 1)
        purged_through = None if purged is None else int(purged[0])
        return change_set(owner, since, limit, rows, purged_through, groups)

    async def purge_tombstones(self, deleted_before: int) -> None:
        async def work(tx: Write) -> None:
            await tx.db.execute(self._sql.record_purges, deleted_before)
            await tx.db.execute(self._sql.purge_tombstones, deleted_before)
            await tx.db.execute(self._groups.record_group_purges, deleted_before)
            await tx.db.execute(self._groups.purge_group_tombstones, deleted_before)

        await self._write(work)

    # Owner's writes ------------------------------------------------------------------------

    async def update_ext(self, owner: str, key: SessionKey, ext: str, now: int) -> Session:
        async def work(tx: Write) -> Session:
            await tx.lock([owner])
            [change] = await tx.changing(self._sql.upsert_ext, owner, str(key), KINDS[key.type],
                                         now, ext, tx.version(owner))  # fmt: skip
            assert change.session is not None  # the upsert leaves a live session
            return change.session

        return await self._write(work)

    async def delete_sessions(
        self, owner: str, keys: Sequence[SessionKey], now: int
    ) -> list[SessionKey]:
        async def work(tx: Write) -> list[SessionKey]:
            await tx.lock([owner])
            deleted: list[SessionKey] = []
            for key in dict.fromkeys(keys):
                if await tx.changing(self._sql.delete_key, now, tx.version(owner), owner,
                                     str(key)):  # fmt: skip
                    await self._ungroup(tx, owner, key)
                    deleted.append(key)
            return deleted

        return await self._write(work)

    async def mark_read(self, owner: str, keys: Sequence[SessionKey], now: int) -> list[Session]:
        changes = await self._each_key(self._sql.mark_read, owner, keys, now)
        return [change.session for change in changes if change.session is not None]

    async def _each_key(
        self, statement: str, owner: str, keys: Sequence[SessionKey], now: int
    ) -> list[Change]:
        """The changes ``statement`` (now, version, owner, key) makes to each of ``keys``."""

        async def work(tx: Write) -> list[Change]:
            await tx.lock([owner])
            changes: list[Change] = []
            for key in dict.fromkeys(keys):
                changes += await tx.changing(statement, now, tx.version(owner), owner, str(key))
            return changes

        return await self._write(work)

    async def mark_all_read(self, owner: str, now: int) -> None:
        async def work(tx: Write) -> None:
            await tx.lock([owner])
            await tx.changing(self._sql.mark_all_read, now, tx.version(owner), owner)

        await self._write(work)

    async def set_pinned(
        self, owner: str, key: SessionKey, pinned: bool, now: int
    ) -> Session | None:
        async def work(tx: Write) -> Session | None:
            await tx.lock([owner])
            changes = await tx.changing(self._sql.pin, now if pinned else None,
                                        tx.version(owner), owner, str(key))  # fmt: skip
            return changes[0].session if changes else None

        return await self._write(work)

    # Ingestion writes ----------------------------------------------------------------------

    async def record_message(self, message: Message, deliveries: Sequence[Delivery]) -> bool:
        unique = list(dict.fromkeys(deliveries))
        conversation = conversation_of(unique[0].owner, unique[0].key)

        async def work(tx: Write) -> bool:
            if not await _insert_message(tx, message, conversation, None):
                return False
            # Locked before the recall is looked for: a recall of this message, which locks
            # the same owners first, has either committed by now or waits for this one.
            await tx.lock(d.owner for d in unique)
            revoke = await _recall_of(tx, conversation, message)
            values = last_message_values(message, revoke)
            for d in unique:
                unread = int(revoke is None and d.owner != message.from_account)
                await tx.deliver(d.owner, d.key, values, unread)
            return True

        return await self._write(work)

    async def record_team_message(
        self, team: SessionKey, message: Message, change: TeamChange, now: int
    ) -> bool:
        async def work(tx: Write) -> bool:
            await tx.lock_team(team)
            if not await _insert_message(tx, message, str(team), team):
                return False
            revoke = await _recall_of(tx, str(team), message)
            await teams.apply_message(tx, team, message, change, revoke, now)
            return True

        return await self._write(work)

    async def revoke_message(
        self,
        revoke: RevokeNotification,
        deliveries: Sequence[Delivery] = (),
        *,
        team: SessionKey | None = None,
        sent: int | None = None,
    ) -> bool | None:
        owners = {d.owner for d in deliveries}
        if team is not None:
            conversation, legacy_message = str(team), None
        else:
            first = deliveries[0]
            conversation = conversation_of(first.owner, first.key)
            legacy_message = _legacy(revoke.operator)
        message_id = revoke.message_server_id

        async def work(tx: Write) -> bool | None:
            if team is not None:
                await tx.lock_team(team)  # the team's messages are recorded under it
            else:
                await tx.lock(owners)  # as the message locks them: one waits for the other
            found = await tx.db.fetch_one(self._sql.find_message, message_id, conversation,
                                          legacy_message)  # fmt: skip
            sender, sent_at, counted = None, sent, False
            if found is not None:
                sender, sent_at = str(found[0]), int(found[1])
                counted = counts_unread(MessageType.from_nim(str(found[2])))
                if sender != revoke.operator:
                    return None  # NIM's recall names the message's own sender
            sessions = [(d.owner, d.key) for d in deliveries]
            if team is not None:
                if sent_at is not None:
                    receivers = await teams.recall_receivers(tx, team, message_id, sent_at)
                    sessions += [(owner, team) for owner in sorted(receivers)]
                await tx.lock(owner for owner, _ in sessions)
            recall = (message_id, conversation, revoke.operator, revoke.time, revoke.postscript)
            inserted = await tx.db.fetch_one(self._sql.insert_revocation, *recall, message_id,
                                             _legacy(revoke.operator))  # fmt: skip
            if inserted is None:
                return False
            for owner, key in sessions:
                await tx.revoke(owner, key, revoke, sender if counted else None, sent_at)
            return True

        return await self._write(work)

    # Dead letters --------------------------------------------------------------------------

    async def keep_dead_letter(
        self,
        received_at: int,
        reason: str,
        detail: str,
        headers: Mapping[str, str],
        body: bytes,
        limit: int,
    ) -> int:
        async def work(tx: Write) -> int:
            row = await tx.db.fetch_one(self._sql.keep_dead_letter, received_at, reason, detail,
                                        orjson.dumps(dict(headers)).decode(), body)  # fmt: skip
            assert row is not None  # RETURNING of an INSERT
            await tx.db.execute(self._sql.bound_dead_letters, limit)
            return int(row[0])

        return await self._write(work)

    async def dead_letters(
        self, *, after: int = 0, limit: int = 100, reason: str | None = None, body_bytes: int = 0
    ) -> list[DeadLetter]:
        async with self._driver.read() as db:
            rows = await db.fetch(self._sql.dead_letters, max(body_bytes, 0), after, reason,
                                  reason, limit)  # fmt: skip
        return [_dead_letter(row) for row in rows]

    async def dead_letter(self, letter_id: int) -> DeadLetter | None:
        async with self._driver.read() as db:
            row = await db.fetch_one(self._sql.dead_letter, letter_id)
        return None if row is None else _dead_letter(row)

    async def forget_dead_letters(
        self, ids: Sequence[int] | None = None, *, received_before: int | None = None
    ) -> int:
        async def work(tx: Write) -> int:
            if ids is not None:
                rows = await tx.rows(self._sql.forget_dead_letters, [str(i) for i in ids])
            else:
                before = 2**63 - 1 if received_before is None else received_before
                rows = await tx.rows(self._sql.forget_dead_letters_before, before)
            return len(rows)

        return await self._write(work)

    # Team registry -------------------------------------------------------------------------

    async def set_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change(event_key(now, ""), replace=members), now)

    async def add_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change(event_key(now, ""), add=members), now)

    async def remove_team_members(self, team: SessionKey, members: Sequence[str], now: int) -> int:
        return await self._registry(team, registry_change(event_key(now, ""), remove=members), now)

    async def _registry(self, team: SessionKey, change: TeamChange, now: int) -> int:
        async def work(tx: Write) -> int:
            await tx.lock_team(team)
            return await teams.apply_registry(tx, team, change, now)

        return await self._write(work)

    async def team_members(self, team: SessionKey) -> list[str]:
        async with self._driver.read() as db:
            rows = await db.fetch(self._sql.team_members, str(team))
        return [str(row[0]) for row in rows]

    async def claim_signature(self, signature: str, expires_at: int, now: int) -> bool:
        async def work(tx: Write) -> bool:
            await tx.db.execute(self._sql.forget_signatures, now)
            claimed = await tx.db.fetch_one(self._sql.claim_signature, signature, expires_at)
            return claimed is not None

        return await self._write(work)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


async def _clock(db: Connection, sql: Statements, owner: str) -> int:
    row = await db.fetch_one(sql.clock, owner)
    return 0 if row is None else int(row[0])


async def _number(db: Connection, statement: str, *params: object) -> int:
    row = await db.fetch_one(statement, *params)
    assert row is not None  # an aggregate always returns its row
    return int(row[0])


def _dead_letter(row: Row) -> DeadLetter:
    letter_id, received_at, reason, detail, headers, size, body = row
    return DeadLetter(int(letter_id), int(received_at), str(reason), str(detail),
                      orjson.loads(headers), bytes(body), int(size))  # fmt: skip


def _legacy(sender: str) -> str:
    """Where an earlier release kept a P2P message or a recall of ``sender``'s whose conversation
    it did not know (migration 0009)."""
    return "?" + sender


async def _insert_message(
    tx: Write, message: Message, conversation: str, team: SessionKey | None
) -> bool:
    """Insert a message once in its conversation: False when it was seen before."""
    legacy = None if team is not None else _legacy(message.from_account)
    params = (*message_values(message, conversation), None if team is None else str(team),
              message.server_id, legacy)  # fmt: skip
    return await tx.db.fetch_one(tx.sql.insert_message, *params) is not None


async def _recall_of(tx: Write, conversation: str, message: Message) -> RevokeNotification | None:
    """The recall of a message that came before the message."""
    legacy = _legacy(message.from_account)
    found = await tx.db.fetch_one(tx.sql.find_revocation, message.server_id, conversation, legacy)
    if found is None:
        return None
    operator, time, postscript, kept_in = found
    if kept_in != conversation:
        await tx.db.execute(tx.sql.adopt_revocation, conversation, message.server_id, kept_in)
    return RevokeNotification(message.server_id, str(operator), int(time), opt_str(postscript))
