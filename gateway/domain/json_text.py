"""Message content held as JSON text (``attach``, ``ext``), bounded in nesting where it is served.

NIM sends ``attach`` and ``ext`` as JSON text, sometimes as a JSON object. Either form is kept as
text, whatever its nesting: refusing it would make NIM redeliver it forever. Encoders have a
nesting limit (orjson's is 254 levels, for the whole response), so a value is served as JSON only
when it nests at most :data:`MAX_DEPTH` levels; anything deeper, or not JSON at all, is served as
its text.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

MAX_DEPTH = 64


def encode(value: object) -> str:
    """``value`` (as orjson parsed it) as compact JSON text, at any nesting depth."""
    return "".join(_tokens(value))


def decode(text: str) -> object:
    """The JSON value of ``text`` when it is JSON within :data:`MAX_DEPTH` levels, else ``text``."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if _within_depth(text, value) else text


def _within_depth(text: str, value: object) -> bool:
    # Every level opens a bracket: few brackets prove a shallow value without walking it.
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return True
    level: list[object] = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return True
    return not any(isinstance(item, dict | list) for item in level)


def _tokens(value: object) -> Iterator[str]:
    # Iterative, so depth costs no stack: a stack of pending pieces, each a value or a literal.
    pending: list[tuple[bool, object]] = [(False, value)]
    while pending:
        literal, item = pending.pop()
        if literal:
            assert isinstance(item, str)
            yield item
        elif isinstance(item, dict):
            pieces: list[tuple[bool, object]] = [(True, "{")]
            for n, (key, child) in enumerate(item.items()):
                separator = "," if n else ""
                pieces += [(True, separator + orjson.dumps(key).decode() + ":"), (False, child)]
            pending.extend(reversed([*pieces, (True, "}")]))
        elif isinstance(item, list):
            pieces = [(True, "[")]
            for n, child in enumerate(item):
                pieces += [(True, ","), (False, child)] if n else [(False, child)]
            pending.extend(reversed([*pieces, (True, "]")]))
        else:
            yield orjson.dumps(item).decode()
