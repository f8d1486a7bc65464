"""The team registry's signature: it covers method, path, query and body, and works once."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson
import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.domain.checksum import sign, sign_request
from gateway.domain.teams import team_key
from gateway.settings import Settings
from gateway.store import SessionStore
from gateway.web.app import create_app
from tests.conftest import Clock
from tests.helpers import APP_SECRET, post_signed

TEAM_A = "/nim/teams/A/members"
TEAM_B = "/nim/teams/B/members"
ALICE = {"type": "TEAM", "members": ["alice"]}
SKEW_MS = 300_000


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json", response.text
    return response.status_code, response.json()["error"]["code"]


async def signed(
    http: httpx.AsyncClient, clock: Clock, method: str, path: str, body: object = b""
) -> httpx.Request:
    """Send a legitimately signed registry request; the request as sent, to replay."""
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    http.event_hooks["request"] = [keep]
    try:
        response = await post_signed(http, path, body, clock.now, method=method)
    finally:
        http.event_hooks["request"] = []
    assert response.status_code == 200, response.text
    return sent[0]


async def replay(
    http: httpx.AsyncClient, captured: httpx.Request, method: str | None = None,
    path: str | None = None,
) -> httpx.Response:  # fmt: skip
    headers = {k: v for k, v in captured.headers.items() if k not in ("host", "content-length")}
    target = path or captured.url.raw_path.decode()
    return await http.request(method or captured.method, target, content=captured.content,
                              headers=headers)  # fmt: skip


async def members(store: SessionStore, tid: str) -> list[str]:
    return await store.team_members(team_key(tid, "TEAM"))


async def test_a_request_replayed_as_is_is_refused(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore
) -> None:
    captured = await signed(http, clock, "PUT", TEAM_A, ALICE)
    await signed(http, clock, "PUT", TEAM_A, {"type": "TEAM", "members": ["bob"]})
    assert error_of(await replay(http, captured)) == (403, "REPLAYED")
    assert await members(store, "A") == ["bob"]


async def test_a_request_replayed_to_another_team_is_refused(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore
) -> None:
    captured = await signed(http, clock, "PUT", TEAM_A, ALICE)
    assert error_of(await replay(http, captured, path=TEAM_B)) == (403, "BAD_CHECKSUM")
    assert await members(store, "B") == []


CHANGES = {
    "add-as-remove": (("POST", TEAM_A + ":add"), ("POST", TEAM_A + ":remove")),
    "put-as-add": (("PUT", TEAM_A), ("POST", TEAM_A + ":add")),
    "add-as-put": (("POST", TEAM_A + ":add"), ("PUT", TEAM_A)),
}


@pytest.mark.parametrize(("original", "replayed"), CHANGES.values(), ids=CHANGES.keys())
async def test_a_request_replayed_as_another_change_is_refused(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore,
    original: tuple[str, str], replayed: tuple[str, str],
) -> None:  # fmt: skip
    captured = await signed(http, clock, *original, ALICE)
    response = await replay(http, captured, method=replayed[0], path=replayed[1])
    assert error_of(response) == (403, "BAD_CHECKSUM")
    assert await members(store, "A") == ["alice"]


@pytest.mark.parametrize(
    "target", [TEAM_B + "?type=TEAM", TEAM_A + "?type=SUPER_TEAM", TEAM_A],
    ids=["other-team", "other-type", "no-query"],
)  # fmt: skip
async def test_a_signed_listing_does_not_list_another_team(
    http: httpx.AsyncClient, clock: Clock, target: str
) -> None:
    await signed(http, clock, "PUT", TEAM_B, {"type": "TEAM", "members": ["secret"]})
    captured = await signed(http, clock, "GET", TEAM_A + "?type=TEAM")
    assert error_of(await replay(http, captured, path=target)) == (403, "BAD_CHECKSUM")


async def test_a_signed_listing_works_once(http: httpx.AsyncClient, clock: Clock) -> None:
    captured = await signed(http, clock, "GET", TEAM_A + "?type=TEAM")
    assert error_of(await replay(http, captured)) == (403, "REPLAYED")


async def test_after_its_window_a_replay_is_stale(http: httpx.AsyncClient, clock: Clock) -> None:
    captured = await signed(http, clock, "PUT", TEAM_A, ALICE)
    clock.now += SKEW_MS + 1  # the replay cache may forget it: the time refuses it
    assert error_of(await replay(http, captured)) == (403, "STALE_CURTIME")


async def test_a_request_replayed_to_another_replica_is_refused(
    http: httpx.AsyncClient, clock: Clock, settings: Settings,
    new_store: Callable[[], SessionStore], store: SessionStore,
) -> None:  # fmt: skip
    captured = await signed(http, clock, "PUT", TEAM_A, ALICE)
    await signed(http, clock, "PUT", TEAM_A, {"type": "TEAM", "members": ["bob"]})
    # Another replica on the same database (or this one restarted): its own store and app.
    async with new_store() as elsewhere:
        app = create_app(settings, store=elsewhere, clock=clock)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as replica:
            assert error_of(await replay(replica, captured)) == (403, "REPLAYED")
    assert await members(store, "A") == ["bob"]


async def test_a_request_replayed_at_the_very_end_of_its_window_is_refused(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore
) -> None:
    # Signed by a clock a whole skew ahead (accepted), replayed a whole skew after that: its
    # CurTime is still good, so only the memory of its signature refuses it.
    now, clock.now = clock.now, clock.now + SKEW_MS
    captured = await signed(http, clock, "PUT", TEAM_A, ALICE)
    await signed(http, clock, "PUT", TEAM_A, {"type": "TEAM", "members": ["bob"]})
    clock.now = now + 2 * SKEW_MS
    assert error_of(await replay(http, captured)) == (403, "REPLAYED")
    assert await members(store, "A") == ["bob"]


async def test_a_message_cc_signature_does_not_sign_a_registry_request(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore
) -> None:
    body = orjson.dumps(ALICE)
    response = await http.put(TEAM_A, content=body, headers=sign(APP_SECRET, body, clock.now))
    assert error_of(response)[0] == 403
    assert await members(store, "A") == []


@pytest.mark.parametrize(
    "nonce", ["n" * 15, "n" * 65, "has space in it!!", "ü" * 16, ""],
    ids=["15-chars", "65-chars", "space", "non-ascii", "empty"],
)  # fmt: skip
async def test_a_nonce_out_of_its_alphabet_or_length_is_refused(
    http: httpx.AsyncClient, clock: Clock, nonce: str
) -> None:
    captured = await signed(http, clock, "PUT", TEAM_A, ALICE)
    headers = dict(captured.headers)
    headers.pop("content-length")
    headers["nonce"] = nonce.encode("latin-1")  # type: ignore[assignment]
    response = await http.put(TEAM_A, content=captured.content, headers=headers)
    assert error_of(response) in ((403, "BAD_NONCE"), (403, "MISSING_SIGNATURE"))


@pytest.mark.parametrize("length", [16, 64])
async def test_nonces_of_16_to_64_characters_are_accepted(
    http: httpx.AsyncClient, clock: Clock, length: int
) -> None:
    body = orjson.dumps(ALICE)
    headers = sign_request(APP_SECRET, "PUT", TEAM_A, body, clock.now, nonce="n-_9" * (length // 4))
    assert (await http.put(TEAM_A, content=body, headers=headers)).status_code == 200


async def test_identical_requests_signed_separately_both_apply(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    for _ in range(2):  # same body, same millisecond: the nonce tells them apart
        await signed(http, clock, "POST", TEAM_A + ":add", ALICE)


async def test_gateway_sign_signs_a_registry_request(
    http: httpx.AsyncClient, clock: Clock, store: SessionStore
) -> None:
    clock.now = int(time.time() * 1000)
    body = orjson.dumps(ALICE).decode()
    result = CliRunner().invoke(
        main, ["sign", "--method", "PUT", "--path", TEAM_A, body],
        env={"GATEWAY_NIM_APP_SECRET": APP_SECRET},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    headers = dict(line.split(": ", 1) for line in result.output.splitlines())
    assert set(headers) == {"MD5", "CurTime", "Nonce", "CheckSum"}
    response = await http.put(TEAM_A, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert await members(store, "A") == ["alice"]
