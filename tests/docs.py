"""The runnable parts of a Markdown page, in order: its ``sh`` blocks and its GraphQL operations,
each with the sample output the page shows for it, and the rule a sample follows.

- An ``sh`` block runs as one shell script; its ``# {...}`` comment lines are a sample of what it
  prints (one JSON document). A block that a reader runs elsewhere (on a server, with Docker)
  follows a ``<!-- not run: why -->`` line and is not run here.
- A ``graphql`` block's operations run in order; a ``json`` block right after it is a sample of
  the answer to the block's last operation.
- A sample matches an answer when it has the same keys and values, except that a string ending
  in ``...`` stands for any string that starts as it does, a ``DateTime`` for any other
  ``DateTime`` (the demo's times are those of its start), and a list may show only its first
  items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import OperationDefinitionNode, OperationType, parse

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\s*$")
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@dataclass
class Shell:
    where: str
    lines: list[str]
    sample: Any | None  # what it prints, as JSON


@dataclass
class Operation:
    where: str
    document: str
    name: str
    kind: OperationType
    sample: Any | None  # the whole answer, as JSON


@dataclass
class Skipped:
    where: str
    why: str


Step = Shell | Operation | Skipped


def steps(page: Path, root: Path) -> list[Step]:
    text = page.read_text()
    found: list[Step] = []
    fences = list(FENCE.finditer(text))
    for n, fence in enumerate(fences):
        language, body = fence.group(1), fence.group(2)
        line = text.count("\n", 0, fence.start()) + 1
        where = f"{page.relative_to(root)}:{line}"
        if language == "sh":
            before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if skipped := NOT_RUN.search(before):
                found.append(Skipped(where, skipped.group(1)))
                continue
            found.append(_shell(where, body))
        elif language == "graphql":
            following = fences[n + 1] if n + 1 < len(fences) else None
            sample = None
            if (
                following is not None
                and following.group(1) == "json"
                and not text[fence.end() : following.start()].strip()
            ):
                sample = orjson.loads(following.group(2))
            operations = [
                Operation(where, body, d.name.value, d.operation, None)
                for d in parse(body).definitions
                if isinstance(d, OperationDefinitionNode) and d.name
            ]
            if operations:
                operations[-1].sample = sample
            found.extend(operations)
    return found


def _shell(where: str, body: str) -> Shell:
    lines, sample = [], []
    for line in body.splitlines():
        if line.startswith("# "):
            sample.append(line[2:])
        elif line.strip():
            lines.append(re.sub(r"\s{2,}#.*$", "", line).rstrip())  # trailing comments
    return Shell(where, lines, orjson.loads("\n".join(sample)) if sample else None)


def mismatch(sample: Any, answer: Any, path: str = "") -> str | None:
    """Where ``answer`` differs from ``sample`` (see the module's rule); None when it matches."""
    here = path or "the answer"
    if isinstance(sample, dict):
        if not isinstance(answer, dict) or sample.keys() != answer.keys():
            keys = sorted(answer) if isinstance(answer, dict) else answer
            return f"{here}: the sample has {sorted(sample)}, the answer {keys}"
        for key, value in sample.items():
            if found := mismatch(value, answer[key], f"{path}.{key}"):
                return found
        return None
    if isinstance(sample, list):
        if not isinstance(answer, list) or len(sample) > len(answer):
            return f"{here}: the sample has {len(sample)} items, the answer {answer!r}"
        for n, (value, got) in enumerate(zip(sample, answer, strict=False)):
            if found := mismatch(value, got, f"{path}[{n}]"):
                return found
        return None
    if isinstance(sample, str) and isinstance(answer, str):
        if sample.endswith("...") and answer.startswith(sample[:-3]):
            return None
        if DATETIME.match(sample) and DATETIME.match(answer):
            return None
    if sample == answer and type(sample) is type(answer):
        return None
    return f"{here}: the sample says {sample!r}, the demo answered {answer!r}"
