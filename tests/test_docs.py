"""The docs stay true: every GraphQL example in README.md and docs/ is valid against the schema;
the shell lines and GraphQL examples of README.md and docs/api.md run as printed, in order, in a
`make demo` checkout against its demo, README first or docs/api.md first, and what they print is
what the pages show (tests/docs.py says how a sample matches); every other shell block says where
it runs instead; and the Node version the JS projects need is the one the README states."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
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

from gateway.demo_keys import kept_keys
from tests import docs
from tests.helpers import cc_message, post_signed
from tests.process import Process
from tests.tools import ROOT, newcomer_environment
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


# A change to alice's list that no page shows: an ext set to what it is.
UNCHANGED = 'mutation { updateSessionExt(input: {id: "p2p|frank", ext: ""}) { session { key } } }'
DOC_ORDERS = [("README.md", "docs/api.md"), ("docs/api.md", "README.md")]


def test_every_shell_block_runs_here_or_says_where_it_runs() -> None:
    ran = {"README.md", "docs/api.md"}  # the pages test_the_docs_run_as_printed runs
    for page in PAGES:
        for step in docs.steps(page, ROOT):
            if isinstance(step, docs.Skipped):
                assert len(step.why) > 10, f"{step.where}: say where it runs, and why not here"
            elif isinstance(step, docs.Shell):
                assert str(page.relative_to(ROOT)) in ran, f"{step.where} is run by no test"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("order", DOC_ORDERS, ids=["readme-then-api", "api-then-readme"])
async def test_the_docs_run_as_printed(
    order: tuple[str, str], tmp_path: Path, free_port: int
) -> None:
    """Every shell line and GraphQL example of README.md and docs/api.md, one page after the
    other, in a `make demo` checkout against its demo; each sample output is the demo's."""
    checkout = tmp_path / "session-gateway"
    checkout.mkdir()
    for shared in (".venv", "examples"):
        (checkout / shared).symlink_to(ROOT / shared)
    env = newcomer_environment()
    command = [".venv/bin/gateway", "serve", "--demo", "--db", "gateway-demo.db",
               "--port", str(free_port)]  # fmt: skip
    demo = Process([str(checkout / command[0]), *command[1:]], cwd=checkout, env=env)
    try:
        demo.wait_for("Application startup complete")
        url = f"http://127.0.0.1:{free_port}"
        keys = kept_keys(str(checkout / "gateway-demo.db"))
        token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 600}, keys.jwt_secret)
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for page in order:
                for step in docs.steps(ROOT / page, ROOT):
                    if isinstance(step, docs.Shell):
                        await _shell(step, checkout, env, free_port)
                    elif isinstance(step, docs.Operation):
                        await _operation(step, http, url, token, keys.nim_app_secret)
    finally:
        demo.stop()


async def _shell(step: docs.Shell, checkout: Path, env: dict[str, str], port: int) -> None:
    script = "\n".join(step.lines).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    done = await asyncio.to_thread(
        subprocess.run, ["bash", "-e", "-c", script], cwd=checkout, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{step.where}:\n{script}\n{done.stdout}{done.stderr}"
    if step.sample is not None:
        found = docs.mismatch(step.sample, orjson.loads(done.stdout))
        assert found is None, f"{step.where}: {found}"


async def _operation(
    step: docs.Operation, http: httpx.AsyncClient, url: str, token: str, app_secret: str
) -> None:
    if step.kind is OperationType.SUBSCRIPTION:
        answer = {"data": await _first_event(http, url, token, app_secret, step)}
    else:
        operation = {"query": step.document, "operationName": step.name}
        response = await http.post("/graphql", json=operation,
                                   headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        answer = response.json()
    expects_errors = isinstance(step.sample, dict) and "errors" in step.sample
    if not expects_errors:
        assert "errors" not in answer, f"{step.where}, {step.name}: {answer['errors']}"
        assert None not in answer["data"].values(), f"{step.where}, {step.name}: {answer}"
    if step.sample is not None:
        found = docs.mismatch(step.sample, answer)
        assert found is None, f"{step.where}, {step.name}: {found}"


async def _first_event(
    http: httpx.AsyncClient, url: str, token: str, app_secret: str, step: docs.Operation
) -> dict[str, Any]:
    """Subscribe as the example does, from a sync token taken now, then make the change its
    sample shows (else one that no page shows): its event comes (replayed from the token,
    however the subscribe and the change interleave)."""
    auth = {"Authorization": f"Bearer {token}"}
    now = {"query": "{ sessionChanges(since: null) { syncToken } }"}
    since = (await http.post("/graphql", headers=auth, json=now)).json()["data"]["sessionChanges"]
    [operation] = [
        d
        for d in parse(step.document).definitions
        if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == step.name
    ]
    declared = operation.variable_definitions or ()
    variables = {v.variable.name.value: since["syncToken"] for v in declared}
    counts = _root_fields(operation) == ["unreadCount"]  # it sends the count first, at once
    assert variables or counts, f"{step.name} takes no sync token: it could miss the change"
    socket = await GraphQLSocket.connect(url.replace("http", "ws") + "/graphql", token)
    try:
        if counts:
            await socket.subscribe(step.document)
            return await socket.next_data()
        payload = {"query": step.document, "operationName": step.name, "variables": variables}
        await socket.send({"id": "1", "type": "subscribe", "payload": payload})
        sample = step.sample or {}
        shown = sample.get("data", {}).get("sessionEvents", {}).get("session", {})
        if shown:  # the message the sample shows arrives
            sender, text = shown["lastMessage"]["from"], shown["lastMessage"]["text"]
            now_ms = int(time.time() * 1000)
            message = cc_message(f"docs-{uuid.uuid4().hex[:8]}", sender, "alice", now_ms, text=text)
            response = await post_signed(http, "/nim/cc", message, now_ms, secret=app_secret)
        else:  # a change no page shows: an ext set to what it is
            unchanged = UNCHANGED
            response = await http.post("/graphql", headers=auth, json={"query": unchanged})
        assert response.status_code == 200, response.text
        event = await socket.next_data()
        assert event["sessionEvents"]["syncToken"], (step.name, event)
        return event
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
