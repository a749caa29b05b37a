"""Extended JSON in every mode → the same plain JSON."""

from __future__ import annotations

import pytest

from streamproc.cli.dump import to_json_line
from streamproc.sources import parse_json, to_plain
from streamproc.sources.extjson import ExtJSONError, loads

from ._support import strict_json

OID = "596e275826f08b2730779e1f"

EXPECTED = {
    "_id": 1004,
    "when": "2026-07-03T17:59:45.729Z",
    "price": 62.0,
    "dec": "12345.6789",
    "bin": "a2Fma2E=",
    "oid": OID,
    "re": "/^an?/im",
    "ts": {"t": 1558965508, "i": 31},
    "n": 7,
    "nested": [{"d": "1970-01-01T00:00:00.000Z"}],
}

LEGACY_STRICT = (
    '{"_id" : {"$numberLong" : "1004"}, "when" : {"$date" : 1783101585729}, "price" : 62.0,'
    ' "dec" : {"$numberDecimal" : "12345.6789"}, "bin" : {"$binary" : "a2Fma2E=", "$type" : "00"},'
    f' "oid" : {{"$oid" : "{OID}"}}, "re" : {{"$regex" : "^an?", "$options" : "im"}},'
    ' "ts" : {"$timestamp" : {"t" : 1558965508, "i" : 31}}, "n" : 7, "nested" : [{"d" : {"$date" : 0}}]}'
)
RELAXED = (
    '{"_id": 1004, "when": {"$date": "2026-07-03T17:59:45.729Z"}, "price": 62.0,'
    ' "dec": {"$numberDecimal": "12345.6789"}, "bin": {"$binary": {"base64": "a2Fma2E=", "subType": "00"}},'
    f' "oid": {{"$oid": "{OID}"}}, "re": {{"$regularExpression": {{"pattern": "^an?", "options": "im"}}}},'
    ' "ts": {"$timestamp": {"t": 1558965508, "i": 31}}, "n": 7, "nested": [{"d": {"$date": "1970-01-01T00:00:00Z"}}]}'
)
CANONICAL = (
    '{"_id":{"$numberLong":"1004"},"when":{"$date":{"$numberLong":"1783101585729"}},'
    '"price":{"$numberDouble":"62.0"},"dec":{"$numberDecimal":"12345.6789"},'
    '"bin":{"$binary":{"base64":"a2Fma2E=","subType":"00"}},'
    f'"oid":{{"$oid":"{OID}"}},"re":{{"$regularExpression":{{"pattern":"^an?","options":"im"}}}},'
    '"ts":{"$timestamp":{"t":1558965508,"i":31}},"n":{"$numberInt":"7"},'
    '"nested":[{"d":{"$date":{"$numberLong":"0"}}}]}'
)


@pytest.mark.parametrize("text", [LEGACY_STRICT, RELAXED, CANONICAL], ids=["strict", "relaxed", "canonical"])
def test_every_mode_gives_the_same_plain_document(text: str) -> None:
    assert loads(text) == EXPECTED


def test_java_strict_non_finite_tokens_and_exponents() -> None:
    doc = loads('{"a": NaN, "b": Infinity, "c": -Infinity, "d": 1.0E+20, "e": [NaN, 1]}')
    assert doc == {"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 1e20, "e": ["NaN", 1]}
    assert strict_json(to_json_line(doc)) == doc


def test_canonical_non_finite_doubles_become_their_spelling() -> None:
    doc = loads('{"a": {"$numberDouble": "NaN"}, "b": {"$numberDouble": "-Infinity"}, "c": {"$numberDouble": "1.5"}}')
    assert doc == {"a": "NaN", "b": "-Infinity", "c": 1.5}


def test_large_integers_stay_exact() -> None:
    doc = loads(
        '{"a": {"$numberLong": "9223372036854775807"}, "b": 1546547425148721999,'
        ' "c": 123456789012345678901234567890, "d": -9223372036854775809}'
    )
    assert doc == {
        "a": 9223372036854775807,
        "b": 1546547425148721999,
        "c": 123456789012345678901234567890,
        "d": -9223372036854775809,
    }
    assert all(type(v) is int for v in doc.values())


def test_parse_json_fallbacks_keep_exact_values() -> None:
    assert parse_json(b"[18446744073709551616, 1.5]") == [18446744073709551616, 1.5]
    assert parse_json('{"x": NaN}') == {"x": "NaN"}
    with pytest.raises(ValueError):
        parse_json(b'{"op": "c", "after": "{\\"a')


def test_other_bson_types() -> None:
    doc = loads(
        '{"u": {"$uuid": "00112233-4455-6677-8899-aabbccddeeff"}, "lo": {"$minKey": 1}, "hi": {"$maxKey": 1},'
        ' "code": {"$code": "return 1"}, "ref": {"$ref": "users", "$id": {"$oid": "' + OID + '"}},'
        ' "sym": {"$symbol": "s"}, "undef": {"$undefined": true}, "far": {"$date": {"$numberLong": "253402300800000"}}}'
    )
    assert doc == {
        "u": "ABEiM0RVZneImaq7zN3u/w==",
        "lo": "MinKey",
        "hi": "MaxKey",
        "code": "return 1",
        "ref": {"$ref": "users", "$id": OID},
        "sym": "s",
        "undef": None,
        "far": 253402300800000,
    }


def test_dates_before_epoch_and_iso_with_offset() -> None:
    assert loads('{"$date": -1}') == "1969-12-31T23:59:59.999Z"
    assert loads('{"$date": "2020-01-01T01:00:00.5+01:00"}') == "2020-01-01T00:00:00.500Z"


def test_document_fields_with_dollar_later_in_object_are_kept() -> None:
    assert to_plain({"a": 1, "$b": {"$numberInt": "2"}}) == {"a": 1, "$b": 2}


def test_plain_input_is_not_mutated() -> None:
    doc = {"x": {"$oid": OID}, "y": [{"$numberLong": "5"}]}
    assert to_plain(doc) == {"x": OID, "y": [5]}
    assert doc == {"x": {"$oid": OID}, "y": [{"$numberLong": "5"}]}


@pytest.mark.parametrize(
    "text",
    ['{"$numberLong": "twelve"}', '{"$date": {"$numberLong": "x"}}', '{"$binary": {"base64": 5, "subType": "00"}}'],
)
def test_malformed_wrappers_raise_without_the_value(text: str) -> None:
    with pytest.raises(ExtJSONError) as info:
        loads(text)
    assert "twelve" not in str(info.value)
    assert str(info.value).startswith("invalid Extended JSON $")


@pytest.mark.parametrize(
    "text",
    [
        "12.50",
        "-0.10",
        "0",
        "-0",
        "0.000",
        "1234567890123456789012345678901.12",
        "1E+3",
        "00.1",
        "1.",
        "NaN",
        "-Infinity",
        "12345678901234567890123456789012345.5",
    ],
)
def test_decimal128_fast_path_prints_what_bson_prints(text):
    from bson.decimal128 import Decimal128

    try:
        expected = str(Decimal128(text))
    except Exception:  # noqa: BLE001 - bson raises several types; not representable: the decoder must reject it too, never pass it on
        with pytest.raises(ExtJSONError):
            to_plain({"$numberDecimal": text})
        return
    assert to_plain({"$numberDecimal": text}) == expected
