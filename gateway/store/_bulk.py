"""Bulk import: a batch of CC events in one transaction, by the webhook's rules, a few statements
for the whole batch instead of several for each event.

The webhook applies one event at a time (sql.py, _teams.py): a message is inserted once in its
conversation, then delivered by an upsert per session that makes it the last message where it is
newer and counts it unread where it counts (``_NEWER``, ``_COUNTS``). Those rules depend on each
session's horizons and last message, never on the order messages arrive in, so a batch reduces
first: every new message of the batch, every session it reaches, and per (owner, session) the
fold of domain/receiving.py's ``Receiving`` over the messages that reach it, merged with the
session's row as it stood. A team's receivers come from walking its new messages in event order
(time, then id as a number) from the members cached before them, with ``TeamChange.receivers``
and ``members_after``: the webhook's rules for an event newer than everything known of its team.

What this does not decide is left to the caller, who applies it one event at a time afterwards
(ingest.Ingestor.apply), exactly as the webhook would: every event of a team that has a new
message not newer than something the store already knows of it (the late path: rebuilding
sessions from the team's history), and a recall whose message is not among the batch's new ones.

One transaction: the batch's teams are locked (in order), its messages inserted, then every
owner it reaches locked at once (store/_write.py's order), its recalls matched, the sessions it
reaches read, folded (store/_received.py) and written back: rows the sessions table did not have
copied straight into it, the others through a temporary table (executemany on SQLite, COPY on
PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain.events import RecallEvent, TeamMessageEvent
from gateway.domain.imports import BulkEvent
from gateway.domain.keys import SessionKey
from gateway.domain.order import EventKey
from gateway.domain.sessions import Message, RevokeNotification
from gateway.store._driver import Dialect
from gateway.store._lists import MESSAGE_COLUMNS
from gateway.store._received import (
    STATE_COLUMNS,
    NewMessage,
    p2p_deliveries,
    session_rows,
    walk_team,
)
from gateway.store._rows import Row, message_values, opt_str
from gateway.store._statements import DELIVERED_COLUMNS
from gateway.store._team_statements import (
    CHECKPOINT_COLUMNS,
    FACT_COLUMNS,
    SNAPSHOT_COLUMNS,
    CheckpointRow,
    FactRow,
    SnapshotRow,
)
from gateway.store._write import Write

_STAGED_MESSAGES = (
    "import_messages (server_id TEXT, client_id TEXT, from_account TEXT, type TEXT, "
    "time BIGINT, text TEXT, attachment TEXT, ext TEXT, conversation TEXT, team_key TEXT)"
)
_STAGED_REVOCATIONS = (
    "import_revocations (message_server_id TEXT, conversation TEXT, operator TEXT, "
    "time BIGINT, postscript TEXT)"
)
_STAGED_KEYS = "import_keys (owner TEXT, key TEXT)"
_STAGED_IDS = "import_ids (server_id TEXT)"
_STAGED_SESSIONS = (
    "import_sessions (owner TEXT, key TEXT, kind SMALLINT, update_time BIGINT, "
    "last_kind SMALLINT, last_msg_id TEXT, last_msg_time BIGINT, revoke_operator TEXT, "
    "revoke_time BIGINT, revoke_postscript TEXT, unread INTEGER, version BIGINT)"
)
_STAGED_FACTS = (
    "import_facts (team_key TEXT, account TEXT, time BIGINT, event_id TEXT, member SMALLINT, "
    "receives SMALLINT)"
)
_STAGED_SNAPSHOTS = (
    "import_snapshots (team_key TEXT, time BIGINT, event_id TEXT, members TEXT, receivers TEXT)"
)
_STAGED_MEMBERS = "import_members (team_key TEXT, member TEXT, joins SMALLINT)"
_STAGED_WRITES = "import_writes (team_key TEXT, writes INTEGER)"
_STAGED = (_STAGED_IDS, _STAGED_MESSAGES, _STAGED_REVOCATIONS, _STAGED_KEYS, _STAGED_SESSIONS,
           _STAGED_FACTS, _STAGED_SNAPSHOTS, _STAGED_MEMBERS, _STAGED_WRITES)  # fmt: skip
# The staged tables a statement joins to a table of the store's (the others are only copied in).
_JOINED = frozenset({"import_ids", "import_keys", "import_sessions", "import_members",
                     "import_writes"})  # fmt: skip

_INSERT_MESSAGES = f"""
INSERT INTO messages ({MESSAGE_COLUMNS}, team_key)
SELECT {MESSAGE_COLUMNS}, team_key FROM import_messages WHERE true
ON CONFLICT DO NOTHING
RETURNING server_id, conversation
"""
_INSERT_REVOCATIONS = """
INSERT INTO revocations (message_server_id, conversation, operator, time, postscript)
SELECT message_server_id, conversation, operator, time, postscript FROM import_revocations
WHERE true
ON CONFLICT DO NOTHING
RETURNING message_server_id, conversation
"""
_SESSION_STATES = f"""
SELECT {", ".join(f"s.{column}" for column in STATE_COLUMNS)}
FROM import_keys k JOIN sessions s ON s.owner = k.owner AND s.key = k.key
"""
# The sessions that had a row: a session that had none is copied straight into the table (its
# owner is locked: nobody else makes that row meanwhile).
_UPDATE_SESSIONS = """
UPDATE sessions SET
    update_time = i.update_time, last_kind = i.last_kind, last_msg_id = i.last_msg_id,
    last_msg_time = i.last_msg_time, revoke_operator = i.revoke_operator,
    revoke_time = i.revoke_time, revoke_postscript = i.revoke_postscript, unread = i.unread,
    deleted_at = NULL, version = i.version
FROM import_sessions i WHERE sessions.owner = i.owner AND sessions.key = i.key
"""
_INSERT_FACTS = f"""
INSERT INTO team_facts ({", ".join(FACT_COLUMNS)})
SELECT {", ".join(FACT_COLUMNS)} FROM import_facts WHERE true
ON CONFLICT DO NOTHING
"""
_INSERT_SNAPSHOTS = f"""
INSERT INTO team_snapshots ({", ".join(SNAPSHOT_COLUMNS)})
SELECT {", ".join(SNAPSHOT_COLUMNS)} FROM import_snapshots WHERE true
ON CONFLICT DO NOTHING
"""
_ADD_MEMBERS = """
INSERT INTO team_members (team_key, member)
SELECT team_key, member FROM import_members WHERE joins = 1
ON CONFLICT DO NOTHING
"""
# Each team's writes since its last membership checkpoint, as the batch leaves them.
_COUNT_WRITES = """
UPDATE team_locks SET since_checkpoint = w.writes
FROM import_writes w WHERE team_locks.team_key = w.team_key
"""
_REMOVE_MEMBERS = """
DELETE FROM team_members
WHERE (team_key, member) IN (SELECT team_key, member FROM import_members WHERE joins = 0)
"""


class BulkStatements:
    """The statements that take an array parameter or make a temporary table (the dialect's)."""

    def __init__(self, dialect: Dialect) -> None:
        elements = dialect.elements
        self.create = {
            table.split()[0]: f"CREATE TEMPORARY TABLE {table} {dialect.temporary}"
            for table in _STAGED
        }
        self.long_transaction = dialect.long_transaction
        self.duplicate_key = dialect.duplicate_key
        self.analyze = dialect.analyze
        # The batch's message ids are a table of their own, not an array parameter: the planner
        # knows how many there are (it takes an array for a couple of hundred, and once chose
        # to scan the whole messages table for each id of a 50,000-line batch: ten minutes).
        self.messages_by_id = (
            "SELECT m.server_id, m.conversation FROM import_ids i "
            "JOIN messages m ON m.server_id = i.server_id"
        )
        self.revocations_by_id = (
            "SELECT r.message_server_id, r.conversation, r.operator, r.time, r.postscript "
            "FROM import_ids i JOIN revocations r ON r.message_server_id = i.server_id"
        )
        # The newest thing the store knows of each team, of its messages and its membership
        # changes, each as its time (20 digits) and the id's sort key: text that sorts as the
        # event order does.
        newest = (f"(SELECT {dialect.padded_time} || {{1}} FROM {{0}} WHERE team_key = value "
                  "ORDER BY time DESC, {1} DESC LIMIT 1)")  # fmt: skip
        self.newest = (
            f"SELECT value, {newest.format('messages', 'order_key')}, "
            f"{newest.format('team_facts', 'event_order')}, "
            f"{newest.format('team_snapshots', 'event_order')} FROM {elements}"
        )
        self.members = (
            "SELECT team_key, member FROM team_members "
            f"WHERE team_key IN (SELECT value FROM {elements})"
        )


class _Staged:
    """The transaction's temporary tables, each made when first filled, all dropped at the end."""

    def __init__(self, tx: Write, bulk: BulkStatements) -> None:
        self.tx = tx
        self.bulk = bulk
        self.made: list[str] = []

    async def copy(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        if table not in self.made:
            await self.tx.db.execute(self.bulk.create[table])
            self.made.append(table)
        await self.tx.db.copy(table, columns, rows)
        if self.bulk.analyze is not None and table in _JOINED:  # for the planner: joined next
            await self.tx.db.execute(self.bulk.analyze.format(table))

    async def drop(self) -> None:
        for table in self.made:
            await self.tx.db.execute(f"DROP TABLE {table}")


async def apply_batch(
    tx: Write, bulk: BulkStatements, events: Sequence[BulkEvent]
) -> list[bool | None]:
    """Apply ``events`` (see the module's docstring): per event, True when applied, False when
    seen before, None when left to the caller."""
    outcomes: list[bool | None] = [None] * len(events)
    firsts: dict[tuple[str, str], NewMessage] = {}
    for index, event in enumerate(events):
        if isinstance(event, RecallEvent):
            continue
        new = NewMessage(index, event)
        if new.ref in firsts:
            outcomes[index] = False  # later in the batch: seen before
        else:
            firsts[new.ref] = new
    teams = sorted({n.event.team for n in firsts.values() if isinstance(n.event, TeamMessageEvent)},
                   key=str)  # fmt: skip
    writes = await tx.lock_teams(teams) if teams else {}
    if bulk.long_transaction is not None:  # a batch's statements take what they take
        await tx.db.execute(bulk.long_transaction)
    staged = _Staged(tx, bulk)

    # Which messages are new; a team that has a new one not newer than what is known of it is
    # late: the caller applies its events one by one.
    ids = sorted({server_id for _, server_id in firsts})
    known: set[tuple[str, str]] = set()
    if ids:
        await staged.copy("import_ids", ("server_id",), [(i,) for i in ids])
        known = {(str(c), str(i)) for i, c in await tx.rows(bulk.messages_by_id)}
    fresh = []
    for new in firsts.values():
        legacy = None if isinstance(new.event, TeamMessageEvent) else _legacy(new.message)
        if new.ref in known or (legacy, new.message.server_id) in known:
            outcomes[new.index] = False
        else:
            fresh.append(new)
    oldest: dict[SessionKey, EventKey] = {}
    for new in fresh:
        if isinstance(new.event, TeamMessageEvent):
            key, team = new.key, new.event.team
            if team not in oldest or key < oldest[team]:
                oldest[team] = key
    late = await _late(tx, bulk, oldest)
    fresh = [n for n in fresh if not _in(n, late)]
    inserted = await _insert_messages(tx, bulk, staged, fresh)
    for new in fresh:
        outcomes[new.index] = new.ref in inserted  # not inserted: a webhook's, just committed
    news = {new.ref: new for new in fresh if new.ref in inserted}

    # The sessions each new message reaches, and the teams' changes.
    received, conversations = p2p_deliveries(news.values())
    cached = await _cached_members(tx, bulk, [t for t in teams if t not in late])
    facts: list[FactRow] = []
    snapshots: list[SnapshotRow] = []
    member_changes: list[tuple[object, ...]] = []
    team_news: dict[SessionKey, list[NewMessage]] = {}
    for new in news.values():
        if isinstance(new.event, TeamMessageEvent):
            team_news.setdefault(new.event.team, []).append(new)
    checkpoints: list[CheckpointRow] = []
    for team, batch in team_news.items():
        before = cached.get(team, set())
        members = walk_team(team, batch, before, received, conversations, facts, snapshots,
                            writes, checkpoints)  # fmt: skip
        member_changes += [(str(team), a, 1) for a in sorted(members - before)]
        member_changes += [(str(team), a, 0) for a in sorted(before - members)]

    # Locked before recalls are looked for, as record_message does: a recall of one of these
    # messages on the webhook, which locks the same owners first, has committed or waits.
    await tx.lock(owner for owner, _ in received)
    await _revocations(tx, bulk, staged, news, events, outcomes)
    for new in news.values():
        new.seen = new.known()
    states: dict[tuple[str, str], Row] = {}
    if received:
        await staged.copy("import_keys", ("owner", "key"), sorted(received))
        states = {(str(r[0]), str(r[1])): r for r in await tx.rows(_SESSION_STATES)}
    rows = session_rows(tx.version, received, conversations, news, states)
    created = sorted(row for row in rows if (row[0], row[1]) not in states)
    changed = [row for row in rows if (row[0], row[1]) in states]
    if created:
        await tx.db.copy("sessions", DELIVERED_COLUMNS, created)
    if changed:
        await staged.copy("import_sessions", DELIVERED_COLUMNS, changed)
        await tx.db.execute(_UPDATE_SESSIONS)
    tx.changes.record_owners({str(row[0]) for row in rows})
    if facts:
        await staged.copy("import_facts", FACT_COLUMNS, sorted(facts))
        await tx.db.execute(_INSERT_FACTS)
    if snapshots:
        await staged.copy("import_snapshots", SNAPSHOT_COLUMNS, sorted(snapshots))
        await tx.db.execute(_INSERT_SNAPSHOTS)
    if checkpoints:  # at keys of the batch's own messages: none is there
        await tx.db.copy("team_checkpoints", CHECKPOINT_COLUMNS, sorted(checkpoints))
    if team_news:
        counts = [(t, writes[t]) for t in sorted({str(team) for team in team_news})]
        await staged.copy("import_writes", ("team_key", "writes"), counts)
        await tx.db.execute(_COUNT_WRITES)
    if member_changes:
        await staged.copy("import_members", ("team_key", "member", "joins"), member_changes)
        await tx.db.execute(_ADD_MEMBERS)
        await tx.db.execute(_REMOVE_MEMBERS)
    await staged.drop()
    return outcomes


_MESSAGE_COLUMNS = (*MESSAGE_COLUMNS.split(", "), "team_key")


# Rows are written in their table's key order (SQLite's WITHOUT ROWID tables are B-trees on it:
# in order, three to five times faster than not); a temporary table is read back in the order
# it was filled.
def _id_and_conversation(row: tuple[object, ...]) -> tuple[str, str]:
    return str(row[0]), str(row[8])


def _legacy(message: Message) -> str:
    """Where an earlier release kept a P2P message whose conversation it did not know (sql.py)."""
    return "?" + message.from_account


async def _late(
    tx: Write, bulk: BulkStatements, oldest: dict[SessionKey, EventKey]
) -> set[SessionKey]:
    """The teams the store knows something of that is newer than their ``oldest`` new message."""
    if not oldest:
        return set()
    by_text = {str(team): team for team in oldest}
    late = set()
    for row in await tx.rows(bulk.newest, sorted(by_text)):
        team = by_text[str(row[0])]
        newest = max((str(packed) for packed in row[1:] if packed is not None), default="")
        key = oldest[team]
        if newest > f"{key.time:020d}{key.order}":
            late.add(team)
    return late


def _in(new: NewMessage, teams: set[SessionKey]) -> bool:
    return isinstance(new.event, TeamMessageEvent) and new.event.team in teams


async def _insert_messages(
    tx: Write, bulk: BulkStatements, staged: _Staged, fresh: Sequence[NewMessage]
) -> set[tuple[str, str]]:
    """Insert the messages found new; returns those inserted. They are copied straight into the
    table unless one of them is there by now (a webhook's, committed since the batch looked: a
    team's cannot be, its team is locked): then, from a temporary table, each that is not."""
    if not fresh:
        return set()
    rows = []
    for new in fresh:
        team = str(new.event.team) if isinstance(new.event, TeamMessageEvent) else None
        rows.append((*message_values(new.message, new.message.conversation), team))
    rows.sort(key=_id_and_conversation)
    await tx.db.execute("SAVEPOINT import_messages")
    try:
        await tx.db.copy("messages", _MESSAGE_COLUMNS, rows)
    except bulk.duplicate_key:
        await tx.db.execute("ROLLBACK TO SAVEPOINT import_messages")
    else:
        await tx.db.execute("RELEASE SAVEPOINT import_messages")
        return {new.ref for new in fresh}
    await staged.copy("import_messages", _MESSAGE_COLUMNS, rows)
    return {(str(c), str(i)) for i, c in await tx.rows(_INSERT_MESSAGES)}


async def _revocations(
    tx: Write,
    bulk: BulkStatements,
    staged: _Staged,
    news: dict[tuple[str, str], NewMessage],
    events: Sequence[BulkEvent],
    outcomes: list[bool | None],
) -> None:
    """Mark the new messages that are revoked: by a recall the store kept before them (as
    sql._recall_of finds it), or by a recall of this batch, which is recorded here. A recall
    whose message is not a new one of this batch is left to the caller."""
    if not news:
        return
    # import_ids holds every message id of the batch, these among them.
    for server_id, kept_in, operator, time, postscript in await tx.rows(bulk.revocations_by_id):
        revoke = RevokeNotification(str(server_id), str(operator), int(time), opt_str(postscript))
        new = news.get((str(kept_in), str(server_id)))
        if new is None:
            new = next((n for n in news.values()
                        if n.message.server_id == str(server_id)
                        and not isinstance(n.event, TeamMessageEvent)
                        and _legacy(n.message) == str(kept_in)), None)  # fmt: skip
            if new is None:
                continue
            # Kept under its sender alone: it belongs to the conversation its message came in.
            await tx.db.execute(tx.sql.adopt_revocation, new.message.conversation, str(server_id),
                                str(kept_in))  # fmt: skip
        new.revoke = revoke
    recalls: dict[tuple[str, str], int] = {}
    for index, event in enumerate(events):
        if not isinstance(event, RecallEvent):
            continue
        ref = (event.conversation.key, event.revoke.message_server_id)
        new = news.get(ref)
        if new is None or new.message.from_account != event.revoke.operator:
            continue  # not this batch's message, or another sender's: the caller's to decide
        if ref in recalls:
            outcomes[index] = False
            continue
        recalls[ref] = index
        if new.revoke is None:
            new.revoke = event.revoke
    if not recalls:
        return
    rows = []
    for (conversation, server_id), index in recalls.items():
        recall = events[index]
        assert isinstance(recall, RecallEvent)
        r = recall.revoke
        rows.append((server_id, conversation, r.operator, r.time, r.postscript))
    await staged.copy("import_revocations", ("message_server_id", "conversation", "operator",
                                            "time", "postscript"), rows)  # fmt: skip
    recorded = {(str(c), str(i)) for i, c in await tx.rows(_INSERT_REVOCATIONS)}
    for (conversation, server_id), index in recalls.items():
        outcomes[index] = (conversation, server_id) in recorded


async def _cached_members(
    tx: Write, bulk: BulkStatements, teams: Sequence[SessionKey]
) -> dict[SessionKey, set[str]]:
    if not teams:
        return {}
    by_text = {str(t): t for t in teams}
    cached: dict[SessionKey, set[str]] = {t: set() for t in teams}
    for team_key, member in await tx.rows(bulk.members, sorted(by_text)):
        cached[by_text[str(team_key)]].add(str(member))
    return cached
