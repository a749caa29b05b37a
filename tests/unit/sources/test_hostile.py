"""Poison pills: hostile inputs become a typed DecodeError with a value-free reason, never a
traceback, a stall or a crash (issue 10 §0). Every input here is our own; CANARY values are
searched for in every message produced."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import traceback
from io import StringIO
from typing import Any

import pytest

from streamproc.cli.decode import run_decode
from streamproc.errors import DecodeError
from streamproc.sources import Decoder, parse_json
from streamproc.sources.jsontext import MAX_DEPTH, JSONDepthError, JSONLimitError

from ._support import REPO_ROOT, FakeRegistry, dumps, frame

CANARY = "CANARY7f3a"
PG = "pg.public.t"
MONGO = "cdc.db.c"


def sql(after: Any, schema: Any = None) -> dict[str, Any]:
    payload = {"op": "c", "after": after, "source": {"connector": "postgresql", "lsn": 5, "schema": "public"}}
    if schema is None:
        return payload
    row = {"type": "struct", "fields": schema}
    return {"schema": {"type": "struct", "fields": [dict(row, field="after")]}, "payload": payload}


def mongo(after: str, op: str = "c", **extra: Any) -> dict[str, Any]:
    src = {"connector": "mongodb", "ts_ms": 1000, "ord": 1, "db": "db", "collection": "c"}
    return {"op": op, "after": after, "source": src, **extra}


def reason_of(decoder: Decoder, topic: str, value: bytes, key: bytes | None = None) -> str:
    with pytest.raises(DecodeError) as info:
        decoder.decode(topic, key, value)
    text = str(info.value)
    printed = "".join(traceback.format_exception(info.value))  # what a log of the error would show
    assert CANARY not in printed and CANARY.lower() not in printed
    assert info.value.__cause__ is None
    return text


# --- Connect decimals with absurd scales or sizes --------------------------------------------

DECIMAL = "org.apache.kafka.connect.data.Decimal"


@pytest.mark.parametrize("scale", ["10000000000", "999999999999999999999999", "-100000", 10**30])
def test_decimal_with_an_absurd_scale_is_poison_naming_the_limit(decoder: Decoder, scale: Any) -> None:
    field = [{"field": "amt", "type": "bytes", "name": DECIMAL, "parameters": {"scale": scale}}]
    value = dumps(sql({"amt": base64.b64encode(b"\x30\x39").decode()}, field))
    assert reason_of(decoder, PG, value) == "debezium-sql: 'after': a decimal scale is beyond 1000 places (the limit)"


def test_decimal_with_more_than_1000_digits_is_poison(decoder: Decoder) -> None:
    huge = base64.b64encode((10**1100).to_bytes(460, "big", signed=True)).decode()
    field = [{"field": "amt", "type": "bytes", "name": DECIMAL, "parameters": {"scale": "2"}}]
    reason = reason_of(decoder, PG, dumps(sql({"amt": huge}, field)))
    assert reason.endswith("a decimal has more than 1000 digits (the limit)")


def test_an_800_kb_decimal_line_fails_fast(decoder: Decoder) -> None:
    """Before: a 600 KB two's-complement decimal took seconds (Decimal(int) is quadratic) and
    800 KB about 35 s. Now the size is refused before any conversion: a bounded check, with a
    generous margin (the fix answers in milliseconds)."""
    huge = base64.b64encode(b"\x01" * 600_000).decode()
    field = [{"field": "amt", "type": "bytes", "name": DECIMAL, "parameters": {"scale": "2"}}]
    line = json.dumps({"topic": PG, "value": sql({"amt": huge}, field)})
    assert len(line) > 800_000
    digits = json.dumps(
        {"topic": PG, "value_b64": base64.b64encode(b'{"op":"c","after":{"n":' + b"7" * 800_000 + b"}}").decode()}
    )
    code = (
        "import sys, time\n"
        "from io import StringIO\n"
        "from streamproc.cli.decode import run_decode\n"
        "start = time.monotonic(); out = StringIO()\n"
        "run_decode(sys.stdin.read().splitlines(), out, None)\n"
        "print(round(time.monotonic() - start, 3)); print(out.getvalue())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], input=line + "\n" + digits + "\n", capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    elapsed, *lines = proc.stdout.splitlines()
    assert float(elapsed) < 10.0
    results = [json.loads(x) for x in lines if x]
    assert [r["status"] for r in results] == ["error", "error"]
    assert "1000 digits" in results[0]["reason"] and "1000 digits" in results[1]["reason"]


# --- text: lone surrogates, invalid UTF-8, nesting ---------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b'{"op":"c","after":{"id":1,"x":"\\ud800' + CANARY.encode() + b'"},"source":{"lsn":1}}',
        b'{"op":"c","after":{"id":1,"\\udfff":"' + CANARY.encode() + b'"},"source":{"lsn":1}}',
        b'{"op":"c","after":{"id":12345678901234567890123,"x":"\\uDBFF"},"source":{"lsn":1}}',  # slow path
        b'"{\\"op\\":\\"c\\",\\"after\\":{\\"x\\":\\"\\\\ud800\\"},\\"source\\":{\\"lsn\\":1}}"',  # StringConverter
    ],
)
def test_escaped_lone_surrogates_are_poison(decoder: Decoder, value: bytes) -> None:
    assert "lone UTF-16 surrogate" in reason_of(decoder, PG, value)


def test_a_lone_surrogate_inside_an_extended_json_string_is_poison(decoder: Decoder) -> None:
    value = dumps(mongo('{"_id": 1, "x": "\\ud800' + CANARY + '"}'))
    assert "lone UTF-16 surrogate" in reason_of(decoder, MONGO, value)


def test_surrogate_pairs_are_text_and_stay(decoder: Decoder) -> None:
    ev = decoder.decode(PG, None, b'{"op":"c","after":{"id":1,"x":"\\ud83d\\ude00"},"source":{"lsn":1}}')
    assert ev.after == {"id": 1, "x": "\U0001f600"}


def test_parsed_input_with_a_lone_surrogate_is_poison(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="lone UTF-16 surrogate"):
        decoder.decode_json(PG, None, sql({"id": 1, "x": "\ud800"}))


@pytest.mark.parametrize("raw", [b"\xff", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82"])
def test_invalid_utf8_is_poison(decoder: Decoder, raw: bytes) -> None:
    value = b'{"op":"c","after":{"id":1,"x":"' + CANARY.encode() + raw + b'"},"source":{"lsn":1}}'
    assert "invalid UTF-8 at byte" in reason_of(decoder, PG, value)


def test_utf16_text_is_not_taken_for_json(decoder: Decoder) -> None:
    """The standard library would detect UTF-16 and accept it; Kafka JSON is UTF-8 (RFC 8259)."""
    value = json.dumps(sql({"id": 1})).encode("utf-16-le")
    assert reason_of(decoder, PG, value).startswith("value is not JSON (")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 5000, 200_000])
def test_json_nested_beyond_the_limit_is_poison_naming_it(decoder: Decoder, depth: int) -> None:
    value = b'{"op":"c","after":{"id":1,"x":' + b"[" * depth + b"]" * depth + b'},"source":{"lsn":1}}'
    assert reason_of(decoder, PG, value) == f"value refused: nested deeper than {MAX_DEPTH} levels (the nesting limit)"


def test_nesting_inside_an_embedded_document_string_is_limited_too(decoder: Decoder) -> None:
    value = dumps(mongo('{"_id": 1, "x": ' + "[" * 3000 + "]" * 3000 + "}"))
    assert reason_of(decoder, MONGO, value) == (
        f"debezium-mongodb: 'after' refused: nested deeper than {MAX_DEPTH} levels (the nesting limit)"
    )


def test_nesting_up_to_the_limit_is_accepted_and_the_limit_is_a_parameter() -> None:
    inner = "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2)
    value = ('{"op":"c","after":{"x":' + inner + '},"source":{"lsn":1}}').encode()
    assert Decoder().decode(PG, None, value).after is not None
    with pytest.raises(DecodeError, match="deeper than 10 levels"):
        Decoder(max_depth=10).decode(PG, None, value)


def test_parsed_input_beyond_the_limit_is_poison(decoder: Decoder) -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(DecodeError, match="nested deeper than"):
        decoder.decode_json(PG, None, sql({"id": 1, "x": deep}))


@pytest.mark.parametrize("limit", [3, 10, 200, 254, 255, 300])
@pytest.mark.parametrize("big_int", [False, True], ids=["orjson", "stdlib"])
def test_the_nesting_limit_is_exact_on_both_parser_paths(limit: int, big_int: bool) -> None:
    """Depth = containers on the longest path (the outer object counts). Siblings push the
    bracket count over the limit so that the check really runs."""

    def text(depth: int) -> str:
        inner = '{"k": ' * ((depth - 1) // 2) + "[" * ((depth - 1) - (depth - 1) // 2)
        inner += "0" if not big_int else "123456789012345678901234567890"
        inner += "]" * ((depth - 1) - (depth - 1) // 2) + "}" * ((depth - 1) // 2)
        return '{"deep": ' + inner + ', "wide": [' + ",".join(["[]"] * (limit + 5)) + "]}"

    assert parse_json(text(limit), limit)["wide"][0] == []
    with pytest.raises(JSONDepthError):
        parse_json(text(limit + 1), limit)


def test_parse_json_errors_are_typed() -> None:
    with pytest.raises(JSONDepthError):
        parse_json("[" * 300 + "]" * 300)
    with pytest.raises(JSONLimitError, match="more than 1000 digits"):
        parse_json("[" + "9" * 1200 + "]")
    with pytest.raises(JSONLimitError, match="lone UTF-16 surrogate"):
        parse_json("\ud800")


# --- Extended JSON and oplog patches: $-keys of the input are never echoed ---------------------


@pytest.mark.parametrize(
    "after",
    [
        '{"_id": 1, "x": {"$date": "' + CANARY + '"}}',
        '{"_id": 1, "x": {"$' + CANARY + '": 1, "$date": "x"}}',
        '{"_id": 1, "x": {"$binary": {"base64": "' + CANARY + '", "subType": "zz"}}}',
        '{"_id": 1, "x": {"$numberLong": "' + CANARY + '"}}',
        '{"_id": 1, "x": {"$numberDecimal": "' + "1" * 800_000 + '"}}',
        '{"_id": 1, "x": {"$numberLong": "' + "1" * 800_000 + '"}}',
        '{"_id": 1, "x": {"$timestamp": {"t": "' + CANARY + '"}}}',
    ],
    ids=["date", "unknown-key-first", "binary", "numberLong", "huge-decimal", "huge-long", "timestamp"],
)
def test_malformed_extended_json_reasons_name_a_known_type_only(decoder: Decoder, after: str) -> None:
    reason = reason_of(decoder, MONGO, dumps(mongo(after)))
    known = "|".join(re.escape(t) for t in ("$date", "$binary", "$numberLong", "$numberDecimal", "$timestamp"))
    assert re.fullmatch(
        rf"debezium-mongodb: 'after' is not valid Extended JSON \(invalid Extended JSON ({known}) wrapper\)", reason
    )


@pytest.mark.parametrize("operator", ["$" + CANARY, "$inc"])
def test_unsupported_patch_operators_are_named_only_when_known(decoder: Decoder, operator: str) -> None:
    value = dumps(mongo(None, op="u", patch=json.dumps({operator: {"a": 1}})))  # type: ignore[arg-type]
    reason = reason_of(decoder, MONGO, value, key=dumps({"id": "1"}))
    expected = "$inc" if operator == "$inc" else "(unknown)"
    assert reason == f"debezium-mongodb: oplog 'patch' operator {expected} is not supported"


# --- Avro: schema errors, recursive schemas, zero-size arrays ----------------------------------


def avro_decoder(schema: Any) -> tuple[Decoder, int, FakeRegistry]:
    reg = FakeRegistry()
    return Decoder(schema_registry=reg), reg.add(schema), reg


def test_an_unusable_schema_is_poison_without_its_text() -> None:
    dec, sid, _ = avro_decoder({"type": "record", "name": "r", "fields": [{"name": "a", "type": CANARY}]})
    assert reason_of(dec, PG, b"\x00" + sid.to_bytes(4, "big") + b"\x02") == (
        f"Confluent Avro: schema id {sid} is not a usable Avro schema"
    )


def test_data_not_matching_the_schema_never_quotes_it() -> None:
    schema = {"type": "record", "name": "r", "fields": [{"name": "s", "type": "string"}]}
    dec, sid, _ = avro_decoder(schema)
    data = frame(sid, schema, {"s": CANARY})[:-3] + b"\xff\xfe\xfd"
    assert "does not match schema id" in reason_of(dec, PG, data)


def test_a_recursive_schema_is_refused_before_reading_deep_data() -> None:
    """fastavro recurses in C: this message, read with the schema, kills the process (SIGSEGV).
    Run in a subprocess so that a regression cannot take the test run down with it."""
    code = (
        "from streamproc.sources import Decoder\n"
        "from streamproc.errors import DecodeError\n"
        "from tests.unit.sources._support import FakeRegistry\n"
        "reg = FakeRegistry()\n"
        "sid = reg.add({'type': 'record', 'name': 'N', 'fields': [{'name': 'next', 'type': ['null', 'N']}]})\n"
        "data = b'\\x00' + sid.to_bytes(4, 'big') + b'\\x02' * 200000 + b'\\x00'\n"
        "try:\n    Decoder(schema_registry=reg).decode('t', None, data)\n"
        "except DecodeError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "Confluent Avro: schema id 1 is recursive (not supported)"


def test_an_array_of_zero_size_items_is_refused() -> None:
    dec, sid, _ = avro_decoder({"type": "array", "items": "null"})
    data = b"\x00" + sid.to_bytes(4, "big") + b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f\x00"  # 2**62 nulls
    assert "array of zero-size items" in reason_of(dec, PG, data)


def test_a_schema_nested_beyond_the_limit_is_refused() -> None:
    schema: Any = "long"
    for _ in range(MAX_DEPTH):
        schema = {"type": "array", "items": schema}
    dec, sid, _ = avro_decoder(schema)
    assert "nests deeper than" in reason_of(dec, PG, b"\x00" + sid.to_bytes(4, "big") + b"\x00")


# --- the decode command keeps going after every one of them ------------------------------------


def test_decode_command_reports_each_poison_pill_and_continues() -> None:
    good = {"topic": PG, "value": sql({"id": 1})}
    pills = [
        {"topic": PG, "value_b64": base64.b64encode(b'{"x":"\\ud800"}').decode()},
        {"topic": PG, "value_b64": base64.b64encode(b'{"x":"\xff"}').decode()},
        {"topic": PG, "value_b64": base64.b64encode(b"[" * 100_000).decode()},
        {"topic": MONGO, "value": mongo('{"_id": 1, "x": {"$' + CANARY + '": 1, "$date": "x"}}')},
    ]
    lines = [json.dumps(x) for x in [good, *pills, good]]
    out = StringIO()
    assert run_decode(lines, out, None) == 0
    results = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [r["status"] for r in results] == ["ok", "error", "error", "error", "error", "ok"]
    assert CANARY not in out.getvalue()
