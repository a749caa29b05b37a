"""Raw bytes, poison input, format precedence and tombstones."""

from __future__ import annotations

import pytest

from streamproc.cli.dump import to_json_line
from streamproc.errors import ConfigError, DecodeError
from streamproc.model import Op, Skip
from streamproc.sources import Decoder

from ._support import dumps, strict_json

SECRET = "s3cr3t-4111111111111111"


def pg_event(**after) -> dict:
    return {
        "op": "c",
        "before": None,
        "after": {"id": 1, **after},
        "source": {"connector": "postgresql", "schema": "public", "table": "t", "lsn": 10, "ts_ms": 1},
    }


def test_garbage_bytes_name_the_magic_byte_only(decoder: Decoder) -> None:
    with pytest.raises(DecodeError) as info:
        decoder.decode("t", None, b"\xff\xfe" + SECRET.encode())
    message = str(info.value)
    assert "not JSON" in message and "not Confluent Avro (magic byte 0xff" in message
    assert SECRET not in message


def test_truncated_json_reports_position_not_content(decoder: Decoder) -> None:
    data = dumps(pg_event(card=SECRET))[:-12]
    with pytest.raises(DecodeError) as info:
        decoder.decode("t", None, data)
    message = str(info.value)
    assert "magic byte 0x7b" in message and "line 1 column" in message
    assert SECRET[:6] not in message


def test_empty_value_is_poison_not_a_tombstone(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="empty"):
        decoder.decode("t", b'{"id": 1}', b"")


@pytest.mark.parametrize(
    ("data", "kind"), [(b"42", "number"), (b"[1, 2]", "array"), (b"true", "boolean"), (b'"just text"', "string")]
)
def test_json_that_is_not_an_object(decoder: Decoder, data: bytes, kind: str) -> None:
    with pytest.raises(DecodeError, match=f"value is a JSON {kind}"):
        decoder.decode("t", None, data)
    with pytest.raises(DecodeError, match=f"value is a JSON {kind}"):
        decoder.decode("t", None, data, fmt="debezium-sql")


def test_avro_frame_without_registry(decoder: Decoder) -> None:
    with pytest.raises(DecodeError, match="no schema registry is configured"):
        decoder.decode("t", None, b"\x00\x00\x00\x00\x01\x02")


def test_plain_document_asks_for_the_topic_format(decoder: Decoder) -> None:
    with pytest.raises(DecodeError) as info:
        decoder.decode("shop.orders", None, dumps({"id": 1, "card": SECRET}))
    assert str(info.value) == (
        "format not recognised: a plain document without an envelope; set the format for topic 'shop.orders'"
    )


def test_huge_integers_survive_end_to_end(decoder: Decoder) -> None:
    text = (
        b'{"op": "c", "after": {"id": 1, "big": 123456789012345678901234567890, "u64": 18446744073709551615},'
        b' "source": {"connector": "postgresql", "schema": "public", "table": "t", "lsn": 9007199254740993}}'
    )
    ev = decoder.decode("t", None, text)
    assert ev.after["big"] == 123456789012345678901234567890
    assert ev.after["u64"] == 18446744073709551615
    assert ev.position == (9007199254740993,)
    line = to_json_line(ev.to_json())
    assert "123456789012345678901234567890" in line and "9007199254740993" in line
    assert strict_json(line)["after"]["big"] == 123456789012345678901234567890


def test_format_precedence() -> None:
    value = {"_id": 1, "n": 2}
    dec = Decoder(formats={"x.db.c": "debezium-mongodb-flat"})
    assert dec.decode_json("x.db.c", None, value).format == "debezium-mongodb-flat"
    assert dec.decode_json("x.db.c", None, value, fmt="mongo-kafka").format == "mongo-kafka"
    with pytest.raises(DecodeError):
        dec.decode_json("other", None, value)


def test_unknown_format_names_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="unknown format 'avro'"):
        Decoder(formats={"t": "avro"})
    with pytest.raises(ConfigError):
        Decoder().decode_json("t", None, {"op": "c"}, fmt="nope")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ({"id": "1004"}, "debezium-mongodb"),
        ({"id": 1}, "debezium-sql"),
        ({"id": 1, "b": 2}, "debezium-sql"),
        ({"_id": 5}, "mongo-kafka"),
        (None, "debezium-sql"),
        (
            {"schema": {"type": "struct", "fields": [{"field": "id", "type": "string"}]}, "payload": {"id": "7"}},
            "debezium-mongodb",
        ),
        (
            {"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32"}]}, "payload": {"id": "7"}},
            "debezium-sql",
        ),
    ],
)
def test_tombstone_format_guess(decoder: Decoder, key, expected: str) -> None:
    assert decoder.decode_json("t", key, None) == Skip(expected, "tombstone")
    assert decoder.decode("t", None if key is None else dumps(key), None) == Skip(expected, "tombstone")
    assert decoder.decode_json("t", key, None, fmt="dms") == Skip("dms", "tombstone")


def test_non_json_string_keys_are_accepted(decoder: Decoder) -> None:
    ev = decoder.decode("t", b"not json key", dumps(pg_event()))
    assert ev.op is Op.INSERT and ev.key == {}


def test_malformed_fields_become_poison_not_crashes(decoder: Decoder) -> None:
    bad_source = {"op": "c", "after": {"id": 1}, "source": {"connector": "postgresql", "table": ["x"], "schema": "s"}}
    ev = decoder.decode_json("p.s.t", None, bad_source)
    assert ev.namespace == "s.t"
    with pytest.raises(DecodeError, match="^debezium-sql: 'after' is not an object$"):
        decoder.decode_json("t", None, {"op": "c", "after": [1], "source": {"connector": "postgresql"}})
    with pytest.raises(DecodeError, match="^dms: 'data' is not an object$"):
        decoder.decode_json("t", None, {"data": "x", "metadata": {"record-type": "data", "operation": "insert"}})
    with pytest.raises(DecodeError, match="^mongo-kafka: 'updateDescription.removedFields' is not a list of paths$"):
        decoder.decode_json(
            "t",
            None,
            {
                "operationType": "update",
                "documentKey": {"_id": 1},
                "updateDescription": {"updatedFields": {}, "removedFields": 5},
            },
        )
