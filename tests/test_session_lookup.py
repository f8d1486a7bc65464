"""`session(id)` and `node(id)`: one session by global ID or NIM key."""

from __future__ import annotations

import pytest

from gateway.store import SessionStore
from tests.helpers import T0, GraphQLClient, send

SESSION = """query($id: ID!) {
  session(id: $id) {
    id key type target serverExt lastMessageKind
    lastMessage { serverId clientId from type text attachment ext time }
    lastRevokeNotification { messageServerId }
  }
}"""
NODE = "query($id: ID!) { node(id: $id) { __typename id ... on Session { key } } }"


async def test_a_session_by_nim_key(store: SessionStore, alice: GraphQLClient) -> None:
    await send(store, "m1", "bob", "alice", T0, text="hello")
    session = (await alice.ok(SESSION, id="p2p|bob"))["session"]
    assert session == {
        "id": session["id"],
        "key": "p2p|bob",
        "type": "P2P",
        "target": "bob",
        "serverExt": "",
        "lastMessageKind": "MESSAGE",
        "lastMessage": {
            "serverId": "m1", "clientId": "c-m1", "from": "bob", "type": "TEXT", "text": "hello",
            "attachment": None, "ext": None, "time": "2026-09-21T14:13:20.000Z",
        },
        "lastRevokeNotification": None,
    }  # fmt: skip


async def test_the_global_id_finds_the_same_session(
    store: SessionStore, alice: GraphQLClient
) -> None:
    await send(store, "m1", "bob", "alice", T0)
    global_id = (await alice.ok(SESSION, id="p2p|bob"))["session"]["id"]
    assert global_id != "p2p|bob"
    assert (await alice.ok(SESSION, id=global_id))["session"]["key"] == "p2p|bob"


async def test_node_resolves_global_ids_and_keys(store: SessionStore, alice: GraphQLClient) -> None:
    await send(store, "m1", "bob", "alice", T0)
    by_key = (await alice.ok(NODE, id="p2p|bob"))["node"]
    by_id = (await alice.ok(NODE, id=by_key["id"]))["node"]
    assert by_key == by_id == {"__typename": "Session", "id": by_key["id"], "key": "p2p|bob"}


async def test_a_session_the_viewer_does_not_have_is_null(alice: GraphQLClient) -> None:
    assert (await alice.ok(SESSION, id="team|404"))["session"] is None
    assert (await alice.ok(NODE, id="team|404"))["node"] is None


@pytest.mark.parametrize(
    "bad_id",
    [
        "bob",
        "p2p|",
        "chatroom|1",
        "|bob",
        "",
        "U2Vzc2lvbg==",
        "VXNlcjpib2I=",
        "p2p|a\nb",
        "p2p|" + "x" * 200,
    ],
)
async def test_anything_else_is_bad_user_input(alice: GraphQLClient, bad_id: str) -> None:
    for query in (SESSION, NODE):
        result = await alice(query, id=bad_id)
        assert result.codes == ["BAD_USER_INPUT"], (query, result.errors)


async def test_non_text_content_is_json(store: SessionStore, alice: GraphQLClient) -> None:
    from gateway.domain.sessions import Message, MessageType
    from tests.helpers import p2p_deliveries

    picture = Message("m1", "bob", MessageType.PICTURE, T0, attachment='{"url": "x.jpg", "w": 8}',
                      ext="not json")  # fmt: skip
    await store.record_message(picture, p2p_deliveries("bob", "alice"))
    message = (await alice.ok(SESSION, id="p2p|bob"))["session"]["lastMessage"]
    assert (message["type"], message["attachment"], message["ext"]) == (
        "PICTURE", {"url": "x.jpg", "w": 8}, "not json",
    )  # fmt: skip


async def test_a_revoked_last_message_shows_the_notification(
    store: SessionStore, alice: GraphQLClient
) -> None:
    from gateway.domain.sessions import RevokeNotification
    from tests.helpers import p2p_deliveries

    await send(store, "m1", "bob", "alice", T0)
    await store.revoke_message(RevokeNotification("m1", "bob", T0 + 1, "typo"),
                               p2p_deliveries("bob", "alice"))  # fmt: skip
    query = """query { session(id: "p2p|bob") { updateTime lastMessageKind lastMessage { text }
      lastRevokeNotification { messageServerId operator time postscript } } }"""
    assert (await alice.ok(query))["session"] == {
        "updateTime": "2026-09-21T14:13:20.001Z",
        "lastMessageKind": "REVOKE_NOTIFICATION",
        "lastMessage": None,
        "lastRevokeNotification": {
            "messageServerId": "m1", "operator": "bob", "time": "2026-09-21T14:13:20.001Z",
            "postscript": "typo",
        },
    }  # fmt: skip


async def test_a_non_ascii_id_is_bad_user_input_not_a_crash(alice: GraphQLClient) -> None:
    # Found by the fuzzing suite: base64 decoding refused non-ASCII text with a ValueError.
    assert (await alice(SESSION, id="\x80")).codes == ["BAD_USER_INPUT"]
    assert (await alice(SESSION, id="Séssion")).codes == ["BAD_USER_INPUT"]
