"""``JSON.stringify`` as the Atlas triggers printed documents (``streamproc.sinks.s3.js_json``)."""

from __future__ import annotations

import math

import pytest

from streamproc.sinks.s3.js_json import js_json, js_number


def test_js_json_is_compact_utf8_without_escaping_non_ascii() -> None:
    out = js_json({"name": "Zoë € 😀", "nested": {"a": [1, 2]}, "t": True, "z": None})
    assert out == '{"name":"Zoë € 😀","nested":{"a":[1,2]},"t":true,"z":null}'.encode()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.0, "5"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (123.456, "123.456"),
        (-2.5e-8, "-2.5e-8"),
        (float("nan"), "null"),
        (float("inf"), "null"),
    ],
)
def test_numbers_print_as_javascript_prints_them(value: float, text: str) -> None:
    assert js_json([value]) == f"[{text}]".encode()
    if math.isfinite(value) and not value.is_integer():
        assert js_number(value) == text


def test_escapes_match_json_stringify() -> None:
    assert js_json('a\nb\t\x01"\\/\u2028') == b'"a\\nb\\t\\u0001\\"\\\\/\xe2\x80\xa8"'
    assert js_json({"s": "x\ud800y"}) == b'{"s":"x\\ud800y"}'  # lone surrogate, like well-formed JSON.stringify
    assert js_json({"big": 2**70, "f": 2.0}) == b'{"big":1180591620717411303424,"f":2}'
