"""Nothing correctly signed is lost or retried for ever (issue 23): a signed CC body the gateway
cannot apply is answered 200 and kept whole as a dead letter, counted by reason and logged once;
`gateway dead-letters list|show|replay|purge` reads it and applies it again through the webhook's
own ingestion. Badly signed bodies stay 403, oversize ones 413."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.dead_letters import replay
from gateway.domain.checksum import sign
from gateway.domain.keys import SessionKey, SessionType
from gateway.ingest import Ingestor
from gateway.settings import Settings
from gateway.store.base import SessionStore
from tests.conftest import Clock, Webhook
from tests.helpers import APP_SECRET, T0, cc_message, post_signed

MESSAGE = cc_message("m1", "alice", "bob", T0)


def without(field: str) -> bytes:
    return orjson.dumps({k: v for k, v in MESSAGE.items() if k != field})


# Issue 23's item 5: what an earlier gateway answered 400 (so NIM sent it again, for ever).
ITEM_5: dict[str, tuple[bytes, str]] = {
    "not-json": (b'{"eventType": "1", "convType": "PER', "BAD_JSON"),
    "json-array": (orjson.dumps([MESSAGE]), "NOT_AN_OBJECT"),
    "no-event-type": (without("eventType"), "MISSING_EVENT_TYPE"),
    "non-numeric-event-type": (orjson.dumps({**MESSAGE, "eventType": "one"}), "BAD_EVENT"),
    "no-msg-timestamp": (without("msgTimestamp"), "MISSING_FIELD"),
    "no-msgid-server": (without("msgidServer"), "MISSING_FIELD"),
    "nul-in-text": (orjson.dumps({**MESSAGE, "body": "a\x00b"}), "NUL_CHARACTER"),
}
# What an earlier gateway refused and this one applies: `to` and `fromAccount` as JSON numbers.
NUMERIC = orjson.dumps({**cc_message("n1", "x", "x", T0), "fromAccount": 10001, "to": 10002})


async def cli(*args: str) -> Result:
    """`gateway ...`, in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def dead_letters(settings: Settings, *args: str) -> Result:
    return await cli("dead-letters", *args, "--db", settings.database_url)


async def keep_as_an_earlier_gateway(settings: Settings, body: bytes, reason: str) -> None:
    """A letter written behind the store's back, as a gateway that could not use it kept it."""
    row = (T0, reason, "to must be a string", '{"CurTime": "1"}', body)
    insert = "INSERT INTO dead_letters (received_at, reason, detail, headers, body) "
    if settings.uses_postgres():
        db = await asyncpg.connect(settings.database_url)
        try:
            await db.execute(insert + "VALUES ($1, $2, $3, $4, $5)", *row)
        finally:
            await db.close()
        return
    with sqlite3.connect(settings.sqlite_path()) as lite:
        lite.execute(insert + "VALUES (?, ?, ?, ?, ?)", row)


def ids_listed(result: Result) -> list[int]:
    assert result.exit_code == 0, result.output
    return [int(line.split("\t")[0]) for line in result.stdout.splitlines() if "\t" in line]


@pytest.mark.parametrize(("body", "reason"), ITEM_5.values(), ids=ITEM_5.keys())
async def test_a_signed_body_it_cannot_use_is_answered_200_and_kept_whole(
    body: bytes, reason: str, webhook: Webhook, store: SessionStore, clock: Clock
) -> None:
    answer = await webhook.ok(body)
    assert (answer["outcome"], answer["error"]["code"]) == ("dead_letter", reason)
    assert await store.is_empty()
    letter = await store.dead_letter(answer["deadLetter"])
    assert letter is not None
    assert (letter.body, letter.size, letter.reason) == (body, len(body), reason)
    assert letter.detail == answer["error"]["message"]
    assert letter.received_at == clock.now
    assert set(letter.headers) == {"MD5", "CurTime", "CheckSum", "Content-Type"}
    assert letter.headers["CurTime"] == str(clock.now)


async def test_each_of_them_is_listed_counted_by_reason_and_logged_once(
    webhook: Webhook,
    http: httpx.AsyncClient,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway"):
        kept = [(await webhook.ok(body))["deadLetter"] for body, _ in ITEM_5.values()]
    logged = [r for r in caplog.records if r.name == "gateway.dead_letters"]
    assert [r.args[0] for r in logged if isinstance(r.args, tuple)] == kept
    listed = await dead_letters(settings, "list")
    assert ids_listed(listed) == kept
    for (_, reason), line in zip(ITEM_5.values(), listed.stdout.splitlines(), strict=True):
        assert f"\t{reason}\t" in line
    metrics = (await http.get("/metrics")).text
    for reason in {"BAD_JSON", "NOT_AN_OBJECT", "MISSING_EVENT_TYPE", "BAD_EVENT",
                   "NUL_CHARACTER"}:  # fmt: skip
        assert f'gateway_webhook_dead_letters_total{{reason="{reason}"}} 1.0' in metrics
    assert 'gateway_webhook_dead_letters_total{reason="MISSING_FIELD"} 2.0' in metrics


async def test_numeric_ids_are_no_longer_dead_letters(webhook: Webhook, settings: Settings) -> None:
    assert await webhook.ok(NUMERIC) == {"outcome": "applied"}
    listed = await webhook.ok(orjson.dumps({**MESSAGE, "tMembers": "[123, 456]", "to": 42,
                                            "convType": "TEAM"}))  # fmt: skip
    assert listed == {"outcome": "applied"}
    assert ids_listed(await dead_letters(settings, "list")) == []


async def test_a_badly_signed_body_is_403_and_an_oversize_one_413_neither_kept(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore
) -> None:
    body = b"not json"
    wrong = await post_signed(http, "/nim/cc", body, clock.now, secret="guess")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "BAD_CHECKSUM")
    signed = sign(APP_SECRET, body, clock.now)
    tampered = await http.post("/nim/cc", content=b"not JSON", headers=signed)
    assert tampered.status_code == 403
    huge = b"x" * 1_100_000
    too_large = await post_signed(http, "/nim/cc", huge, clock.now)
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "BODY_TOO_LARGE")
    assert await store.dead_letters() == []


async def test_replay_applies_a_letter_the_gateway_can_use_now_and_again_changes_nothing(
    settings: Settings, store: SessionStore
) -> None:
    await keep_as_an_earlier_gateway(settings, NUMERIC, "BAD_EVENT")
    [letter] = await store.dead_letters()
    replayed = await dead_letters(settings, "replay", "--all")
    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout == f"{letter.id}\tapplied\n"
    [bobs] = await store.get_sessions("10002", [SessionKey(SessionType.P2P, "10001")])
    assert (bobs.last_message_id, bobs.unread_count) == ("n1", 1)
    assert await store.dead_letters() == []

    again = await dead_letters(settings, "replay", "--all")
    assert (again.exit_code, again.stdout) == (0, "")
    by_id = await dead_letters(settings, "replay", str(letter.id))
    assert (by_id.exit_code, by_id.stdout) == (0, f"{letter.id}\tmissing\tno such dead letter\n")
    [bobs] = await store.get_sessions("10002", [SessionKey(SessionType.P2P, "10001")])
    assert bobs.unread_count == 1


async def test_replay_of_a_letter_applied_meanwhile_is_a_duplicate_and_forgets_it(
    settings: Settings, store: SessionStore, webhook: Webhook
) -> None:
    await keep_as_an_earlier_gateway(settings, NUMERIC, "BAD_EVENT")
    assert await webhook.ok(NUMERIC) == {"outcome": "applied"}  # NIM sent it again meanwhile
    [letter] = await store.dead_letters()
    replayed = await dead_letters(settings, "replay", str(letter.id))
    assert replayed.stdout == f"{letter.id}\tduplicate\n"
    assert await store.dead_letters() == []
    [bobs] = await store.get_sessions("10002", [SessionKey(SessionType.P2P, "10001")])
    assert bobs.unread_count == 1


async def test_replay_keeps_a_letter_still_refused_and_says_why(
    webhook: Webhook, settings: Settings, store: SessionStore
) -> None:
    kept = (await webhook.ok(ITEM_5["nul-in-text"][0]))["deadLetter"]
    await keep_as_an_earlier_gateway(settings, NUMERIC, "BAD_EVENT")
    replayed = await dead_letters(settings, "replay", "--all")
    assert replayed.exit_code == 1
    lines = replayed.stdout.splitlines()
    assert lines[0] == f"{kept}\tNUL_CHARACTER\tbody contains a NUL character"
    assert lines[1].endswith("\tapplied")
    assert [letter.id for letter in await store.dead_letters()] == [kept]


async def test_show_prints_the_letter_and_raw_writes_its_body_byte_for_byte(
    webhook: Webhook, settings: Settings
) -> None:
    body = ITEM_5["not-json"][0] + b"\xff\x00\x1b[2J\n"  # not UTF-8, NUL, a terminal's escape
    kept = (await webhook.ok(body))["deadLetter"]
    shown = await dead_letters(settings, "show", str(kept))
    assert shown.exit_code == 0, shown.output
    assert "reason: BAD_JSON\n" in shown.stdout
    assert "header CheckSum: " in shown.stdout
    assert shown.stdout.endswith('{"eventType": "1", "convType": "PER\\xff\\x00\\x1b[2J\n\n')
    raw = await dead_letters(settings, "show", str(kept), "--raw")
    assert raw.stdout_bytes == body
    missing = await dead_letters(settings, "show", "999999")
    assert missing.exit_code == 1
    assert "no dead letter 999999" in missing.output


async def test_purge_deletes_the_letters_named_older_than_a_time_or_all(
    webhook: Webhook, settings: Settings, store: SessionStore, clock: Clock
) -> None:
    bodies = [body for body, _ in ITEM_5.values()]
    kept = [(await webhook.ok(body))["deadLetter"] for body in bodies[:3]]
    clock.now += 2 * 86_400_000  # two days later
    kept += [(await webhook.ok(body))["deadLetter"] for body in bodies[3:]]
    named = await dead_letters(settings, "purge", str(kept[0]), str(kept[-1]))
    assert named.stdout == "purged 2 dead letters\n"
    # The CLI's clock is the wall clock: the letters here are years old.
    old = await dead_letters(settings, "purge", "--older-than", "0.5")
    assert old.stdout == f"purged {len(kept) - 2} dead letters\n"
    assert await store.dead_letters() == []
    await webhook.ok(bodies[0])
    assert (await dead_letters(settings, "purge", "--all")).stdout == "purged 1 dead letter\n"
    refused = await dead_letters(settings, "purge")
    assert refused.exit_code == 2  # a usage error: nothing said what to purge


async def test_the_table_keeps_the_newest_letters_up_to_its_limit(
    app_with: Callable[..., httpx.AsyncClient], clock: Clock, store: SessionStore
) -> None:
    async with app_with(dead_letter_limit=3) as http:
        kept: list[Any] = []
        for body, _ in ITEM_5.values():
            response = await post_signed(http, "/nim/cc", body, clock.now)
            kept.append(response.json()["deadLetter"])
    assert [letter.id for letter in await store.dead_letters()] == kept[-3:]


async def test_a_body_that_trips_a_bug_is_kept_too_and_logged_once_with_its_traceback(
    webhook: Webhook,
    store: SessionStore,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(document: object, **_: object) -> object:
        raise ValueError("a bug in reading it")

    monkeypatch.setattr("gateway.ingest.parse_event", broken)
    with caplog.at_level(logging.WARNING, logger="gateway"):
        answer = await webhook.ok(MESSAGE)
    assert (answer["outcome"], answer["error"]["code"]) == ("dead_letter", "UNEXPECTED")
    [logged] = [r for r in caplog.records if r.name.startswith("gateway")]
    assert logged.exc_info is not None
    letter = await store.dead_letter(answer["deadLetter"])
    assert letter is not None
    assert letter.detail == "ValueError: a bug in reading it"
    monkeypatch.undo()  # the bug fixed, the letter applies
    replayed = [r async for r in replay(store, Ingestor(store), None)]
    assert [(r.id, r.outcome) for r in replayed] == [(letter.id, "applied")]
    [bobs] = await store.get_sessions("bob", [SessionKey(SessionType.P2P, "alice")])
    assert bobs.last_message_id == "m1"
