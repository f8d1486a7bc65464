"""JSON content kept as text: encoded at any depth, decoded only within the depth bound."""

from __future__ import annotations

import orjson
import pytest

from gateway.domain import json_text
from gateway.domain.json_text import MAX_DEPTH


def nested_lists(depth: int) -> str:
    return "[" * depth + "0" + "]" * depth


@pytest.mark.parametrize(
    "value",
    [None, True, 1, -2.5, "a\x00\"\\é😀", [], {}, [1, [2, {"k": [3]}]], {"a": {"b": None}, "c": []},
     {"ids": ["x", "y"], "id": 2}],
)  # fmt: skip
def test_encode_writes_what_orjson_writes(value: object) -> None:
    assert json_text.encode(value) == orjson.dumps(value).decode()


def test_encode_has_no_depth_limit() -> None:
    deep = nested_lists(1024)
    assert json_text.encode(orjson.loads(deep)) == deep


def test_decode_gives_json_up_to_the_depth_bound() -> None:
    assert json_text.decode(nested_lists(MAX_DEPTH)) == orjson.loads(nested_lists(MAX_DEPTH))


def test_decode_gives_the_text_one_level_past_the_bound() -> None:
    assert json_text.decode(nested_lists(MAX_DEPTH + 1)) == nested_lists(MAX_DEPTH + 1)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = orjson.dumps({"note": "[" * 500, "list": [["deep enough"]]}).decode()
    assert json_text.decode(text) == orjson.loads(text)


def test_a_wide_shallow_value_is_json() -> None:
    text = orjson.dumps([[n] for n in range(1000)]).decode()
    assert json_text.decode(text) == orjson.loads(text)


@pytest.mark.parametrize("text", ["not json", "", "[1,", nested_lists(1025), '"\\ud800"'])
def test_text_that_is_not_json_is_served_as_text(text: str) -> None:
    assert json_text.decode(text) == text
