"""Property-based fuzzing: every input gets a typed error or a correct answer, never a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Webhook
from tests.helpers import T0, GraphQLClient, cc_message

pytestmark = pytest.mark.reliability

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
TYPED = {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "UNAUTHENTICATED", "NOT_FOUND"}
ids = st.one_of(
    st.text(max_size=300),
    st.from_regex(r"(p2p|team|super_team|chatroom)?\|?.{0,140}", fullmatch=True),
    st.binary(max_size=60).map(lambda b: __import__("base64").b64encode(b).decode()),
    st.just("U2Vzc2lvbjpwMnB8Ym9i"),
)


SET_EXT = """mutation($e: String!) {
  updateSessionExt(input: {id: "p2p|fz", ext: $e}) { session { serverExt } } }"""
WINDOW = """query($l: DateTime, $h: DateTime) {
  sessions(minTimestamp: $l, maxTimestamp: $h) { totalCount } }"""
CURSORS = st.one_of(
    st.text(max_size=200), st.from_regex(r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,30}")
)


def typed_or_ok(result_codes: list[str]) -> None:
    assert set(result_codes) <= TYPED, result_codes


@given(value=ids)
@FUZZ
async def test_any_id_is_answered_or_refused(alice: GraphQLClient, value: str) -> None:
    for query in ("query($id: ID!) { session(id: $id) { key } }",
                  "query($id: ID!) { node(id: $id) { id } }"):  # fmt: skip
        typed_or_ok((await alice(query, id=value)).codes)
    typed_or_ok((await alice("mutation($i: [ID!]!) { deleteSessions(input: {ids: $i}) "
                             "{ deletedIds } }", i=[value])).codes)  # fmt: skip


@given(cursor=CURSORS, token=st.text(max_size=100))
@FUZZ
async def test_any_cursor_or_sync_token_is_answered_or_refused(
    alice: GraphQLClient, cursor: str, token: str
) -> None:
    typed_or_ok((await alice("query($a: String) { sessions(after: $a) { totalCount } }",
                             a=cursor)).codes)  # fmt: skip
    typed_or_ok((await alice("query($s: String) { sessionChanges(since: $s) { syncToken } }",
                             s=token)).codes)  # fmt: skip


@given(low=st.one_of(st.integers(), st.text(max_size=40), st.booleans(), st.none()),
       high=st.one_of(st.integers(), st.text(max_size=40), st.none()))  # fmt: skip
@FUZZ
async def test_any_time_window_is_answered_or_refused(
    alice: GraphQLClient, low: object, high: object
) -> None:
    typed_or_ok((await alice(WINDOW, l=low, h=high)).codes)


@given(ext=st.text(max_size=1200))
@FUZZ
async def test_any_ext_is_stored_exactly_or_refused(alice: GraphQLClient, ext: str) -> None:
    result = await alice(SET_EXT, e=ext)
    if len(ext.encode()) <= 1024 and "\x00" not in ext:
        assert result.data["updateSessionExt"]["session"]["serverExt"] == ext
    else:
        assert result.codes == ["BAD_USER_INPUT"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


@given(
    mutation=st.dictionaries(
        st.sampled_from(["eventType", "convType", "to", "fromAccount", "msgTimestamp",
                         "msgidServer", "msgType", "body", "attach", "ext", "tMembers",
                         "blacklist", "msgId", "from", "deleteTime", "sendTime", "selfMsg"]),
        json_values, max_size=6,
    ),
    event_type=st.sampled_from([1, "1", 7, 8, "25", 2, None, "x", -1, 10**20]),
)  # fmt: skip
@FUZZ
async def test_any_signed_webhook_body_gets_200(
    webhook: Webhook, mutation: dict[str, object], event_type: object
) -> None:
    body = {**cc_message("fz", "alice", "bob", T0), **mutation}
    if event_type is not None:
        body["eventType"] = event_type
    response = await webhook(json.dumps(body).encode())  # json: any int, as a client may send
    assert response.status_code == 200, response.text  # NIM retries anything else, for ever
    answer = response.json()
    if answer["outcome"] == "dead_letter":
        assert answer["error"]["code"] in {"BAD_EVENT", "MISSING_EVENT_TYPE", "MISSING_FIELD",
                                           "NUL_CHARACTER", "BAD_JSON"}  # fmt: skip
