"""`gateway import` in batches gives what the webhook gives (issue 26): a history of P2P and team
messages, team notifications (invite, kick, leave, an application or invitation accepted) and
recalls, between accounts whose ids are often digits ("123" and "0123" are two accounts), imported
in batches, leaves the same session lists, unread counts and team members as the same history
posted through the real webhook, signed as NIM signs it, in a shuffled order with duplicates. Some
owners deleted a session, read one or muted one before the history arrived: their horizons apply
on both paths. So do NIM's own sample payloads."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.domain.keys import SessionKey, SessionType
from gateway.domain.pages import PageQuery, TimeWindow
from gateway.domain.sessions import LastMessageKind, Session
from gateway.importer import import_file, import_lines
from gateway.ingest import Ingestor
from gateway.settings import Settings
from gateway.store import PostgresStore, SessionStore, SqliteStore, SqlStore
from tests.conftest import POSTGRES_URL, Clock, Webhook, postgres_schema
from tests.histories import (
    Odds,
    as_sent,
    checkpoints,
    member_list,
    team_message,
    team_turn,
    with_duplicates,
)

SAMPLES = Path("/work/shared/nim")
BASE = 1_795_000_000_000
# Digits as NIM's ids often are; "0123" beside "123" and "007" beside "7": different accounts.
PEOPLE = ["123", "0123", "10001", "7", "007", "alice", "bob", "张三"]
REGISTERED = "42"  # a team whose members come from the registry (a team line), never tMembers
LISTED = ("0042", "3001")  # teams whose messages list their members (tMembers)
STARTS = [95, 9_995, 99_999_995]  # ids that grow a digit along the way
ODDS = Odds(invite=0.15, apply=0.22, accept=0.28, kick=0.4, leave=0.48, most_invited=2,
            fewest_kept=2)  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    """The server's clock, after every history here."""
    return Clock(BASE + 3_600_000)


@pytest.fixture
async def imported(settings: Settings) -> AsyncIterator[SessionStore]:
    """A second database of the test's backend, for the import."""
    if not settings.uses_postgres():
        path = Path(settings.sqlite_path()).with_name("imported.db")
        async with SqliteStore(path) as store:
            yield store
        return
    async with postgres_schema(POSTGRES_URL) as url, PostgresStore(url, pool_size=2) as store:
        yield store


@dataclass
class History:
    events: list[dict[str, Any]] = field(default_factory=list)  # in NIM's order
    team_lines: list[dict[str, Any]] = field(default_factory=list)


def history(seed: int) -> History:
    rng = random.Random(seed)
    made = History()
    members = {REGISTERED: set(rng.sample(PEOPLE, 4))}
    members.update({tid: set(rng.sample(PEOPLE, 3)) for tid in LISTED})
    made.team_lines.append({"tid": REGISTERED, "type": "TEAM",
                            "members": sorted(members[REGISTERED]), "time": BASE - 1})  # fmt: skip
    time, value = BASE, rng.choice(STARTS)
    sent: list[dict[str, Any]] = []
    for _ in range(rng.randint(40, 90)):
        time += rng.choice([0, 0, 1, 2, 5])
        value += rng.randint(1, 4)
        msgid = str(value).zfill(len(str(value)) + rng.choice([0, 0, 0, 1]))
        roll = rng.random()
        if roll < 0.12 and sent:  # each message recalled once (NIM sends one recall, maybe twice)
            made.events.append(_recall(rng, sent.pop(rng.randrange(len(sent))), time))
            continue
        if roll < 0.55:
            sender, to = rng.sample(PEOPLE, 2) if rng.random() < 0.95 else [rng.choice(PEOPLE)] * 2
            event = {"eventType": "1", "convType": "PERSON", "to": as_sent(rng, to),
                     "fromAccount": as_sent(rng, sender), "msgTimestamp": str(time),
                     "msgType": "TEXT", "body": msgid, "msgidServer": msgid}  # fmt: skip
        else:
            event = _team_event(rng, members, time, msgid)
        made.events.append(event)
        sent.append(event)
    return made


def _team_event(
    rng: random.Random, members: dict[str, set[str]], time: int, msgid: str
) -> dict[str, Any]:
    tid = rng.choice([REGISTERED, *LISTED])
    turn = team_turn(rng, members[tid], sorted(set(PEOPLE) - members[tid]), ODDS)
    members[tid] = turn.after
    event = team_message(rng, tid, turn, time, msgid)
    if tid != REGISTERED:
        event["tMembers"] = member_list(rng, turn.listed, numbers=False)
    return event


def _recall(rng: random.Random, message: dict[str, Any], time: int) -> dict[str, Any]:
    team = message["convType"] == "TEAM"
    recall = {"eventType": "8" if team else "7", "msgId": message["msgidServer"],
              "from": message["fromAccount"], "to": message["to"],
              "deleteTime": str(max(time, int(message["msgTimestamp"]))),
              "selfMsg": "recalled", "fromClientType": "WEB"}  # fmt: skip
    if team or rng.random() < 0.7:
        recall["sendTime"] = message["msgTimestamp"]
    return recall


# What both stores hold -----------------------------------------------------------------------

TEAM_KEYS = [SessionKey(SessionType.TEAM, tid) for tid in (REGISTERED, *LISTED)]


async def state(
    store: SessionStore, people: list[str], teams: list[SessionKey]
) -> dict[str, object]:
    """Every owner's whole list, in order, with its unread total; every team's members."""
    found: dict[str, object] = {}
    for owner in people:
        page = await store.list_sessions(owner, PageQuery(TimeWindow(), limit=100))
        found[owner] = ([_comparable(s) for s in page.sessions],
                        await store.total_unread(owner),
                        await store.total_unread(owner, include_muted=True))  # fmt: skip
    for team in teams:
        found[str(team)] = await store.team_members(team)
    return found


def _comparable(session: Session) -> tuple[object, ...]:
    return (str(session.key), session.update_time, session.server_ext, session.last_message_kind,
            session.last_message_id, session.revoke, session.unread_count,
            session.last_read_time, session.muted)  # fmt: skip


async def prelude(store: SessionStore, rng: random.Random) -> None:
    """What some owners did before the history arrived: a session deleted (a horizon in the
    middle of the history), one read (a read mark there), one muted."""
    middle = BASE + 60
    first, second, third = rng.sample(PEOPLE, 3)
    peer = SessionKey(SessionType.P2P, rng.choice([p for p in PEOPLE if p != first]))
    await store.update_ext(first, peer, "note", BASE - 10)
    await store.delete_sessions(first, [peer], middle)
    read = SessionKey(SessionType.TEAM, REGISTERED)
    await store.update_ext(second, read, "pinned-ish", BASE - 10)
    await store.mark_read(second, [read], middle)
    muted = SessionKey(SessionType.P2P, rng.choice([p for p in PEOPLE if p != third]))
    await store.update_ext(third, muted, "", BASE - 10)
    await store.set_muted(third, [muted], True)


def lines(events: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(event) for event in events]


async def post_all(webhook: Webhook, rng: random.Random, events: list[dict[str, Any]]) -> None:
    """Every event through the webhook, shuffled, some twice."""
    for event in with_duplicates(rng, events, len(events) // 3):
        assert (await webhook.ok(event))["outcome"] in {"applied", "duplicate", "ignored"}


@pytest.mark.parametrize("order", ["in NIM's order", "shuffled with duplicates"])
@pytest.mark.parametrize("seed", range(6))
async def test_an_imported_history_gives_what_the_webhook_gives(
    seed: int, order: str, webhook: Webhook, store: SessionStore, imported: SessionStore
) -> None:
    made = history(seed)
    rng = random.Random(seed)
    await prelude(store, random.Random(seed))
    await prelude(imported, random.Random(seed))
    for line in made.team_lines:
        await webhook.team(line["tid"], line["members"], at=line["time"])
    await post_all(webhook, rng, made.events)

    events = made.events
    if order != "in NIM's order":
        events = with_duplicates(rng, events, len(events) // 3)
    report = await import_lines(imported, lines(made.team_lines + events), batch_lines=7)

    assert not report.rejected
    assert report.teams == 1
    assert await state(imported, PEOPLE, TEAM_KEYS) == await state(store, PEOPLE, TEAM_KEYS)


def samples() -> list[dict[str, Any]]:
    return [orjson.loads(path.read_bytes())
            for folder in ("cc-samples", "cc-samples-numeric")
            for path in sorted((SAMPLES / folder).glob("*.json"))]  # fmt: skip


def sample_accounts(events: list[dict[str, Any]]) -> tuple[list[str], list[SessionKey]]:
    people: set[str] = set()
    teams: set[SessionKey] = set()
    for e in events:
        for name in ("fromAccount", "from"):
            if name in e:
                people.add(str(e[name]))
        if e.get("convType") in ("PERSON", "CUSTOM_PERSON") or str(e.get("eventType")) == "7":
            people.add(str(e["to"]))
        elif e.get("convType") in ("TEAM", "SUPER_TEAM") or str(e.get("eventType")) in ("8", "25"):
            kind = SessionType.SUPER_TEAM if "SUPER" in str(e.get("convType")) or str(
                e.get("eventType")) == "25" else SessionType.TEAM  # fmt: skip
            teams.add(SessionKey(kind, str(e["to"])))
        listed = e.get("tMembers")
        if isinstance(listed, str):
            people.update(name.strip() for name in listed.strip("[]").split(",") if name.strip())
        elif isinstance(listed, list):
            people.update(str(name) for name in listed)
    return sorted(people), sorted(teams, key=str)


@pytest.mark.parametrize("seed", range(3))
async def test_nims_samples_imported_give_what_the_webhook_gives(
    seed: int, webhook: Webhook, store: SessionStore, imported: SessionStore, tmp_path: Path
) -> None:
    events = samples()
    assert len(events) >= 20
    rng = random.Random(seed)
    await post_all(webhook, rng, events)
    history_file = tmp_path / "samples.jsonl"
    history_file.write_bytes(b"".join(line + b"\n" for line in lines(events)))

    report = await import_file(imported, history_file, batch_lines=rng.choice([1, 4, 100]))

    assert not report.rejected
    assert report.ignored >= 4  # system notifications, a refused message, a login
    people, teams = sample_accounts(events)
    assert await state(imported, people, teams) == await state(store, people, teams)


async def test_a_batch_counts_applied_duplicate_and_ignored_lines_as_the_webhook_does(
    store: SessionStore,
) -> None:
    message = {"eventType": "1", "convType": "PERSON", "to": "123", "fromAccount": "0123",
               "msgTimestamp": str(BASE), "msgType": "TEXT", "msgidServer": "10"}  # fmt: skip
    recall = {"eventType": "7", "msgId": "10", "from": "0123", "to": "123",
              "deleteTime": str(BASE + 5)}  # fmt: skip
    login = {"eventType": "2", "accid": "123"}
    batch = lines([message, message, recall, recall, login])

    first = await import_lines(store, batch)
    again = await import_lines(store, batch)

    assert (first.applied, first.duplicate, first.ignored) == (2, 2, 1)
    assert (again.applied, again.duplicate, again.ignored) == (0, 4, 1)
    [session] = (await store.list_sessions("123", PageQuery(TimeWindow()))).sessions
    assert (session.last_message_id, session.unread_count) == ("10", 0)
    assert session.revoke is not None


async def test_a_file_with_a_team_list_amid_its_history_imported_twice_changes_nothing(
    tmp_path: Path, store: SessionStore
) -> None:
    team = {"eventType": "1", "convType": "TEAM", "to": "77", "fromAccount": "123",
            "msgType": "TEXT"}  # fmt: skip
    events = [{**team, "msgTimestamp": str(BASE + n), "msgidServer": str(500 + n)}
              for n in range(10)]  # fmt: skip
    joined = {"tid": "77", "type": "TEAM", "members": ["123", "0123"], "time": BASE + 6}
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines([*events, joined])))

    await import_file(store, path)
    first = await state(store, ["123", "0123"], [SessionKey(SessionType.TEAM, "77")])
    again = await import_file(store, path)

    assert (again.applied, again.duplicate, again.teams) == (0, 10, 1)
    assert await state(store, ["123", "0123"], [SessionKey(SessionType.TEAM, "77")]) == first
    assert first["0123"] == ([("team|77", BASE + 9, "", LastMessageKind.MESSAGE, "509", None, 4,
                               None, False)], 4, 4)  # fmt: skip


async def test_a_message_stored_meanwhile_by_the_webhook_is_a_duplicate_of_the_batch(
    store: SessionStore,
) -> None:
    """The batch looks for its messages first; one the webhook stores after that look (on
    PostgreSQL, another process) must still be recognised when the batch inserts."""
    first = {"eventType": "1", "convType": "PERSON", "to": "123", "fromAccount": "0123",
             "msgTimestamp": str(BASE), "msgType": "TEXT", "msgidServer": "10"}  # fmt: skip
    second = {**first, "msgTimestamp": str(BASE + 1), "msgidServer": "11"}
    await import_lines(store, lines([first]))
    assert isinstance(store, SqlStore)
    # The look that would have found it finds nothing, as if it came just after.
    store._bulk.messages_by_id += " AND 1 = 0"

    report = await import_lines(store, lines([first, second]))

    assert (report.applied, report.duplicate) == (1, 1)
    [session] = (await store.list_sessions("123", PageQuery(TimeWindow()))).sessions
    assert (session.last_message_id, session.unread_count) == ("11", 2)


async def test_a_late_kick_after_a_long_imported_team_history_gives_what_the_webhook_gives(
    webhook: Webhook, store: SessionStore, imported: SessionStore
) -> None:
    """An import keeps the team's membership checkpoints as the webhook keeps them (every so
    many writes), so a late event after it finds the members before it as it would have."""
    members = ["123", "0123", "7", "alice"]
    team = {"eventType": "1", "convType": "TEAM", "to": "88", "msgType": "TEXT"}
    events = [{**team, "fromAccount": members[n % 3], "msgTimestamp": str(BASE + 10 * n),
               "msgidServer": str(1000 + n), "tMembers": f"[{', '.join(members)}]"}
              for n in range(200)]  # fmt: skip
    kick = {**team, "fromAccount": "123", "msgType": "NOTIFICATION", "msgTimestamp": str(BASE + 5),
            "msgidServer": "999", "attach": {"id": 1, "data": {"ids": ["alice"]}}}  # fmt: skip
    for event in events:
        await webhook.ok(event)
    await import_lines(imported, lines(events))
    key = SessionKey(SessionType.TEAM, "88")
    kept = await checkpoints(store, key)
    assert kept
    assert len(await checkpoints(imported, key)) == len(kept)

    await webhook.ok(kick)
    await Ingestor(imported).apply_json(kick)

    assert await state(imported, members, [key]) == await state(store, members, [key])
