"""Malformed input from outside, on every backend: a 4xx with a JSON error (or BAD_USER_INPUT), or,
for a correctly signed message-CC body, a dead letter answered 200; never a 500."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import orjson
import pytest

from gateway.domain.checksum import sign
from gateway.domain.sync import SyncPosition
from gateway.store import SessionStore
from tests.conftest import Clock, Webhook
from tests.helpers import APP_SECRET, T0, GraphQLClient, cc_message, cc_recall


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return response.status_code, body["error"]["code"]


def dead_letter_of(response: httpx.Response) -> str:
    """The reason a signed CC body was kept as a dead letter (answered 200, or NIM retries)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "dead_letter", body
    assert body["error"]["message"], body
    return str(body["error"]["code"])


# -- numbers and ids of webhook events ------------------------------------------------------------

NOT_NUMBERS = {
    "superscript": "²", "fullwidth": "\uff11\uff12", "arabic-indic": "\u0661\u0662",
    "double-minus": "--1",
    "negative": "-1", "plus": "+1", "spaces": " 1 ", "underscore": "1_000", "empty": "",
    "5000-digits": "1" * 5000, "19-digits": "1" * 19, "json-2^63": 2**63, "json-negative": -1,
    "float": 1.0, "bool": True, "null": None,
}  # fmt: skip


@pytest.mark.parametrize("value", NOT_NUMBERS.values(), ids=NOT_NUMBERS.keys())
@pytest.mark.parametrize("field", ["eventType", "msgTimestamp"])
async def test_a_message_with_a_number_that_is_not_ascii_digits_is_a_dead_letter(
    webhook: Webhook, store: SessionStore, field: str, value: object
) -> None:
    response = await webhook({**cc_message("m1", "alice", "bob", T0), field: value})
    assert dead_letter_of(response) in {"BAD_EVENT", "MISSING_FIELD", "MISSING_EVENT_TYPE"}
    assert field in response.json()["error"]["message"]
    assert await store.is_empty()


@pytest.mark.parametrize("value", ["²", "--1", "1" * 5000], ids=["superscript", "--1", "5000"])
async def test_a_recall_with_a_time_that_is_not_ascii_digits_is_a_dead_letter(
    webhook: Webhook, store: SessionStore, value: str
) -> None:
    response = await webhook({**cc_recall("m1", "alice", "bob", T0), "deleteTime": value})
    assert dead_letter_of(response) == "BAD_EVENT"


async def test_numbers_as_long_as_allowed_are_accepted(webhook: Webhook) -> None:
    # 18 digits: the longest number every backend's BIGINT holds, whatever the digits.
    assert await webhook.ok({"eventType": "9" * 18}) == {"outcome": "ignored"}
    assert await webhook.ok({"eventType": 10**18 - 1}) == {"outcome": "ignored"}


BAD_IDS = {"nul": "m\x00", "space": "m 1", "newline": "m\n", "129-chars": "m" * 129, "empty": "",
           "bool": True, "negative": -1, "object": {"id": 1}}  # fmt: skip


@pytest.mark.parametrize("value", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_a_message_id_that_no_backend_could_hold_is_a_dead_letter(
    webhook: Webhook, store: SessionStore, value: object
) -> None:
    response = await webhook({**cc_message("m1", "alice", "bob", T0), "msgidServer": value})
    assert dead_letter_of(response) in {"BAD_EVENT", "MISSING_FIELD", "NUL_CHARACTER"}
    assert await store.is_empty()


@pytest.mark.parametrize("value", ["m\x00", "m 1", "m" * 129], ids=["nul", "space", "129-chars"])
async def test_a_recalled_id_that_no_backend_could_hold_is_a_dead_letter(
    webhook: Webhook, store: SessionStore, value: str
) -> None:
    response = await webhook(cc_recall(value, "alice", "bob", T0))
    assert dead_letter_of(response) == "BAD_EVENT"
    assert await store.is_empty()


async def test_ids_as_long_as_allowed_and_json_integers_are_accepted(webhook: Webhook) -> None:
    longest = "m" * 128
    assert await webhook.ok(cc_message(longest, "alice", "bob", T0)) == {"outcome": "applied"}
    assert await webhook.ok(cc_recall(longest, "alice", "bob", T0 + 1)) == {"outcome": "applied"}
    numeric = {**cc_message("m", "alice", "bob", T0 + 2), "msgidServer": 6_100_000_000_001}
    assert await webhook.ok(numeric) == {"outcome": "applied"}


# -- signature headers that are not ASCII ---------------------------------------------------------

ENDPOINTS = [
    ("POST", "/nim/cc"),
    ("PUT", "/nim/teams/1/members"),
    ("POST", "/nim/teams/1/members:add"),
    ("GET", "/nim/teams/1/members?type=TEAM"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[m + p for m, p in ENDPOINTS])
@pytest.mark.parametrize("header", ["MD5", "CheckSum", "CurTime"])
async def test_a_non_ascii_byte_in_a_signature_header_is_403_json(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore, method: str, path: str,
    header: str,
) -> None:  # fmt: skip
    body = b"" if method == "GET" else orjson.dumps({"type": "TEAM", "members": ["a"]})
    headers: dict[str, Any] = sign(APP_SECRET, body, clock.now)
    headers[header] = headers[header][:-1].encode() + b"\xff"
    response = await http.request(method, path, content=body, headers=headers)
    assert error_of(response)[0] == 403
    assert await store.is_empty()


# -- sync tokens and session ids -----------------------------------------------------------------

CHANGES = "query($since: String) { sessionChanges(since: $since) { syncToken } }"


def token(version: int, key: str | None = None) -> str:
    """A token in the format the gateway issues, at any position (no check on the way out)."""
    return SyncPosition(version, key).token()


async def test_a_sync_token_at_the_largest_version_is_answered(alice: GraphQLClient) -> None:
    await alice.ok(CHANGES, since=token(2**63 - 1, "p2p|bob"))


@pytest.mark.parametrize(
    ("version", "key"),
    [(2**63, None), (2**64 - 1, None), (1, "p2p|a\x00b"), (1, "p2p|a b"), (1, "not a key"),
     (1, "p2p|" + "a" * 129)],
    ids=["2^63", "2^64-1", "nul-key", "space-key", "not-a-key", "long-key"],
)  # fmt: skip
async def test_a_sync_token_no_store_could_hold_is_bad_user_input(
    alice: GraphQLClient, version: int, key: str | None
) -> None:
    assert (await alice(CHANGES, since=token(version, key))).codes == ["BAD_USER_INPUT"]


NUL_IDS = ["p2p|a\x00b", "team|\x00", "p2p\x00|a", base64.b64encode(b"Session:p2p|a\x00b").decode(),
           base64.b64encode(b"Session:p2p\x00|a").decode()]  # fmt: skip
ID_READS = {
    "session": "query($id: ID!) { session(id: $id) { key } }",
    "node": "query($id: ID!) { node(id: $id) { id } }",
    "deleteSessions": "mutation($id: ID!) { deleteSessions(input: {ids: [$id]}) { deletedIds } }",
    "updateSessionExt": """mutation($id: ID!) {
        updateSessionExt(input: {id: $id, ext: "e"}) { session { key } } }""",
    "markSessionsRead": """mutation($id: ID!) {
        markSessionsRead(input: {ids: [$id]}) { sessions { key } } }""",
    "pinSession": """mutation($id: ID!) {
        pinSession(input: {id: $id, pinned: true}) { session { key } } }""",
}


@pytest.mark.parametrize("value", NUL_IDS, ids=["key", "team", "prefix", "global", "global-prefix"])
@pytest.mark.parametrize("operation", list(ID_READS))
async def test_a_session_id_with_nul_is_bad_user_input(
    alice: GraphQLClient, operation: str, value: str
) -> None:
    assert (await alice(ID_READS[operation], id=value)).codes == ["BAD_USER_INPUT"]


async def test_an_after_cursor_with_nul_is_bad_user_input(alice: GraphQLClient) -> None:
    query = "query($a: String) { sessions(after: $a) { totalCount } }"
    for cursor in ["\x00", "a\x00.b", "é.é"]:
        assert (await alice(query, a=cursor)).codes == ["BAD_USER_INPUT"], cursor
