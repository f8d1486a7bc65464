"""Webhook field parsers: every limit at its value and one past it."""

from __future__ import annotations

import pytest

from gateway.domain import fields
from gateway.domain.fields import MAX_DIGITS, MAX_ID_LENGTH, MAX_TIME
from gateway.errors import BadEvent


def test_integers_of_up_to_18_ascii_digits_are_numbers() -> None:
    assert fields.integer("9" * MAX_DIGITS, "n") == 10**MAX_DIGITS - 1
    assert fields.integer(10**MAX_DIGITS - 1, "n") == 10**MAX_DIGITS - 1
    assert fields.integer("007", "n") == 7
    assert fields.integer(0, "n") == 0


@pytest.mark.parametrize(
    "value", ["1" * (MAX_DIGITS + 1), 10**MAX_DIGITS, "²", "\uff11", "--1", "-1", "+1", " 1", "1 ",
              "1_0", "0x1", "", -1, True, 1.0, None, [1]],
)  # fmt: skip
def test_anything_else_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(BadEvent, match="eventType"):
        fields.integer(value, "eventType")


def test_times_run_to_the_end_of_9999() -> None:
    assert fields.milliseconds(str(MAX_TIME), "t") == MAX_TIME
    with pytest.raises(BadEvent, match="msgTimestamp"):
        fields.milliseconds(MAX_TIME + 1, "msgTimestamp")


def test_ids_run_to_128_printable_characters() -> None:
    assert fields.identifier("m" * MAX_ID_LENGTH, "id") == "m" * MAX_ID_LENGTH
    assert fields.identifier(6_100_000_000_001, "id") == "6100000000001"
    assert fields.identifier("消息-1", "id") == "消息-1"


@pytest.mark.parametrize(
    "value", ["m" * (MAX_ID_LENGTH + 1), "", "a\x00", "a b", "a\u00a0b", "\t", -1, False, 1.5,
              None],
)  # fmt: skip
def test_other_ids_are_refused(value: object) -> None:
    with pytest.raises(BadEvent, match="msgidServer"):
        fields.identifier(value, "msgidServer")


def test_text_may_not_hold_nul() -> None:
    assert fields.optional_text(None, "body") is None
    with pytest.raises(BadEvent, match="NUL"):
        fields.optional_text("a\x00", "body")


def test_json_content_is_kept_as_text() -> None:
    assert fields.optional_json_text('{"a": 1}', "attach") == '{"a": 1}'
    assert fields.optional_json_text({"a": ["\x00"]}, "attach") == '{"a":["\\u0000"]}'
    with pytest.raises(BadEvent, match="attach"):
        fields.optional_json_text(5, "attach")
