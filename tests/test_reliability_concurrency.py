"""Many clients at once: no 5xx, no lost acknowledged write, and a final state that a serial
replay of each client's own operations predicts; pages walked while the list reorders."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.conftest import Webhook
from tests.helpers import T0, GraphQLClient, bounded_pages, cc_message

pytestmark = pytest.mark.reliability

SET_EXT = """mutation($id: ID!, $ext: String!) {
  updateSessionExt(input: {id: $id, ext: $ext}) { session { key } } }"""
DELETE = "mutation($ids: [ID!]!) { deleteSessions(input: {ids: $ids}) { deletedKeys } }"
STATE = "{ sessions { edges { node { key serverExt lastMessage { serverId } } } } }"
PAGE = """query($after: String) { sessions(first: 3, after: $after) {
  edges { node { key } } pageInfo { hasNextPage endCursor } } }"""
# Later than any deletion (made at the server's clock, T0 + 1 h), and not ahead of that clock by
# more than it allows (GATEWAY_NIM_MAX_EVENT_AHEAD_S).
AFTER_DELETIONS = T0 + 3_600_000 + 1
OPERATIONS_PER_CLIENT = 120  # a fixed amount of work: what is checked is the outcome, not speed


@dataclass
class Model:
    """What one account's list must be after its operations, applied one by one."""

    sessions: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # key: (ext, last)

    def message(self, key: str, msgid: str) -> None:
        ext, _ = self.sessions.get(key, ("", None))
        self.sessions[key] = (ext, msgid)

    def set_ext(self, key: str, ext: str) -> None:
        _, last = self.sessions.get(key, ("", None))
        self.sessions[key] = (ext, last)

    def delete(self, key: str) -> None:
        self.sessions.pop(key, None)


async def test_mixed_clients_end_as_a_serial_replay_predicts(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient]
) -> None:
    accounts = [f"acct{n}" for n in range(6)]
    models = {account: Model() for account in accounts}

    async def client(account: str, seed: int) -> None:
        rng = random.Random(seed)
        me = as_user(account)
        model = models[account]
        for operations in range(1, OPERATIONS_PER_CLIENT + 1):
            peer = f"p2p|peer{rng.randrange(4)}"
            roll = rng.random()
            if roll < 0.4:
                msgid = f"{account}-{operations}"
                sent = AFTER_DELETIONS + operations  # each newer than the last
                await webhook.ok(cc_message(msgid, peer.split("|")[1], account, sent))
                model.message(peer, msgid)
            elif roll < 0.65:
                ext = f"e{operations}"
                await me.ok(SET_EXT, id=peer, ext=ext)
                model.set_ext(peer, ext)
            elif roll < 0.8:
                await me.ok(DELETE, ids=[peer])
                model.delete(peer)
            else:
                await me.ok(STATE)  # reads in between; ok() fails on any error

    await asyncio.gather(*(client(a, n) for n, a in enumerate(accounts)))

    for account in accounts:
        data = await as_user(account).ok(STATE)
        actual = {
            edge["node"]["key"]: (edge["node"]["serverExt"],
                                  (edge["node"]["lastMessage"] or {}).get("serverId"))
            for edge in data["sessions"]["edges"]
        }  # fmt: skip
        assert actual == models[account].sessions, account


async def test_walking_pages_while_the_list_reorders(
    webhook: Webhook, alice: GraphQLClient
) -> None:
    for n in range(30):
        await webhook.ok(cc_message(f"m{n}", f"peer{n:02}", "alice", T0 + n))
    touched: set[str] = set()
    rng = random.Random(5)
    moves = iter(range(40))

    async def move_to_the_top(count: int) -> None:
        for n in itertools.islice(moves, count):
            peer = f"peer{rng.randrange(30):02}"
            touched.add(f"p2p|{peer}")
            await webhook.ok(cc_message(f"r{n}", peer, "alice", T0 + 100 + n))

    seen: list[str] = []
    after = None
    for _ in bounded_pages(30, 3):
        page = (await alice.ok(PAGE, after=after))["sessions"]
        seen += [edge["node"]["key"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        await move_to_the_top(4)  # between every two pages, messages reorder the list
    assert len(seen) == len(set(seen)), "a session appeared twice in one walk"
    untouched = {f"p2p|peer{n:02}" for n in range(30)} - touched
    assert untouched <= set(seen)
