"""Schema-first clients: the operations in clients/ compile with graphql-codegen and relay-compiler
against schema.graphql into code that type-checks, and schema.graphql never breaks those clients
unless the commit says so."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import (
    REMOVE,
    FieldDefinitionNode,
    OperationDefinitionNode,
    Visitor,
    build_schema,
    is_abstract_type,
    parse,
    print_ast,
    validate,
    visit,
)

from tests.tools import ROOT, STRICT, npm, npm_project, require

# npm builds and compilers: up to their own limit (tools.npm), past the suite's 120 s default
pytestmark = pytest.mark.timeout(300)

SCHEMA = ROOT / "schema.graphql"
EXPECTED_OPERATIONS = {
    "SessionList", "Session", "TotalUnreadCount", "SessionChanges",
    "UpdateSessionExt", "DeleteSessions", "MarkSessionsRead", "PinSession", "SessionEvents",
    # NIM V2's conversation features (issue 24)
    "SessionGroups", "GroupSessionList", "UnreadCount", "UnreadCountByFilter", "SessionsByIds",
    "Nodes", "CreateSessionGroup", "UpdateSessionGroup", "DeleteSessionGroup",
    "AddSessionsToGroup", "RemoveSessionsFromGroup", "MuteSessions", "MarkGroupRead",
    "MarkTypesRead", "CreateSession",
}  # fmt: skip


@pytest.fixture(scope="module")
def clients() -> Path:
    return npm_project("clients")


# What clients/ exports for normalized caches, committed: codegen writes them again each run.
CACHE_EXPORTS = ("introspection.json", "possibleTypes.json")


@pytest.fixture(scope="module")
def committed_exports(clients: Path) -> dict[str, str]:
    return {name: (clients / name).read_text() for name in CACHE_EXPORTS}


@pytest.fixture(scope="module")
def generated(clients: Path, committed_exports: dict[str, str]) -> Path:
    """codegen and relay-compiler run once over the real project; each must succeed."""
    for script in ("codegen", "relay"):
        result = npm(clients, "run", script)
        assert result.returncode == 0, f"npm run {script}:\n{result.stdout}{result.stderr}"
    return clients


def operations(clients: Path) -> dict[str, str]:
    """Each operation in clients/operations/ by name, with its type (query, mutation, ...)."""
    found: dict[str, str] = {}
    for file in sorted((clients / "operations").glob("*.graphql")):
        for definition in parse(file.read_text()).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                found[definition.name.value] = definition.operation.value
    return found


def test_the_operations_cover_what_a_frontend_does_and_validate(clients: Path) -> None:
    assert set(operations(clients)) == EXPECTED_OPERATIONS
    schema = build_schema(SCHEMA.read_text())
    document = parse("\n".join(f.read_text() for f in (clients / "operations").glob("*.graphql")))
    assert validate(schema, document) == []


def test_codegen_types_every_operation(generated: Path) -> None:
    code = (generated / "generated" / "operations.ts").read_text()
    for name, kind in operations(generated).items():
        suffix = kind.capitalize()
        assert f"export type {name}{suffix} = " in code  # the result type
        assert f"export type {name}{suffix}Variables = " in code
        assert f"export const {name}Document = " in code  # the typed document
    schema_types = (generated / "generated" / "schema.ts").read_text()
    assert "export type Session = Node & {" in schema_types
    assert "DateTime: { input: string; output: string; }" in schema_types


def test_the_cache_exports_are_in_step_with_the_schema(
    generated: Path, committed_exports: dict[str, str]
) -> None:
    for name, committed in committed_exports.items():
        assert (generated / name).read_text() == committed, (
            f"clients/{name} is not what schema.graphql gives: commit the one `npm run codegen` "
            "(in clients/, or `make schema`) just wrote"
        )
    schema = build_schema(SCHEMA.read_text())
    possible = json.loads(committed_exports["possibleTypes.json"])["possibleTypes"]
    abstract = {
        name: sorted(t.name for t in schema.get_possible_types(kind))
        for name, kind in schema.type_map.items()
        if is_abstract_type(kind) and not name.startswith("__")
    }
    assert {name: sorted(members) for name, members in possible.items()} == abstract
    introspected = json.loads(committed_exports["introspection.json"])["__schema"]["types"]
    assert {t["name"] for t in introspected} >= set(abstract) | {"Session", "SessionConnection"}


def test_relay_compiler_writes_an_artifact_per_operation_and_fragment(generated: Path) -> None:
    artifacts = {p.name for p in (generated / "relay" / "__generated__").glob("*.graphql.ts")}
    assert {
        "SessionListQuery.graphql.ts", "SessionListPaginationQuery.graphql.ts",
        "SessionList_query.graphql.ts", "SessionRow_session.graphql.ts",
        "SessionDetailQuery.graphql.ts", "UpdateSessionExtMutation.graphql.ts",
        "DeleteSessionsMutation.graphql.ts", "SessionEventsSubscription.graphql.ts",
        "SessionGroupsQuery.graphql.ts", "MuteSessionsMutation.graphql.ts",
        "DeleteSessionGroupMutation.graphql.ts",
    } <= artifacts  # fmt: skip


def test_the_generated_code_type_checks(generated: Path) -> None:
    result = npm(generated, "run", "typecheck")
    assert result.returncode == 0, result.stdout + result.stderr


def copy_of(clients: Path, tmp_path: Path) -> Path:
    """The clients project beside its own schema.graphql, sharing the installed packages."""
    copy = tmp_path / "clients"
    shutil.copytree(
        clients, copy, ignore=shutil.ignore_patterns("node_modules", "generated", "__generated__")
    )
    (copy / "node_modules").symlink_to(clients / "node_modules")
    shutil.copy(SCHEMA, tmp_path / "schema.graphql")
    return copy


TYPOS = {
    "codegen": ("operations/typo.graphql",
                "query Typo { sessions { edges { node { nickname } } } }\n"),
    "relay": ("relay/Typo.ts",
              'import { graphql } from "relay-runtime";\n'
              "export const typo = graphql`fragment Typo_session on Session { nickname }`;\n"),
}  # fmt: skip


@pytest.mark.parametrize("script", sorted(TYPOS))
def test_each_compiler_fails_on_a_field_the_schema_does_not_have(
    clients: Path, tmp_path: Path, script: str
) -> None:
    copy = copy_of(clients, tmp_path)
    path, source = TYPOS[script]
    (copy / path).write_text(source)
    result = npm(copy, "run", script)
    assert result.returncode != 0
    assert "nickname" in result.stdout + result.stderr


def schema_diff(clients: Path, old: str, new: str) -> subprocess.CompletedProcess[str]:
    """graphql-inspector's verdict (exit 1 if breaking); either side may be git:REF:PATH."""
    inspector = clients / "node_modules" / ".bin" / "graphql-inspector"
    return subprocess.run(
        [str(inspector), "diff", old, new],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def previous_schema(base: str) -> bool:
    """Whether ``base:schema.graphql`` can be read; in strict mode a shallow clone first fetches
    the commit it lacks (CI clones are full, but a shallow one must not skip the check)."""
    if git("cat-file", "-e", f"{base}:schema.graphql").returncode == 0:
        return True
    shallow = git("rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    if STRICT and shallow:
        fetched = git("fetch", "--quiet", "--deepen=1")
        assert fetched.returncode == 0, f"could not fetch {base} of a shallow clone: {fetched}"
    return git("cat-file", "-e", f"{base}:schema.graphql").returncode == 0


def test_schema_has_no_breaking_change_the_commit_does_not_announce(clients: Path) -> None:
    """Uncommitted changes are compared with HEAD; a committed one with the commit before it,
    and there a breaking change passes only when the commit message says `BREAKING CHANGE`."""
    checkout = git("rev-parse", "--is-inside-work-tree").returncode == 0
    require(checkout, "not a git checkout: there is no previous schema to compare with")
    edited = git("diff", "--quiet", "HEAD", "--", "schema.graphql").returncode != 0
    base = "HEAD" if edited else "HEAD~1"
    require(
        previous_schema(base),
        f"no {base}:schema.graphql to compare with (a shallow clone: git fetch --deepen=1)",
    )
    result = schema_diff(clients, f"git:{base}:schema.graphql", "schema.graphql")
    if result.returncode == 0:
        return
    message = "" if edited else git("log", "-1", "--format=%B").stdout
    assert "BREAKING CHANGE" in message, (
        f"schema.graphql breaks clients of {base}; if that is intended, commit it with "
        f"'BREAKING CHANGE: <why>' in the message.\n{result.stdout}{result.stderr}"
    )


def test_the_schema_check_catches_a_removed_field(clients: Path, tmp_path: Path) -> None:
    class RemoveServerExt(Visitor):
        def enter_field_definition(self, node: FieldDefinitionNode, *_: object) -> object:
            return REMOVE if node.name.value == "serverExt" else None

    changed = tmp_path / "schema.graphql"
    changed.write_text(print_ast(visit(parse(SCHEMA.read_text()), RemoveServerExt())))
    result = schema_diff(clients, str(SCHEMA), str(changed))
    assert result.returncode == 1
    assert "Field serverExt was removed from object type Session" in result.stdout
    assert schema_diff(clients, str(SCHEMA), str(SCHEMA)).returncode == 0
