"""The docs stay true: every GraphQL example in README.md and docs/ is valid against the schema."""

from __future__ import annotations

import re

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from tests.tools import ROOT

BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def examples() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for n, block in enumerate(BLOCK.findall(page.read_text()), 1):
            found.append((f"{page.relative_to(ROOT)}#{n}", block))
    return found


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema((ROOT / "schema.graphql").read_text())


def test_the_docs_have_examples_of_every_root_field(schema: GraphQLSchema) -> None:
    text = "\n".join(block for _, block in examples())
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert root is not None
        for field in root.fields:
            assert re.search(rf"\b{field}\b", text), f"no example uses {root.name}.{field}"


@pytest.mark.parametrize(("where", "document"), examples(), ids=lambda v: str(v)[:40])
def test_each_example_is_valid(schema: GraphQLSchema, where: str, document: str) -> None:
    errors = validate(schema, parse(document))
    assert not errors, f"{where}: {[e.message for e in errors]}"
