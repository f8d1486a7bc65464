"""Team sessions from the membership NIM's stream reports: the SQL store applies the team rules
(domain/membership.py: who is a member, who receives; domain/receiving.py: what that makes of a
session) with the statements of store/_team_statements.py.

Every membership change is kept (``team_facts``, ``team_snapshots``) and every team message
remembers its team, so a team session is a function of the events, whatever order they arrived
in. ``team_members`` caches the members after the newest change.

An event newer than everything known of its team (the usual case) is applied incrementally: its
message goes to the members before it as the cache has them (or exactly to its tMembers), adjusted
by what the event itself says. Every ``CHECKPOINT_EVERY`` writes of a team, such an event also
keeps the members after it as a checkpoint (``team_checkpoints``).

A late event finds the members before it from the nearest snapshot or checkpoint before it and
the facts in between. If it changes no one's membership it is delivered like an on-time one,
which is order-independent. A late change of membership rebuilds only the accounts it flips, from
its own key on: what they received from there without and with it, and the difference applied;
an account left with nothing from there on walks back from the change to the last message it
received before it; the checkpoints after the change are corrected for those accounts. What
this reads grows with how late the event is, never with the team's history, and the result is
exactly the one the events in time order give.
"""

from __future__ import annotations

from gateway.domain.keys import SessionKey
from gateway.domain.membership import Fact, Roster, Snapshot, TeamChange, newest_list, with_changes
from gateway.domain.order import EventKey, event_key
from gateway.domain.receiving import LateRebuild, TeamMessage, counts_unread, received_state
from gateway.domain.sessions import LastMessageKind, Message, MessageType, RevokeNotification
from gateway.store import _team_statements as team_sql
from gateway.store._lists import KINDS
from gateway.store._rows import (
    fact_from_row,
    last_message_values,
    member_list_from_row,
    names_value,
    snapshot_from_row,
    team_message_from_row,
)
from gateway.store._write import Write

CHECKPOINT_EVERY = 64  # a team's writes between two checkpoints of its members
_PAGE = 64  # messages read at a time walking back to an account's last one
_NEVER = -(2**63)  # a horizon before every message


async def apply_message(
    tx: Write,
    team: SessionKey,
    message: Message,
    change: TeamChange,
    revoke: RevokeNotification | None,
    now: int,
) -> None:
    """Deliver a newly recorded team message and apply what it says about the members. The team
    is locked; the accounts it reaches are locked here, before anything is written."""
    key = event_key(message.time, message.server_id)
    values = last_message_values(message, revoke)
    counted = revoke is None and counts_unread(message.type)

    async def deliver(owners: set[str]) -> None:
        if owners:
            await tx.deliver_to_owners(owners, team, values, message.from_account, int(counted))

    if await _has_later(tx, team, key):
        # Late: only the accounts whose membership it changes need their sessions rebuilt (the
        # rare case: a join or leave arriving after newer messages).
        before = await _members_before(tx, team, key)
        changed = change.flipped(before)
        receivers = change.late_receivers(before)
        await tx.lock(changed | receivers)
        saved = await _save(tx, team, change)
        if changed:
            await _rebuild_from(tx, team, key, before, changed, now, saved)
        await deliver(receivers)
        return
    members = await _cached_members(tx, team)
    snapshot = change.snapshot
    if snapshot is not None and snapshot.receivers is not None:
        # NIM listed who is in the team (tMembers): exactly they receive it.
        receivers = change.receivers(snapshot.receivers)
        await tx.lock(receivers, versions=False)
        await _save(tx, team, change)
        await deliver(receivers)
        after = change.members_after(members)
        await _cache(tx, team, members, after)
        await _checkpoint(tx, team, key, after)
        return
    # The members before it, as cached, in one statement however many they are; then the
    # accounts the event itself names that are not among them.
    named = change.named_receivers(members)
    await tx.lock(members | named, versions=False)
    await _save(tx, team, change)
    await tx.deliver_to_members(team, members, values, message.from_account, int(counted))
    await deliver(named)
    # The cache takes the change as it says it: a dismiss clears the team in one statement.
    if snapshot is not None:  # a dismiss: nobody is left
        await tx.rows(team_sql.CLEAR_MEMBERS, str(team))
    for fact in change.facts:
        statement = team_sql.ADD_MEMBER if fact.member else team_sql.REMOVE_MEMBER
        await tx.rows(statement, str(team), fact.account)
    await _checkpoint(tx, team, key, change.members_after(members))


async def apply_registry(tx: Write, team: SessionKey, change: TeamChange, now: int) -> int:
    """A registry write: the same state as the stream's changes, with no message."""
    key = change.key
    if key is not None and await _has_later(tx, team, key):
        before = await _members_before(tx, team, key)
        changed = change.flipped(before)
        await tx.lock(changed)
        saved = await _save(tx, team, change)
        # A registry request sent again (a retry) finds its change kept already: nothing new.
        if saved.facts or saved.snapshot is not None:
            await _rebuild_from(tx, team, key, before, changed, now, saved)
    else:
        await _save(tx, team, change)
        members = await _cached_members(tx, team)
        after = change.members_after(members)
        await _cache(tx, team, members, after)
        if key is not None:
            await _checkpoint(tx, team, key, after)
    return len(await _cached_members(tx, team))


async def recall_receivers(tx: Write, team: SessionKey, message_id: str, sent: int) -> set[str]:
    """The accounts that received the team's message ``message_id``, sent at ``sent``: the
    members just before it, adjusted by what the message itself said of the members."""
    key = event_key(sent, message_id)
    t = str(team)
    snapshots = await _snapshots(tx, team_sql.SNAPSHOTS_AT, t, *_at(key))
    facts = await _facts(tx, team_sql.FACTS_AT, t, *_at(key))
    change = TeamChange(tuple(facts), snapshots[0] if snapshots else None)
    return change.receivers(await _members_before(tx, team, key))


async def recompute(tx: Write, team: SessionKey, now: int) -> None:
    """Rebuild the sessions of every account the team has known, and its members, from its kept
    history (the team is locked); its checkpoints go (later writes keep new ones)."""
    t = str(team)
    await tx.rows(team_sql.FORGET_CHECKPOINTS, t)
    roster = Roster.of(
        await _facts(tx, team_sql.FACTS, t), await _snapshots(tx, team_sql.SNAPSHOTS, t)
    )
    accounts = roster.accounts()
    await tx.lock(accounts)
    history = await _messages(tx, team_sql.MESSAGES, t)
    for owner in sorted(accounts):
        await _rebuild(tx, team, owner, roster, history, now)
    cached = await _cached_members(tx, team)
    await _cache(tx, team, cached, roster.amend(cached, accounts))


async def _rebuild(
    tx: Write,
    team: SessionKey,
    owner: str,
    roster: Roster,
    history: list[tuple[TeamMessage, RevokeNotification | None]],
    now: int,
) -> None:
    rows = await tx.rows(team_sql.SESSION, owner, str(team))
    if rows:
        horizon, read_horizon, deleted_at, kind, last_id, unread, revoke_time = rows[0]
    else:
        horizon = read_horizon = _NEVER
        deleted_at, kind, last_id, unread, revoke_time = None, None, None, 0, None
    messages = [message for message, _ in history]
    state = received_state(roster, owner, messages, horizon=int(horizon),
                           read_horizon=int(read_horizon))  # fmt: skip
    if state.last is None:
        if rows and deleted_at is None and (kind is not None or unread):
            await tx.changing(team_sql.CLEAR_RECEIVED, tx.version(owner), now, owner, str(team))
        return
    revoke = {m.key: r for m, r in history}[state.last.key]
    last_kind = LastMessageKind.MESSAGE if revoke is None else LastMessageKind.REVOKE_NOTIFICATION
    unchanged = (
        rows and deleted_at is None and kind == last_kind.value
        and last_id == state.last.key.event_id
        and unread == state.unread and revoke_time == (revoke.time if revoke else None)
    )  # fmt: skip
    if not unchanged:
        await _write_received(tx, team, owner, state.last, revoke, state.unread)


async def _rebuild_from(
    tx: Write,
    team: SessionKey,
    key: EventKey,
    before: set[str],
    owners: set[str],
    now: int,
    saved: TeamChange,
) -> None:
    """The sessions of ``owners``, whose membership the change at ``key`` (saved, and locked)
    flips, as the team's messages from ``key`` on make them (domain/receiving.py's
    ``LateRebuild``); an account that keeps nothing from ``key`` on while its last message was
    among what it loses walks back to the last message it received before ``key``. Work grows
    with how late the change is, not with the team's history."""
    t = str(team)
    history = await _messages(tx, team_sql.MESSAGES_FROM, t, *_at(key))
    facts = await _facts(tx, team_sql.FACTS_FROM, t, *_at(key))
    snapshots = await _snapshots(tx, team_sql.SNAPSHOTS_FROM, t, *_at(key))
    new = Roster.of(facts, snapshots, base=before)
    old = Roster.of([f for f in facts if f not in saved.facts],
                    [s for s in snapshots if s != saved.snapshot], base=before)  # fmt: skip
    revokes = {m.key: r for m, r in history}
    rebuild = LateRebuild(key, [m for m, _ in history], old, new)
    for owner in sorted(owners):
        found = await tx.rows(team_sql.SESSION_STATE, owner, t)
        horizon, read_horizon, last_time, last_order, unread = (
            found[0] if found else (_NEVER, _NEVER, None, None, 0)
        )
        last_at = None if last_time is None else (int(last_time), str(last_order))
        rebuilt = rebuild.session(owner, horizon=int(horizon), read_horizon=int(read_horizon),
                                  unread=int(unread), last=last_at)  # fmt: skip
        last: tuple[TeamMessage, RevokeNotification | None] | None = None
        if rebuilt.last is not None:
            last = rebuilt.last, revokes[rebuilt.last.key]
        elif rebuilt.walk_back:
            last = await _last_received_before(tx, team, owner, key, int(horizon))
            if last is None:
                await tx.changing(team_sql.CLEAR_RECEIVED, tx.version(owner), now, owner, t)
                continue
        if last is not None:
            await _write_received(tx, team, owner, *last, rebuilt.unread)
        elif found and rebuilt.unread != int(unread):
            await tx.changing(team_sql.SET_UNREAD, rebuilt.unread, tx.version(owner), owner, t)
    await _amend_checkpoints(tx, team, key, new, owners)
    cached = await _cached_members(tx, team)
    await _cache(tx, team, cached, new.amend(cached, owners))


async def _last_received_before(
    tx: Write, team: SessionKey, account: str, key: EventKey, horizon: int
) -> tuple[TeamMessage, RevokeNotification | None] | None:
    """The newest of the team's messages before ``key`` and after ``horizon`` that ``account``
    received, walking back a page at a time: each page is judged by the account's changes and
    the team's snapshots within it, from the account's membership just before it."""
    t = str(team)
    bound = key
    while page := await _messages(tx, team_sql.MESSAGES_BEFORE, t, *_at(bound), horizon, _PAGE):
        low = page[-1][0].key
        span = (*_at(low), *_at(bound))
        facts = await _facts(tx, team_sql.ACCOUNT_FACTS_BETWEEN, t, account, *span)
        snapshots = await _snapshots(tx, team_sql.SNAPSHOTS_BETWEEN, t, *span)
        member = await _member_before(tx, team, account, low)
        roster = Roster.of(facts, snapshots, base={account} if member else ())
        for message, revoke in page:
            if roster.receives(account, message.key):
                return message, revoke
        bound = low
    return None


async def _member_before(tx: Write, team: SessionKey, account: str, key: EventKey) -> bool:
    t = str(team)
    fact = await _facts(tx, team_sql.ACCOUNT_FACT_BEFORE, t, account, *_at(key))
    snapshot = await _snapshots(tx, team_sql.SNAPSHOT_BEFORE, t, *_at(key))
    return Roster.of(fact, snapshot).member_before(account, key)


async def _members_before(tx: Write, team: SessionKey, key: EventKey) -> set[str]:
    """The members just before ``key``: the newest snapshot or checkpoint before it, then each
    account's newest fact between that and ``key`` (a fact at a checkpoint's own key is in it
    already, so applying it again changes nothing)."""
    t = str(team)
    snapshots = await _snapshots(tx, team_sql.SNAPSHOT_BEFORE, t, *_at(key))
    checkpoints = await tx.rows(team_sql.CHECKPOINT_BEFORE, t, *_at(key))
    start = newest_list(snapshots, [member_list_from_row(row) for row in checkpoints])
    newest = await tx.rows(team_sql.NEWEST_FACTS_BETWEEN, t, *_at(start.key), *_at(key))
    return with_changes(start.members, [(str(account), bool(member)) for account, member in newest])


async def _write_received(
    tx: Write,
    team: SessionKey,
    owner: str,
    last: TeamMessage,
    revoke: RevokeNotification | None,
    unread: int,
) -> None:
    """Make ``last`` the session's last message, with ``unread``, whatever it held."""
    kept = Message(last.key.event_id, last.sender, MessageType.UNKNOWN, last.key.time)
    await tx.changing(team_sql.WRITE_RECEIVED, owner, str(team), KINDS[team.type],
                      *last_message_values(kept, revoke), unread, tx.version(owner))  # fmt: skip


async def _has_later(tx: Write, team: SessionKey, key: EventKey) -> bool:
    # The team and the key, for each of the four tables.
    return bool(await tx.rows(team_sql.LATER, *(str(team), *_at(key)) * 4))


async def _save(tx: Write, team: SessionKey, change: TeamChange) -> TeamChange:
    """Keeps the change's facts and snapshot; returns those that were not kept already."""
    new_facts = []
    for f in change.facts:
        if await tx.rows(team_sql.INSERT_FACT, str(team), f.account, f.key.time, f.key.event_id,
                         int(f.member), int(f.receives)):  # fmt: skip
            new_facts.append(f)
    s = change.snapshot
    new_snapshot = None
    if s is not None:
        receivers = None if s.receivers is None else names_value(s.receivers)
        if await tx.rows(team_sql.INSERT_SNAPSHOT, str(team), s.key.time, s.key.event_id,
                         names_value(s.members), receivers):  # fmt: skip
            new_snapshot = s
    return TeamChange(tuple(new_facts), new_snapshot)


async def _checkpoint(tx: Write, team: SessionKey, key: EventKey, members: set[str]) -> None:
    """Keep ``members``, the team's members after every change up to ``key`` (the newest), as a
    checkpoint, when the team has had ``CHECKPOINT_EVERY`` writes since its last one."""
    if tx.team_writes < CHECKPOINT_EVERY:
        return
    await tx.rows(team_sql.WRITE_CHECKPOINT, str(team), *_at(key), key.event_id,
                  names_value(members))  # fmt: skip
    await tx.rows(team_sql.CHECKPOINTED, str(team))


async def _amend_checkpoints(
    tx: Write, team: SessionKey, key: EventKey, roster: Roster, accounts: set[str]
) -> None:
    """Correct, for ``accounts``, the checkpoints at or after ``key``, where a late change was
    just saved: ``roster`` holds every change from ``key`` on."""
    t = str(team)
    for row in await tx.rows(team_sql.CHECKPOINTS_FROM, t, *_at(key)):
        checkpoint = member_list_from_row(row)
        amended = roster.amend(checkpoint.members, accounts, checkpoint.key)
        if amended != checkpoint.members:
            await tx.rows(team_sql.AMEND_CHECKPOINT, names_value(amended), t, *_at(checkpoint.key))


async def _cached_members(tx: Write, team: SessionKey) -> set[str]:
    return {str(row[0]) for row in await tx.rows(team_sql.MEMBERS, str(team))}


async def _cache(tx: Write, team: SessionKey, old: set[str], new: set[str]) -> None:
    for account in sorted(new - old):
        await tx.rows(team_sql.ADD_MEMBER, str(team), account)
    for account in sorted(old - new):
        await tx.rows(team_sql.REMOVE_MEMBER, str(team), account)


def _at(key: EventKey) -> tuple[int, str]:
    """The parameters that place ``key`` among the rows: (time, the id's sort key)."""
    return key.time, key.order


async def _facts(tx: Write, statement: str, *params: object) -> list[Fact]:
    return [fact_from_row(row) for row in await tx.rows(statement, *params)]


async def _snapshots(tx: Write, statement: str, *params: object) -> list[Snapshot]:
    return [snapshot_from_row(row) for row in await tx.rows(statement, *params)]


async def _messages(
    tx: Write, statement: str, *params: object
) -> list[tuple[TeamMessage, RevokeNotification | None]]:
    return [team_message_from_row(row) for row in await tx.rows(statement, *params)]
