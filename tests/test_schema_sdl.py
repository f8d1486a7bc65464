"""`schema.graphql` is the exported SDL of the code's schema."""

from __future__ import annotations

from pathlib import Path

from gateway.schema import build_schema

SDL = Path(__file__).parent.parent / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    assert SDL.read_text() == build_schema().as_str() + "\n", (
        "schema.graphql is stale: run `gateway schema > schema.graphql`"
    )
