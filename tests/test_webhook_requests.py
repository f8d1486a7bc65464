"""What the webhook refuses, keeps as a dead letter, and merely acknowledges."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.domain.checksum import sign
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock, Webhook
from tests.helpers import APP_SECRET, T0, cc_message


async def nothing_stored(store: SessionStore) -> bool:
    return await store.is_empty()


def error_of(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]


async def test_a_wrong_app_secret_is_refused(webhook: Webhook, store: SessionStore) -> None:
    response = await webhook(cc_message("m1", "alice", "bob", T0), secret="guess")
    assert error_of(response) == (403, "BAD_CHECKSUM")
    assert await nothing_stored(store)


async def test_a_body_that_does_not_match_its_md5_is_refused(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore
) -> None:
    signed = sign(APP_SECRET, orjson.dumps(cc_message("m1", "alice", "bob", T0)), clock.now)
    tampered = orjson.dumps(cc_message("m1", "mallory", "bob", T0))
    response = await http.post("/nim/cc", content=tampered, headers=signed)
    assert error_of(response) == (403, "BAD_MD5")
    assert await nothing_stored(store)


@pytest.mark.parametrize("missing", ["MD5", "CurTime", "CheckSum"])
async def test_unsigned_requests_are_refused(
    http: httpx.AsyncClient, clock: Clock, missing: str
) -> None:
    body = orjson.dumps(cc_message("m1", "alice", "bob", T0))
    headers = sign(APP_SECRET, body, clock.now)
    del headers[missing]
    assert error_of(await http.post("/nim/cc", content=body, headers=headers)) == (
        403, "MISSING_SIGNATURE",
    )  # fmt: skip


@pytest.mark.parametrize("offset_ms", [-301_000, 301_000])
async def test_a_curtime_outside_five_minutes_is_a_replay(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore, offset_ms: int
) -> None:
    body = orjson.dumps(cc_message("m1", "alice", "bob", T0))
    headers = sign(APP_SECRET, body, clock.now + offset_ms)
    assert error_of(await http.post("/nim/cc", content=body, headers=headers)) == (
        403, "STALE_CURTIME",
    )  # fmt: skip
    assert await nothing_stored(store)


async def test_curtime_in_seconds_is_accepted(http: httpx.AsyncClient, clock: Clock) -> None:
    body = orjson.dumps(cc_message("m1", "alice", "bob", T0))
    headers = sign(APP_SECRET, body, clock.now // 1000)
    response = await http.post("/nim/cc", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def test_the_empty_probe_answers_200_signed_or_not(
    http: httpx.AsyncClient, webhook: Webhook, store: SessionStore
) -> None:
    assert (await http.post("/nim/cc", content=b"{}")).status_code == 200
    assert (await webhook({})).status_code == 200
    assert await nothing_stored(store)


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b"not json", "BAD_JSON", "JSON"),
        (b"[1, 2]", "NOT_AN_OBJECT", "object"),
        (orjson.dumps({"convType": "PERSON"}), "MISSING_EVENT_TYPE", "eventType"),
        (orjson.dumps({"eventType": "one"}), "BAD_EVENT", "eventType"),
        (orjson.dumps({**cc_message("m1", "a", "b", T0), "convType": 5}), "BAD_EVENT",
         "convType"),
        (orjson.dumps({k: v for k, v in cc_message("m1", "a", "b", T0).items() if k != "to"}),
         "MISSING_FIELD", "to"),
        (orjson.dumps({**cc_message("", "a", "b", T0)}), "MISSING_FIELD", "msgidServer"),
        (orjson.dumps({**cc_message("m1", "a", "b", T0), "msgTimestamp": "-5"}), "BAD_EVENT",
         "msgTimestamp"),
        (orjson.dumps({**cc_message("m1", "a b", "b", T0)}), "BAD_EVENT", "fromAccount"),
        (orjson.dumps({"eventType": "7", "from": "a", "to": "b", "deleteTime": "1"}),
         "MISSING_FIELD", "msgId"),
    ],
    ids=["not-json", "array", "no-event-type", "bad-event-type", "bad-conv-type", "no-to",
         "empty-msgid", "negative-time", "bad-account", "recall-without-id"],
)  # fmt: skip
async def test_signed_bodies_it_cannot_use_are_answered_200_as_dead_letters_saying_why(
    webhook: Webhook, store: SessionStore, body: bytes, code: str, says: str
) -> None:
    answer = await webhook.ok(body)
    assert (answer["outcome"], answer["error"]["code"]) == ("dead_letter", code)
    assert says in answer["error"]["message"]
    assert await nothing_stored(store)
    [letter] = await store.dead_letters(body_bytes=len(body))
    assert (letter.id, letter.reason, letter.body) == (answer["deadLetter"], code, body)


@pytest.mark.parametrize("event_type", [2, 3, 4, 5, 6, 9, 42])
async def test_events_the_service_does_not_use_are_counted_not_stored(
    webhook: Webhook, http: httpx.AsyncClient, store: SessionStore, event_type: int
) -> None:
    body = {"eventType": event_type, "accid": "alice", "clientType": "WEB"}
    assert await webhook.ok(body) == {"outcome": "ignored"}
    assert await nothing_stored(store)
    label = str(event_type) if event_type < 10 else "other"
    metrics = (await http.get("/metrics")).text
    line = f'gateway_webhook_events_total{{event_type="{label}",outcome="ignored"}} 1.0'
    assert line in metrics


async def test_an_oversized_body_is_413(webhook: Webhook, store: SessionStore) -> None:
    body = cc_message("m1", "alice", "bob", T0, text="x" * 1_100_000)
    assert error_of(await webhook(body)) == (413, "BODY_TOO_LARGE")
    assert await nothing_stored(store)


async def test_without_an_app_secret_the_webhook_is_off(
    settings: Settings, store: SessionStore, clock: Clock
) -> None:
    off = settings.model_copy(update={"nim_app_secret": None})
    transport = httpx.ASGITransport(app=create_app(off, store=store, clock=clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.post("/nim/cc", content=b'{"eventType": 1}')
    assert error_of(response) == (503, "WEBHOOK_DISABLED")


async def test_the_team_registry_replaces_adds_and_removes(webhook: Webhook) -> None:
    path = "/nim/teams/42/members"
    assert await webhook.ok({"type": "TEAM", "members": ["a", "b", "b"]}, path, method="PUT") == {
        "team": "team|42", "count": 2,
    }  # fmt: skip
    assert (await webhook.ok({"type": "TEAM", "members": ["c"]}, path + ":add"))["count"] == 3
    assert (await webhook.ok({"type": "TEAM", "members": ["a"]}, path + ":remove"))["count"] == 2
    listed = await webhook.ok(b"", path + "?type=TEAM", method="GET")
    assert listed == {"team": "team|42", "members": ["b", "c"], "count": 2}
    replaced = await webhook.ok({"type": "TEAM", "members": ["z"]}, path, method="PUT")
    assert replaced["count"] == 1


@pytest.mark.parametrize(
    "body",
    [{"type": "CHATROOM", "members": ["a"]}, {"type": "TEAM", "members": "a"},
     {"type": "TEAM", "members": ["ok", 5.5]}, {"type": "TEAM", "members": [""]}, ["a"]],
)  # fmt: skip
async def test_bad_team_bodies_are_400(webhook: Webhook, body: object) -> None:
    response = await webhook(body, "/nim/teams/42/members", method="PUT")
    assert error_of(response) == (400, "BAD_EVENT")


async def test_team_changes_must_be_signed(http: httpx.AsyncClient) -> None:
    response = await http.put("/nim/teams/42/members", json={"type": "TEAM", "members": ["m"]})
    assert error_of(response) == (403, "MISSING_SIGNATURE")


async def test_a_nul_character_is_refused_on_every_backend(
    webhook: Webhook, store: SessionStore
) -> None:
    # Found by the fuzzing suite: PostgreSQL text cannot hold NUL, so it failed there with a 500.
    # Any user can type one: the body is kept as a dead letter, not retried for ever.
    body = {**cc_message("m1", "alice", "bob", T0), "body": "a\x00b"}
    answer = await webhook.ok(body)
    assert (answer["outcome"], answer["error"]["code"]) == ("dead_letter", "NUL_CHARACTER")
    assert await nothing_stored(store)
