"""The SQL floor for W3's team messages: what a careful engineer would hand-write to put one
signed NIM team message into every member's session list, on the gateway's own SQLite schema.

    python -m bench.teamfloor DATABASE_PATH APP_SECRET PORT

What it does, per ``POST /nim/cc``: checks the signature as NIM signs it (``MD5`` of the body,
``CheckSum`` = SHA-1 of secret + MD5 + CurTime, CurTime within 5 minutes; hashlib and
``hmac.compare_digest``), parses the JSON, and in ONE transaction (``BEGIN IMMEDIATE`` ...
``COMMIT``, WAL and ``synchronous = FULL`` as the gateway's SQLite driver sets them) writes what
the gateway's semantics require of an on-time team message: the message inserted once (a
duplicate ``msgidServer`` writes nothing else), each member's clock in ``sync_clocks`` ticked
(one statement), and each member's ``sessions`` row upserted (one statement), stamped with that
member's new version: the message becomes the last one where it is newer than the current one and
the deletion horizon, and counts as unread for everyone but the sender where it is after the read
mark and the horizon. 200 goes out after COMMIT. It writes as the gateway's driver does: one
aiosqlite connection (its own thread, so the event loop keeps reading requests while SQLite
writes and syncs) behind an asyncio lock.

What it does not do: it knows the members from ``team_members`` alone and applies none of the
late-event rules (no look for newer events of the team, no membership facts or snapshots from
``tMembers`` or notifications, no rebuilds; a sender who is no member stays none, where the
gateway learns from the message that they are one), takes no team lock (one writer
connection), does not look for a recall that came before its message, returns no changed rows
(nobody is told of the commit: no live subscriptions) and keeps no metrics or logs. Other event
types are answered 200 without a write, so only team messages measure anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_SKEW_MS = 300_000
TEAM_KIND = 1  # sessions.kind of a team (gateway/store/_lists.py KINDS)

INSERT_MESSAGE = """
INSERT INTO messages (server_id, client_id, from_account, type, time, text, attachment, ext,
                      team_key, conversation)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
TICK_MEMBERS = """
INSERT INTO sync_clocks AS c (owner, version)
SELECT member, 1 FROM team_members WHERE team_key = ?
ON CONFLICT (owner) DO UPDATE SET version = c.version + 1
"""
# Named parameters: team, id, time, sender.
_NEWER = (
    ":time > s.horizon AND (s.last_msg_time IS NULL OR (:time, :id) > (s.last_msg_time, "
    "s.last_msg_id))"
)
_COUNTS = "excluded.unread > 0 AND :time > s.horizon AND :time > s.read_horizon"
DELIVER = f"""
INSERT INTO sessions AS s (owner, key, kind, update_time, last_kind, last_msg_id, last_msg_time,
                           unread, version)
SELECT m.member, :team, {TEAM_KIND}, :time, 0, :id, :time, m.member <> :sender, c.version
FROM team_members m JOIN sync_clocks c ON c.owner = m.member WHERE m.team_key = :team
ON CONFLICT (owner, key) DO UPDATE SET
    update_time = CASE WHEN {_NEWER} THEN :time ELSE s.update_time END,
    last_kind = CASE WHEN {_NEWER} THEN 0 ELSE s.last_kind END,
    last_msg_id = CASE WHEN {_NEWER} THEN :id ELSE s.last_msg_id END,
    last_msg_time = CASE WHEN {_NEWER} THEN :time ELSE s.last_msg_time END,
    revoke_operator = CASE WHEN {_NEWER} THEN NULL ELSE s.revoke_operator END,
    revoke_time = CASE WHEN {_NEWER} THEN NULL ELSE s.revoke_time END,
    revoke_postscript = CASE WHEN {_NEWER} THEN NULL ELSE s.revoke_postscript END,
    deleted_at = CASE WHEN {_NEWER} THEN NULL ELSE s.deleted_at END,
    unread = s.unread + ({_COUNTS}),
    version = excluded.version
WHERE ({_NEWER}) OR ({_COUNTS})
"""  # noqa: S608 (constant fragments)


def signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    md5, cur_time = headers.get("md5", ""), headers.get("curtime", "")
    given = headers.get("checksum", "")
    if not (md5 and cur_time.isdigit() and given):
        return False
    digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
    expected = hashlib.sha1((secret + md5 + cur_time).encode(), usedforsecurity=False).hexdigest()
    stamp = int(cur_time)
    stamp_ms = stamp * 1000 if stamp < 100_000_000_000 else stamp
    return (
        md5.isascii()
        and hmac.compare_digest(md5.lower(), digest)
        and given.isascii()
        and hmac.compare_digest(given.lower(), expected)
        and abs(time.time() * 1000 - stamp_ms) <= MAX_SKEW_MS
    )


async def record(db: aiosqlite.Connection, event: dict[str, object]) -> bool:
    """One team message in one transaction; False (nothing written) for a duplicate."""
    team = f"team|{event['to']}"
    sender, server_id = str(event["fromAccount"]), str(event["msgidServer"])
    sent = event["msgTimestamp"]
    message = (server_id, event.get("msgidClient"), sender, event.get("msgType", "TEXT"), sent,
               event.get("body"), None, None, team, team)  # fmt: skip
    await db.execute("BEGIN IMMEDIATE")
    try:
        inserted = (await db.execute(INSERT_MESSAGE, message)).rowcount
        if inserted:
            await db.execute(TICK_MEMBERS, (team,))
            await db.execute(DELIVER, {"team": team, "id": server_id, "time": sent,
                                       "sender": sender})  # fmt: skip
    except BaseException:
        await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")
    return bool(inserted)


def build(path: str, secret: str) -> Starlette:
    writer: list[aiosqlite.Connection] = []
    lock = asyncio.Lock()

    async def cc(request: Request) -> Response:
        body = await request.body()
        if not signed(secret, dict(request.headers), body):
            return Response(b'{"error":"signature"}', 403, media_type="application/json")
        event = orjson.loads(body)
        outcome = "ignored"
        if event.get("eventType") == 1 and event.get("convType") == "TEAM":
            async with lock:
                outcome = "applied" if await record(writer[0], event) else "duplicate"
        return Response(orjson.dumps({"outcome": outcome}), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with aiosqlite.connect(path, isolation_level=None) as db:
            for pragma in ("journal_mode = WAL", "synchronous = FULL", "busy_timeout = 5000"):
                await db.execute(f"PRAGMA {pragma}")
            writer.append(db)
            yield

    return Starlette(routes=[Route("/nim/cc", cc, methods=["POST"])], lifespan=lifespan)


if __name__ == "__main__":
    uvicorn.run(
        build(sys.argv[1], sys.argv[2]), host="127.0.0.1", port=int(sys.argv[3]),
        log_level="warning",
    )  # fmt: skip
