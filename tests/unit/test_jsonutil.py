"""``jsonutil.parse_json`` (and the decoders' ``sources.jsontext.parse_json``, which share
``has_long_integer``): exact integers beyond 64 bits through the standard library, and the fast
parser kept for digit runs inside strings (hex ObjectIds with leading zeros, order numbers)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc import jsonutil
from streamproc.jsonutil import has_long_integer, parse_json
from streamproc.sources import jsontext


@pytest.mark.parametrize(
    ("text", "long"),
    [
        (b'{"_id":{"$oid":"0000000000000000660186a0"}}', False),
        (b'{"a":"-12345678901234567890"}', False),
        (b'{"a":1234567890123456789}', False),
        (b"[12345678901234567890]", True),
        (b'{"a": -1234567890123456789}', True),
        (b'{"a":1.00000000000000000001}', True),
        (b'{"a":1e-0000000000000000001}', True),
        (b"12345678901234567890", True),
        (b" \n 12345678901234567890", True),
        (b'{"a":[1,\n 99999999999999999999]}', True),
        (b'{"s":"x:12345678901234567890"}', True),  # inside a string, looks like a token: only slower
        (b'{"s":"' + b"1" * 45 + b'"}', False),  # a string starting with digits, longer than one run
        (b'{"s":"' + b"1" * 19 + b'","n":12345678901234567890}', True),
        (b'{"s":"' + b"1" * 19 + b'","n":-1234567890123456789}', True),
    ],
)
def test_a_number_token_with_a_long_digit_run_is_found(text: bytes, long: bool) -> None:
    assert has_long_integer(text) is long


def test_digit_runs_inside_strings_keep_the_fast_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(_data: Any) -> Any:
        raise AssertionError("the standard-library parser ran")

    monkeypatch.setattr(jsonutil, "_parse_slow", refuse)
    oid = {"_id": {"$oid": "000000000000000066012345"}, "order": "12345678901234567890123"}
    assert parse_json(json.dumps(oid).encode()) == oid
    with pytest.raises(AssertionError, match="standard-library"):
        parse_json(b"[123456789012345678901]")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(alphabet="0123456789-:,[ ab", max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON, st.booleans())
def test_both_parsers_keep_every_integer_exactly(value: Any, spaced: bool) -> None:
    text = json.dumps(value, separators=(", ", ": ") if spaced else (",", ":")).encode()
    assert parse_json(text) == value
    assert jsontext.parse_json(text) == value
