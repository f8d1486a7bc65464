"""The docs stay true: every GraphQL example in README.md and docs/ is valid against the schema;
those of README.md and docs/api.md run in order, as alice, against the demo without an error; and
the Node version the JS projects need is the one the README states."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from graphql import (
    FieldNode,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    parse,
    validate,
)

from tests.helpers import APP_SECRET, SECRET, bearer_token, cc_message, post_signed
from tests.process import gateway
from tests.tools import ROOT
from tests.ws import GraphQLSocket

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


def _operations(page: Path) -> list[tuple[str, str, OperationType]]:
    """(document, operation name, kind) of every operation of a page's GraphQL blocks, in order."""
    found = []
    for block in BLOCK.findall(page.read_text()):
        for definition in parse(block).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                found.append((block, definition.name.value, definition.operation))
    return found


@pytest.mark.parametrize("page", ["README.md", "docs/api.md"])
async def test_the_examples_run_in_order_on_the_demo_data(
    page: str, tmp_path: Path, free_port: int
) -> None:
    env = {"GATEWAY_JWT_SECRET": SECRET, "GATEWAY_NIM_APP_SECRET": APP_SECRET}
    url = f"http://127.0.0.1:{free_port}"
    token = bearer_token("alice")
    auth = {"Authorization": f"Bearer {token}"}
    with gateway("serve", "--demo", "--db", str(tmp_path / "demo.db"), "--port", str(free_port),
                 env=env) as server:  # fmt: skip
        server.wait_for("Application startup complete")
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for document, name, kind in _operations(ROOT / page):
                if kind is OperationType.SUBSCRIPTION:
                    await _first_event(http, url, token, document, name)
                    continue
                operation = {"query": document, "operationName": name}
                response = await http.post("/graphql", json=operation, headers=auth)
                body = response.json()
                assert "errors" not in body, f"{page}, {name}: {body['errors']}"
                assert None not in body["data"].values(), f"{page}, {name}: {body['data']}"


async def _first_event(
    http: httpx.AsyncClient, url: str, token: str, document: str, name: str
) -> None:
    """Subscribe as the example does, from a sync token taken now, then make a change: its event
    comes (replayed from the token, however the subscribe and the change interleave)."""
    auth = {"Authorization": f"Bearer {token}"}
    now = {"query": "{ sessionChanges(since: null) { syncToken } }"}
    since = (await http.post("/graphql", headers=auth, json=now)).json()["data"]["sessionChanges"]
    [operation] = [
        d
        for d in parse(document).definitions
        if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == name
    ]
    declared = operation.variable_definitions or ()
    variables = {v.variable.name.value: since["syncToken"] for v in declared}
    counts = _root_fields(operation) == ["unreadCount"]  # it sends the count first, at once
    assert variables or counts, f"{name} takes no sync token: it could miss the change"
    socket = await GraphQLSocket.connect(url.replace("http", "ws") + "/graphql", token)
    try:
        if counts:
            await socket.subscribe(document)
            assert isinstance((await socket.next_data())["unreadCount"], int), name
            return
        payload = {"query": document, "operationName": name, "variables": variables}
        await socket.send({"id": "1", "type": "subscribe", "payload": payload})
        message = cc_message("docs-live", "zoe", "alice", int(time.time() * 1000), text="Live!")
        response = await post_signed(http, "/nim/cc", message, int(time.time() * 1000))
        assert response.status_code == 200, response.text
        event = (await socket.next_data())["sessionEvents"]
        assert event["syncToken"], (name, event)
    finally:
        await socket.close()


def _root_fields(operation: OperationDefinitionNode) -> list[str]:
    return [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]


def test_the_node_version_the_js_projects_need_is_stated_and_met() -> None:
    ranges = {
        project: json.loads((ROOT / project / "package.json").read_text())["engines"]["node"]
        for project in ("clients", "examples/web")
    }
    [needed] = set(ranges.values())
    assert f"Node.js {needed}" in " ".join((ROOT / "README.md").read_text().split())
    node = shutil.which("node")
    if node is not None:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 check=True).stdout.strip()  # fmt: skip
        assert _satisfies(version, needed), f"Node {version} is not {needed}"


def _satisfies(version: str, needed: str) -> bool:
    """npm's ranges as the projects write them: ``^20.19.0 || >=22.12.0``."""

    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(n) for n in text.lstrip("v^>=").split("."))

    have = numbers(version)
    for part in (p.strip() for p in needed.split("||")):
        bound = numbers(part)
        if have >= bound and (not part.startswith("^") or have[0] == bound[0]):
            return True
    return False
