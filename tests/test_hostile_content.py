"""Message content chosen to hurt: nesting no encoder can re-encode must not break any read.

The worst storable attachment is JSON nested as deep as the body parser allows (1,024 levels for
orjson); anything deeper than the response encoder's limit (~250 levels) once failed every list,
lookup and live event that selected it. Each read path is tested with it, stored through the
webhook and written straight into the database (as an older version could have stored it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from gateway.domain.checksum import sign
from gateway.domain.sync import SyncPosition
from gateway.settings import Settings
from gateway.store import SessionStore
from tests.conftest import Webhook, module_database
from tests.helpers import APP_SECRET, SECRET, T0, GraphQLClient, bearer_token, cc_message, raw_sql
from tests.process import free_tcp_port, gateway
from tests.ws import GraphQLSocket

WORST = 1024  # the deepest JSON the webhook's parser accepts
MESSAGE_FIELDS = "lastMessage { serverId attachment ext }"
READS = {
    "sessions": f"{{ sessions(first: 10) {{ edges {{ node {{ key {MESSAGE_FIELDS} }} }} }} }}",
    "session": f'{{ session(id: "p2p|alice") {{ key {MESSAGE_FIELDS} }} }}',
    "node": f'{{ node(id: "p2p|alice") {{ ... on Session {{ key {MESSAGE_FIELDS} }} }} }}',
    "sessionChanges": f"""query($since: String) {{ sessionChanges(since: $since) {{
        changed {{ key {MESSAGE_FIELDS} }} }} }}""",
    "updateSessionExt": f"""mutation {{ updateSessionExt(input: {{id: "p2p|alice", ext: "x"}}) {{
        session {{ key {MESSAGE_FIELDS} }} }} }}""",
}


def nested(depth: int) -> str:
    """JSON text ``depth`` levels deep, arrays and objects alternating: ``[{"a":[{"a":...}]}]``."""
    opening = "".join("[" if level % 2 == 0 else '{"a":' for level in range(depth))
    closing = "".join("]" if level % 2 == 0 else "}" for level in reversed(range(depth)))
    return opening + "0" + closing


def with_raw_attach(message: dict[str, Any], attach: str, ext: str | None = None) -> bytes:
    """The event with ``attach`` (and ``ext``) spliced in as JSON values, not as text: an
    object nested this deep is more than orjson.dumps (the test's encoder) would write."""
    raw = orjson.dumps(message)[:-1] + b',"attach":' + attach.encode()
    if ext is not None:
        raw += b',"ext":' + ext.encode()
    return raw + b"}"


def last_messages(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``lastMessage`` in a read's data, whichever read it was."""
    found: list[dict[str, Any]] = []

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if "lastMessage" in value and value["lastMessage"] is not None:
                found.append(value["lastMessage"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return found


async def read(client: GraphQLClient, name: str) -> dict[str, Any]:
    variables = {"since": SyncPosition(0).token()} if name == "sessionChanges" else {}
    data: dict[str, Any] = await client.ok(READS[name], **variables)
    return data


@pytest.mark.parametrize("path", list(READS))
async def test_an_attach_object_deeper_than_any_encoder_allows_is_kept_and_served_as_text(
    webhook: Webhook, bob: GraphQLClient, path: str
) -> None:
    deep = nested(WORST - 1)  # inside the body's own level: the deepest body the parser takes
    response = await webhook(with_raw_attach(cc_message("m1", "alice", "bob", T0), deep, deep))
    assert response.status_code == 200, response.text
    (message,) = last_messages(await read(bob, path))
    assert message == {"serverId": "m1", "attachment": deep, "ext": deep}


async def test_a_body_deeper_than_the_parser_takes_is_a_dead_letter(
    webhook: Webhook, store: SessionStore
) -> None:
    raw = with_raw_attach(cc_message("m1", "alice", "bob", T0), nested(WORST))
    answer = await webhook.ok(raw)
    assert (answer["outcome"], answer["error"]["code"]) == ("dead_letter", "BAD_JSON")
    assert await store.is_empty()


@pytest.mark.parametrize("depth", [260, WORST])
async def test_an_attach_text_too_deep_to_re_encode_is_served_as_its_raw_text(
    webhook: Webhook, bob: GraphQLClient, depth: int
) -> None:
    deep = nested(depth)
    await webhook.ok({**cc_message("m1", "alice", "bob", T0), "attach": deep, "ext": deep})
    for path in READS:
        (message,) = last_messages(await read(bob, path))
        assert message == {"serverId": "m1", "attachment": deep, "ext": deep}, path


@pytest.mark.parametrize("path", list(READS))
async def test_a_too_deep_attachment_stored_by_an_older_version_is_served_as_text(
    webhook: Webhook, settings: Settings, bob: GraphQLClient, path: str
) -> None:
    await webhook.ok(cc_message("m1", "alice", "bob", T0))
    deep = nested(WORST)  # brackets, quotes-free: safe to splice into SQL
    await raw_sql(settings, f"UPDATE messages SET attachment = '{deep}', ext = '{deep}'")  # noqa: S608
    (message,) = last_messages(await read(bob, path))
    assert message == {"serverId": "m1", "attachment": deep, "ext": deep}


async def test_attachments_within_the_depth_bound_are_still_json(
    webhook: Webhook, bob: GraphQLClient
) -> None:
    attach = {"id": 2, "data": {"ids": ["carol"]}}
    await webhook.ok({**cc_message("m1", "alice", "bob", T0), "attach": attach, "ext": "[1]"})
    for path in READS:
        (message,) = last_messages(await read(bob, path))
        assert message == {"serverId": "m1", "attachment": attach, "ext": [1]}, path


async def test_one_bad_message_does_not_break_the_rest_of_the_list(
    webhook: Webhook, bob: GraphQLClient, store: SessionStore
) -> None:
    await webhook.ok(cc_message("m1", "carol", "bob", T0, text="fine"))
    await webhook.ok({**cc_message("m2", "alice", "bob", T0 + 1), "attach": nested(WORST)})
    data = await bob.ok(READS["sessions"])
    keys = [edge["node"]["key"] for edge in data["sessions"]["edges"]]
    assert keys == ["p2p|alice", "p2p|carol"]


# -- live events, against a real server on each backend ------------------------------------------

EVENTS = f"""subscription($since: String) {{ sessionEvents(since: $since) {{
  ... on SessionUpserted {{ session {{ key {MESSAGE_FIELDS} }} }} }} }}"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with module_database(request.param, tmp_path_factory, "hostile") as url:
        yield url


@pytest.fixture(scope="module")
def live_url(live_database: str) -> Iterator[str]:
    port = free_tcp_port()
    env = {"GATEWAY_DATABASE_URL": live_database, "GATEWAY_JWT_SECRET": SECRET,
           "GATEWAY_NIM_APP_SECRET": APP_SECRET}  # fmt: skip
    with gateway("serve", "--port", str(port), env=env) as process:
        process.wait_for("Uvicorn running", timeout=30)
        yield f"127.0.0.1:{port}"


async def post_raw(http: httpx.AsyncClient, raw: bytes) -> None:
    response = await http.post(
        "/nim/cc", content=raw, headers=sign(APP_SECRET, raw, int(time.time() * 1000))
    )
    assert response.status_code == 200, response.text


async def test_a_live_subscriber_gets_too_deep_attachments_as_text_and_keeps_its_stream(
    live_url: str, live_database: str
) -> None:
    alice, bob = (f"u-{uuid.uuid4().hex[:10]}" for _ in range(2))
    now = int(time.time() * 1000)
    socket = await GraphQLSocket.connect(f"ws://{live_url}/graphql", bearer_token(bob))
    await socket.subscribe(EVENTS, since=SyncPosition(0).token())
    worst, deep = nested(WORST), nested(WORST - 1)
    async with httpx.AsyncClient(base_url=f"http://{live_url}", timeout=10) as http:
        as_text = {**cc_message(f"{bob}-1", alice, bob, now), "attach": worst}
        await post_raw(http, orjson.dumps(as_text))
        first = (await socket.next_data())["sessionEvents"]["session"]["lastMessage"]
        assert first == {"serverId": f"{bob}-1", "attachment": worst, "ext": None}

        # A row as an older version could have stored it, then a change that sends it live.
        db = Settings(database_url=live_database, jwt_secret=SecretStr(SECRET))
        await raw_sql(db, f"UPDATE messages SET ext = '{worst}' WHERE server_id = '{bob}-1'")  # noqa: S608
        update = """mutation($id: ID!) { updateSessionExt(input: {id: $id, ext: "x"}) {
                      session { key } } }"""
        response = await http.post(
            "/graphql", json={"query": update, "variables": {"id": f"p2p|{alice}"}},
            headers={"Authorization": f"Bearer {bearer_token(bob)}"},
        )  # fmt: skip
        assert not response.json().get("errors"), response.text
        second = (await socket.next_data())["sessionEvents"]["session"]["lastMessage"]
        assert second == {"serverId": f"{bob}-1", "attachment": worst, "ext": worst}

        as_object = with_raw_attach(cc_message(f"{bob}-2", alice, bob, now + 1), deep, deep)
        await post_raw(http, as_object)
        third = (await socket.next_data())["sessionEvents"]["session"]["lastMessage"]
        assert third == {"serverId": f"{bob}-2", "attachment": deep, "ext": deep}

        await post_raw(http, orjson.dumps(cc_message(f"{bob}-3", alice, bob, now + 2)))
        fourth = (await socket.next_data())["sessionEvents"]["session"]["lastMessage"]
        assert fourth == {"serverId": f"{bob}-3", "attachment": None, "ext": None}
    await socket.close()
