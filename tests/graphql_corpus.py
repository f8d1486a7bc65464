"""Every GraphQL document this repository writes down, for the differential test.

Three sources, as issue 17 names them:

- ``clients``: the ``*.graphql`` operations, and the Relay operations in ``graphql`` tagged
  templates, completed with the fragments of the other files and without Relay's compile-time
  directives (what relay-compiler sends keeps neither).
- ``docs``: README.md and docs/: ```graphql blocks, the ``"query"`` of JSON bodies (curl) and
  the ``query:`` template literals of JavaScript examples.
- ``tests``: string literals of tests/ that parse as executable documents (valid or not: an
  invalid one must fail the same way on both paths). Pieces of f-strings are not documents.

A document is its exact text (whitespace decides error locations), kept once, named by the
first place it was found.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutableDefinitionNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSyntaxError,
    Node,
    OperationDefinitionNode,
    Visitor,
    parse,
    print_ast,
    visit,
)
from graphql.language.visitor import REMOVE

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("clients", "docs", "tests")

# Directives relay-compiler consumes: the document it sends has none of them.
RELAY_DIRECTIVES = {"arguments", "argumentDefinitions", "connection", "refetchable",
                    "deleteRecord", "appendEdge", "prependEdge", "relay"}  # fmt: skip
_TAGGED = re.compile(r"\b(?:graphql|gql)`([^`]*)`")
_NOT_WRITTEN = {"node_modules", "generated", "__generated__"}
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_JSON_QUERY = re.compile(r'"query"\s*:\s*("(?:[^"\\]|\\.)*")')
_JS_QUERY = re.compile(r"\bquery:\s*`((?:[^`$]|\$(?!\{))*)`")


@dataclass(frozen=True)
class Operation:
    name: str | None
    kind: str  # query, mutation or subscription


@dataclass
class Document:
    text: str
    source: str  # clients, docs or tests
    place: str  # where it was first found, path:line
    also: list[str] = field(default_factory=list)

    @property
    def node(self) -> DocumentNode:
        return parse(self.text)

    @property
    def operations(self) -> list[Operation]:
        return [
            Operation(d.name.value if d.name else None, d.operation.value)
            for d in self.node.definitions
            if isinstance(d, OperationDefinitionNode)
        ]

    @property
    def writes(self) -> bool:
        return any(op.kind == "mutation" for op in self.operations)

    @property
    def subscribes(self) -> bool:
        return any(op.kind == "subscription" for op in self.operations)


def collect(root: Path = ROOT, skip: Iterable[Path] = ()) -> list[Document]:
    """The corpus, deduplicated, in a stable order (clients, docs, tests; by place)."""
    found: dict[str, Document] = {}
    skipped = {path.resolve() for path in skip}
    for source, place, text in (
        *_clients(root),
        *_docs(root),
        *_tests(root, skipped),
    ):
        if not executable(text):
            continue
        if text in found:
            found[text].also.append(place)
        else:
            found[text] = Document(text, source, place)
    return list(found.values())


def executable(text: str) -> bool:
    """Whether ``text`` parses as a document of operations and fragments only."""
    try:
        document = parse(text)
    except GraphQLSyntaxError:
        return False
    return bool(document.definitions) and all(
        isinstance(d, ExecutableDefinitionNode) for d in document.definitions
    )


def _clients(root: Path) -> Iterator[tuple[str, str, str]]:
    files = _client_files(root / "clients")
    for path in files:
        if path.suffix == ".graphql":
            yield "clients", _place(path, root, 1), path.read_text()
    tagged = [
        (path, text, line)
        for path in files
        if path.suffix in (".ts", ".tsx")
        for text, line in _tagged_templates(path.read_text())
    ]
    fragments = {
        d.name.value: d
        for _, text, _ in tagged
        if executable(text)
        for d in parse(text).definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    for path, text, line in tagged:
        if not executable(text):
            continue
        operations = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
        for operation in operations:
            yield "clients", _place(path, root, line), _as_sent(operation, fragments)


def _client_files(clients: Path) -> list[Path]:
    """The client code, without installed packages and what the tools generate from it."""
    found: list[Path] = []
    for folder, subfolders, names in os.walk(clients):
        subfolders[:] = [s for s in subfolders if s not in _NOT_WRITTEN]
        found.extend(Path(folder) / name for name in names)
    return sorted(p for p in found if p.suffix in (".graphql", ".ts", ".tsx"))


def _tagged_templates(code: str) -> Iterator[tuple[str, int]]:
    for match in _TAGGED.finditer(code):
        yield match.group(1), code.count("\n", 0, match.start()) + 1


def _as_sent(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> str:
    """A Relay operation as its compiler sends it, near enough: with the fragments it spreads
    (from any file), without Relay's own directives."""
    needed: dict[str, FragmentDefinitionNode] = {}
    pending: list[Node] = [operation]
    while pending:
        for name in _spreads(pending.pop()):
            if name in fragments and name not in needed:
                needed[name] = fragments[name]
                pending.append(fragments[name])
    document = DocumentNode(definitions=(operation, *needed.values()))
    return print_ast(visit(document, _WithoutRelayDirectives()))


def _spreads(node: Node) -> set[str]:
    names: set[str] = set()

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            names.add(spread.name.value)

    visit(node, Spreads())
    return names


class _WithoutRelayDirectives(Visitor):
    def enter_directive(self, directive: DirectiveNode, *_: object) -> object:
        return REMOVE if directive.name.value in RELAY_DIRECTIVES else None


def _docs(root: Path) -> Iterator[tuple[str, str, str]]:
    for path in [root / "README.md", *sorted((root / "docs").rglob("*.md"))]:
        markdown = path.read_text()
        for fence in _FENCE.finditer(markdown):
            language, body = fence.group(1), fence.group(2)
            line = markdown.count("\n", 0, fence.start(2)) + 1
            if language == "graphql":
                yield "docs", _place(path, root, line), body
                continue
            for match in _JSON_QUERY.finditer(body):
                where = line + body.count("\n", 0, match.start())
                yield "docs", _place(path, root, where), json.loads(match.group(1))
            for match in _JS_QUERY.finditer(body):
                where = line + body.count("\n", 0, match.start())
                yield "docs", _place(path, root, where), match.group(1)


def _tests(root: Path, skipped: set[Path]) -> Iterator[tuple[str, str, str]]:
    for path in sorted((root / "tests").rglob("*.py")):
        if path.resolve() in skipped:
            continue
        nodes = list(ast.walk(ast.parse(path.read_text(), filename=str(path))))
        pieces = {id(part) for node in nodes if isinstance(node, ast.JoinedStr)
                  for part in node.values}  # fmt: skip
        for node in nodes:
            if not isinstance(node, ast.Constant) or id(node) in pieces:
                continue
            # Every executable document has a selection set: a cheap test before parsing.
            if isinstance(node.value, str) and "{" in node.value:
                yield "tests", _place(path, root, node.lineno), node.value


def _place(path: Path, root: Path, line: int) -> str:
    return f"{path.relative_to(root)}:{line}"
