"""One write transaction of the SQL store.

It locks what it will change before it changes anything, always in one order: the team (when a
team's members are read or written), then the clocks of the owners whose lists it may change, in
sorted order, all at once. Writes that share no owner therefore never wait on one another, and
writes that do cannot deadlock. Each owner's rows are stamped with that owner's next version, and
every change is logged for the listeners told after COMMIT.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

from gateway.domain.keys import SessionKey
from gateway.domain.sessions import RevokeNotification
from gateway.domain.sync import Change
from gateway.store._changes import ChangeLog
from gateway.store._driver import Connection
from gateway.store._lists import KINDS
from gateway.store._rows import Row
from gateway.store._statements import Statements

# The owners among these that someone watches (listeners' ``watched``).
Watched = Callable[[Collection[str]], Collection[str]]


class Write:
    def __init__(self, db: Connection, sql: Statements, watched: Watched) -> None:
        self.db = db
        self.sql = sql
        self.changes = ChangeLog()
        self._watched = watched
        self._versions: dict[str, int | None] = {}  # None: locked without reading it
        self.team_writes = 0  # the locked team's writes since its last membership checkpoint

    async def lock_team(self, team: SessionKey) -> None:
        if self._versions:
            raise RuntimeError("a team is locked before any owner")
        [(writes,)] = await self.db.fetch(self.sql.lock_team, str(team))
        self.team_writes = int(writes)

    async def lock_teams(self, teams: Iterable[SessionKey]) -> dict[str, int]:
        """Several teams at once (a bulk import's batch), in sorted order; returns each one's
        writes since its last membership checkpoint (by its key as text)."""
        if self._versions:
            raise RuntimeError("teams are locked before any owner")
        rows = await self.db.fetch(self.sql.lock_teams, sorted({str(team) for team in teams}))
        return {str(team): int(writes) for team, writes in rows}

    async def lock(self, owners: Iterable[str], *, versions: bool = True) -> None:
        """Take each owner's next version, holding their clocks to COMMIT; without
        ``versions``, they are not read back (a fan-out reads them from the clocks)."""
        new = sorted(set(owners) - self._versions.keys())
        if not new:
            return
        if self._versions and new[0] < max(self._versions):
            raise RuntimeError("owners are locked in one sorted order: lock them all at once")
        if not versions:
            await self.db.execute(self.sql.tick_quietly, new)
            self._versions.update(dict.fromkeys(new))
            return
        for owner, version in await self.db.fetch(self.sql.tick, new):
            self._versions[str(owner)] = int(version)

    def version(self, owner: str) -> int:
        if owner not in self._versions:
            raise RuntimeError(f"{owner!r} is changed without being locked first")
        version = self._versions[owner]
        if version is None:
            raise RuntimeError(f"{owner!r} was locked without reading its version")
        return version

    async def rows(self, statement: str, *params: object) -> Sequence[Row]:
        return await self.db.fetch(statement, *params)

    async def changing(self, statement: str, *params: object) -> list[Change]:
        """Run a statement that returns each session row it changes (RETURNING_CHANGE)."""
        return self.changes.record_rows(await self.db.fetch(statement, *params))

    async def deliver(
        self, owner: str, key: SessionKey, values: tuple[object, ...], unread: int
    ) -> None:
        """Make a message (``last_message_values``) the last one of a session where it is newer."""
        await self.changing(self.sql.deliver_message, owner, str(key), KINDS[key.type], *values,
                            unread, self.version(owner))  # fmt: skip

    async def deliver_to_members(
        self,
        team: SessionKey,
        members: Collection[str],
        values: tuple[object, ...],
        sender: str,
        unread: int,
    ) -> None:
        """The same, to every cached member of ``team`` (``members``, locked) in one statement
        (``unread`` for all but the sender)."""
        await self._fan_out(self.sql.deliver_to_team, self.sql.deliver_to_team_returning,
                            team, members, str(team), KINDS[team.type], *values, sender, unread,
                            str(team))  # fmt: skip

    async def deliver_to_owners(
        self,
        owners: Iterable[str],
        key: SessionKey,
        values: tuple[object, ...],
        sender: str,
        unread: int,
    ) -> None:
        """The same, to each of ``owners`` (locked) in one statement."""
        listed = sorted(owners)
        await self._fan_out(self.sql.deliver_to_owners, self.sql.deliver_to_owners_returning,
                            key, listed, str(key), KINDS[key.type], *values, sender, unread,
                            listed)  # fmt: skip

    async def _fan_out(
        self,
        statement: str,
        returning: str,
        key: SessionKey,
        owners: Collection[str],
        *params: object,
    ) -> None:
        """Run ``statement``, which may change the session ``key`` of each of ``owners``: every
        one of them counts as changed, and only the changed rows of the owners someone watches
        are recorded: ``returning`` (the same statement with RETURNING_CHANGE) brings back every
        owner's row, or the watched owners' rows are read back (Dialect.returning_from)."""
        self.changes.record_owners(owners)
        watched = self._watched(owners)
        if watched and len(watched) >= self.sql.returning_from * len(owners):
            rows = await self.db.fetch(returning, *params)
            self.changes.record_fan_out([row for row in rows if row[0] in watched], key)
            return
        await self.db.execute(statement, *params)
        if watched:
            rows = await self.db.fetch(self.sql.changed_sessions, sorted(watched), str(key))
            self.changes.record_fan_out(rows, key)

    async def revoke(
        self,
        owner: str,
        key: SessionKey,
        revoke: RevokeNotification,
        sender: str | None,
        sent: int | None,
    ) -> None:
        """Apply a recall to one session: ``sender`` (when the message counted as unread) and
        ``sent`` say whether it took an unread mark there."""
        await self.changing(self.sql.apply_revocation, revoke.message_server_id, revoke.operator,
                            revoke.time, revoke.postscript, sender, sent, self.version(owner),
                            owner, str(key))  # fmt: skip
