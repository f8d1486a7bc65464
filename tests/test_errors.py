"""Every error a client sees has a code; unexpected ones are masked and logged."""

from __future__ import annotations

import logging

import pytest

from gateway.store import SessionStore
from tests.helpers import GraphQLClient


async def test_a_syntax_error_is_coded(alice: GraphQLClient) -> None:
    result = await alice("{ sessions { ")
    assert result.codes == ["GRAPHQL_PARSE_FAILED"]


async def test_a_validation_error_is_coded(alice: GraphQLClient) -> None:
    result = await alice("{ sessions { noSuchField } }")
    assert result.codes == ["GRAPHQL_VALIDATION_FAILED"]
    assert "noSuchField" in result.errors[0]["message"]


async def test_an_unexpected_failure_is_masked_and_logged(
    store: SessionStore, alice: GraphQLClient, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    async def broken(*args: object) -> int:
        raise RuntimeError("disk on fire at /var/secret/path")

    monkeypatch.setattr(store, "count_sessions", broken)
    with caplog.at_level(logging.ERROR, logger="gateway.graphql"):
        result = await alice("{ sessions { totalCount } }")
    assert result.errors == [{
        "message": "Unexpected error.", "locations": [{"line": 1, "column": 14}],
        "path": ["sessions", "totalCount"], "extensions": {"code": "INTERNAL_SERVER_ERROR"},
    }]  # fmt: skip
    assert "disk on fire" in caplog.text


async def test_expected_errors_are_not_logged(
    alice: GraphQLClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="gateway.graphql"):
        await alice('{ session(id: "nope") { key } }')
    assert caplog.records == []
