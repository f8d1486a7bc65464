"""Times from the future: a signed event whose msgTimestamp (or a recall's deleteTime) lies more
than GATEWAY_NIM_MAX_EVENT_AHEAD_S past the gateway's clock is kept, at that bound, so it cannot
stay the newest thing of its session or team for longer than the bound."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import Clock, Webhook
from tests.helpers import GraphQLClient, cc_message, cc_recall

AHEAD_MS = 300_000  # the default bound
DAY_MS = 86_400_000
LAST = """query($id: ID!) { session(id: $id) { updateTime lastMessage { serverId time } } }"""


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


async def test_a_message_far_ahead_is_kept_at_the_bound(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    now = clock.now
    assert await webhook.ok(cc_message("m1", "bob", "alice", now + DAY_MS)) == {
        "outcome": "applied"
    }
    session = (await alice.ok(LAST, id="p2p|bob"))["session"]
    assert session == {"updateTime": iso(now + AHEAD_MS),
                       "lastMessage": {"serverId": "m1", "time": iso(now + AHEAD_MS)}}  # fmt: skip


async def test_a_message_within_the_bound_keeps_its_time(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", clock.now + AHEAD_MS))
    session = (await alice.ok(LAST, id="p2p|bob"))["session"]
    assert session["lastMessage"]["time"] == iso(clock.now + AHEAD_MS)


async def test_once_the_bound_has_passed_later_messages_come_after_one_from_far_ahead(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", clock.now + DAY_MS))
    clock.now += AHEAD_MS + 1
    await webhook.ok(cc_message("m2", "bob", "alice", clock.now))
    session = (await alice.ok(LAST, id="p2p|bob"))["session"]
    assert session["lastMessage"]["serverId"] == "m2"


async def test_a_message_far_ahead_does_not_make_its_teams_later_changes_late(
    webhook: Webhook, as_user: Callable[[str], GraphQLClient], clock: Clock
) -> None:
    await webhook.team("t1", ["alice", "bob"])
    await webhook.ok(cc_message("m1", "bob", "t1", clock.now + DAY_MS, conv="TEAM"))
    clock.now += AHEAD_MS + 1
    invite = {**cc_message("n1", "alice", "t1", clock.now, conv="TEAM"), "msgType": "NOTIFICATION",
              "attach": {"id": 0, "data": {"ids": ["carol"]}}}  # fmt: skip
    await webhook.ok(invite)
    await webhook.ok(cc_message("m2", "bob", "t1", clock.now + 1, conv="TEAM"))
    for account in ("alice", "carol"):
        session = (await as_user(account).ok(LAST, id="team|t1"))["session"]
        assert session["lastMessage"]["serverId"] == "m2", account


async def test_a_recall_far_ahead_is_kept_at_the_bound(
    webhook: Webhook, alice: GraphQLClient, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", clock.now))
    await webhook.ok(cc_recall("m1", "bob", "alice", clock.now + DAY_MS, sent=clock.now))
    session = (await alice.ok(LAST, id="p2p|bob"))["session"]
    assert session["updateTime"] == iso(clock.now + AHEAD_MS)


async def test_a_time_taken_as_the_bound_is_counted(
    webhook: Webhook, http: httpx.AsyncClient, clock: Clock
) -> None:
    await webhook.ok(cc_message("m1", "bob", "alice", clock.now + DAY_MS))
    await webhook.ok(cc_recall("m1", "bob", "alice", clock.now + DAY_MS, sent=clock.now + DAY_MS))
    metrics = (await http.get("/metrics")).text
    for field, count in (("msgTimestamp", 1), ("deleteTime", 1), ("sendTime", 1)):
        assert f'gateway_webhook_clamped_times_total{{field="{field}"}} {count}.0' in metrics


async def test_the_bound_is_a_setting(
    app_with: Callable[..., httpx.AsyncClient],
    token_for: Callable[[str], str],
    clock: Clock,
) -> None:
    async with app_with(nim_max_event_ahead_s=5) as http:
        await Webhook(http, clock).ok(cc_message("m1", "bob", "alice", clock.now + DAY_MS))
        session = (await GraphQLClient(http, token_for("alice")).ok(LAST, id="p2p|bob"))["session"]
    assert session["lastMessage"]["time"] == iso(clock.now + 5_000)
