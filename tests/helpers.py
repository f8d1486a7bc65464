"""Small builders shared by the tests: messages, deliveries and GraphQL calls."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time as clock
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import httpx
import jwt
import orjson

from gateway.domain.checksum import sign, sign_request
from gateway.domain.keys import SessionKey, SessionType, p2p_conversation
from gateway.domain.sessions import Delivery, Message, MessageType
from gateway.live import ChangeNotifier
from gateway.settings import Settings
from gateway.store._migrations import load_migrations
from gateway.store.base import SessionStore

SECRET = "test-secret-that-is-long-enough-for-hs256"
APP_SECRET = "nim-app-secret"
T0 = 1_790_000_000_000  # 2026-09-21T14:13:20.000Z


def bearer_token(account: str, ttl_s: int = 600) -> str:
    """A token for ``account`` signed with SECRET, as the viewer's login service would issue it."""
    claims = {"sub": account, "exp": int(clock.time()) + ttl_s}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def bounded_pages(items: int, page_size: int) -> Iterator[int]:
    """Numbers the pages (1, 2, ...) of a walk over ``items`` in pages of ``page_size``. Asking
    for a page more than those items need fails the test: a cursor that does not advance would
    otherwise loop for ever."""
    limit = max(1, math.ceil(items / page_size))
    yield from range(1, limit + 1)
    raise AssertionError(f"a walk over {items} items took more than {limit} pages of {page_size}")


async def until(condition: Callable[[], bool | Awaitable[bool]], seconds: float = 10) -> None:
    """Return once ``condition`` holds, looking again every 10 ms; fail after ``seconds``."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        held = condition()
        if held if isinstance(held, bool) else await held:
            return
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


def p2p(account: str) -> SessionKey:
    return SessionKey(SessionType.P2P, account)


def team(tid: str) -> SessionKey:
    return SessionKey(SessionType.TEAM, tid)


def text_message(server_id: str, sender: str, time: int, text: str = "hi") -> Message:
    return Message(server_id, sender, MessageType.TEXT, time, client_id=f"c-{server_id}", text=text)


def p2p_deliveries(sender: str, recipient: str) -> list[Delivery]:
    return [Delivery(sender, p2p(recipient)), Delivery(recipient, p2p(sender))]


async def send(
    store: SessionStore, server_id: str, sender: str, recipient: str, time: int, text: str = "hi"
) -> Message:
    message = text_message(server_id, sender, time, text)
    message = replace(message, conversation=p2p_conversation(sender, recipient))
    await store.record_message(message, p2p_deliveries(sender, recipient))
    return message


def cc_message(
    msgid: str, sender: str, to: str, time: int, *, conv: str = "PERSON", text: str = "hi"
) -> dict[str, Any]:
    """A NIM message-CC event (eventType 1), with NIM's habit of sending numbers as text."""
    return {
        "eventType": "1", "convType": conv, "to": to, "fromAccount": sender,
        "fromClientType": "WEB", "fromDeviceId": "d1", "fromNick": sender,
        "msgTimestamp": str(time), "msgType": "TEXT", "body": text,
        "msgidClient": f"c-{msgid}", "msgidServer": msgid,
    }  # fmt: skip


def cc_recall(
    msgid: str,
    sender: str,
    to: str,
    time: int,
    *,
    event_type: int = 7,
    note: str | None = None,
    sent: int | None = None,
) -> dict[str, Any]:
    """NIM's recall (eventType 7 P2P, 8 team, 25 super team) of ``sender``'s message ``msgid``,
    at ``time``; ``sent`` is the recalled message's send time (NIM's sendTime)."""
    body: dict[str, Any] = {"eventType": str(event_type), "msgId": msgid, "from": sender,
                            "to": to, "deleteTime": str(time), "fromClientType": "WEB",
                            "clientId": f"c-{msgid}", "attach": ""}  # fmt: skip
    if sent is not None:
        body["sendTime"] = str(sent)
    if note is not None:
        body["selfMsg"] = note
    return body


async def post_signed(
    http: httpx.AsyncClient,
    path: str,
    body: Any,
    now: int,
    *,
    secret: str = APP_SECRET,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """``body`` signed as NIM signs the message CC, or, for the team registry (``/nim/teams/``),
    with the registry's own signature over the method, path, query and body."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    if path.startswith("/nim/teams/"):
        signature = sign_request(secret, method, path, raw, now)
    else:
        signature = sign(secret, raw, now)
    signed = {**signature, "Content-Type": "application/json", **(headers or {})}
    return await http.request(method, path, content=raw, headers=signed)


async def raw_sql(settings: Settings, statement: str) -> list[tuple[Any, ...]]:
    """Run SQL on the test's database behind the store's back (to break or inspect it)."""
    if settings.uses_postgres():
        db = await asyncpg.connect(settings.database_url)
        try:
            if ";" in statement:  # a script: no rows
                await db.execute(statement)
                return []
            return [tuple(row) for row in await db.fetch(statement)]
        finally:
            await db.close()
    with sqlite3.connect(settings.sqlite_path()) as lite:
        rows = lite.executescript(statement) if ";" in statement else lite.execute(statement)
        return [tuple(row) for row in rows.fetchall()]


async def database_of_release(settings: Settings, migrations: dict[str, int], rows: str) -> None:
    """The test's database as an earlier release left it: its first ``migrations[backend]``
    migrations applied, then ``rows`` (SQL both backends accept)."""
    if settings.uses_postgres():
        db = await asyncpg.connect(settings.database_url)
        try:
            await db.execute(
                "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for m in load_migrations("postgres")[: migrations["postgres"]]:
                await db.execute(m.sql)
                await db.execute("INSERT INTO schema_migrations VALUES ($1, $2)", m.version, m.name)
            await db.execute(rows)
        finally:
            await db.close()
        return
    with sqlite3.connect(settings.sqlite_path()) as lite:
        for m in load_migrations("sqlite")[: migrations["sqlite"]]:
            lite.executescript(m.sql)
        lite.executescript(f"{rows}; PRAGMA user_version = {migrations['sqlite']};")


@dataclass
class Response:
    data: Any
    errors: list[dict[str, Any]]

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.token = token

    async def __call__(self, query: str, **variables: Any) -> Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code in (200, 429), response.text
        body = response.json()
        return Response(body.get("data"), body.get("errors", []))

    async def ok(self, query: str, **variables: Any) -> Any:
        result = await self(query, **variables)
        assert not result.errors, result.errors
        return result.data


def waiting(store: SessionStore, account: str, subscriptions: int = 1) -> bool:
    """Whether ``subscriptions`` of ``account`` wait for news in the app's notifier (a commit
    before that may come before they started, and show in none of their events)."""
    listeners = store._listeners  # type: ignore[attr-defined]
    notifiers = [n for n in listeners if isinstance(n, ChangeNotifier)]
    parked = [w for n in notifiers for w in n._watchers.get(account, ()) if w.parked]
    return len(parked) >= subscriptions
