"""Security: alice can never read, change or learn of bob's sessions through any id-taking field,
cursor or token, and refusals say nothing about what exists."""

from __future__ import annotations

import pytest

from tests.conftest import Webhook
from tests.helpers import SECRET, T0, GraphQLClient, cc_message

pytestmark = pytest.mark.reliability

BY_ID = {
    "session": "query($id: ID!) { session(id: $id) { key serverExt } }",
    "node": "query($id: ID!) { node(id: $id) { id } }",
    "updateSessionExt": 'mutation($id: ID!) { updateSessionExt(input: {id: $id, ext: "x"}) '
    "{ session { key serverExt lastMessage { serverId } } } }",
    "deleteSessions": "mutation($id: ID!) { deleteSessions(input: {ids: [$id]}) { deletedKeys } }",
    "markSessionsRead": "mutation($id: ID!) { markSessionsRead(input: {ids: [$id]}) "
    "{ sessions { key } } }",
    "pinSession": "mutation($id: ID!) { pinSession(input: {id: $id, pinned: true}) "
    "{ session { key } } }",
}
BOBS = "{ sessions { edges { cursor node { id key serverExt unreadCount pinned } } } }"


@pytest.fixture
async def bobs_list(webhook: Webhook, bob: GraphQLClient) -> list[dict[str, object]]:
    await webhook.ok(cc_message("secret-1", "carol", "bob", T0))
    await webhook.ok(cc_message("secret-2", "dave", "bob", T0 + 1))
    await bob.ok('mutation { updateSessionExt(input: {id: "p2p|carol", ext: "bob-only"}) '
                 "{ session { key } } }")  # fmt: skip
    edges: list[dict[str, object]] = (await bob.ok(BOBS))["sessions"]["edges"]
    return edges


@pytest.mark.parametrize("field", BY_ID)
async def test_no_id_taking_field_reaches_another_accounts_session(
    field: str, bobs_list: list[dict[str, object]], alice: GraphQLClient, bob: GraphQLClient
) -> None:
    for edge in bobs_list:
        node = edge["node"]
        assert isinstance(node, dict)
        for id in (node["id"], node["key"]):
            result = await alice(BY_ID[field], id=id)
            assert "secret" not in str(result.data) + str(result.errors)
            assert "bob-only" not in str(result.data) + str(result.errors)
    after = await bob.ok(BOBS)
    assert after["sessions"]["edges"] == bobs_list  # bob's list is untouched


async def test_another_accounts_cursor_is_refused_without_detail(
    bobs_list: list[dict[str, object]], alice: GraphQLClient
) -> None:
    cursor = bobs_list[0]["cursor"]
    result = await alice("query($a: String) { sessions(after: $a) { totalCount } }", a=cursor)
    assert result.codes == ["BAD_USER_INPUT"]
    assert "carol" not in str(result.errors)
    assert "dave" not in str(result.errors)


async def test_another_accounts_sync_token_only_shows_your_own_changes(
    webhook: Webhook, alice: GraphQLClient, bob: GraphQLClient
) -> None:
    token = (await bob.ok("{ sessionChanges { syncToken } }"))["sessionChanges"]["syncToken"]
    await webhook.ok(cc_message("secret-3", "carol", "bob", T0 + 5))
    changes = await alice.ok("query($s: String) { sessionChanges(since: $s) { changed { key } "
                             "deletedKeys } }", s=token)  # fmt: skip
    assert changes["sessionChanges"] == {"changed": [], "deletedKeys": []}


async def test_refusals_do_not_echo_secrets(alice: GraphQLClient, anonymous: GraphQLClient) -> None:
    result = await anonymous("{ sessions { totalCount } }")
    assert SECRET not in str(result.errors)
    tampered = await alice("query($a: String) { sessions(after: $a) { totalCount } }",
                           a="eyJ.x")  # fmt: skip
    assert "Traceback" not in str(tampered.errors)
