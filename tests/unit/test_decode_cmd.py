"""``streamproc decode`` body: JSON Lines dump in, one strict-JSON result line per record out."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

from streamproc.cli.decode import run_decode
from streamproc.cli.dump import DumpError, DumpRecord, read_dump
from streamproc.errors import ConfigError
from streamproc.sources import Decoder

MONGO_VALUE = {
    "op": "c",
    "after": '{"_id" : {"$numberLong" : "1004"}, "score" : NaN, "when" : {"$date" : 1783101585729}}',
    "source": {"connector": "mongodb", "ts_ms": 1558965508000, "db": "inventory", "collection": "customers", "ord": 31},
}
PG_VALUE = {
    "op": "u",
    "before": None,
    "after": {"id": 1, "name": "x"},
    "source": {
        "connector": "postgresql",
        "schema": "public",
        "table": "customers",
        "lsn": 9007199254740993,
        "ts_ms": 1559033904863,
    },
}


@dataclass(frozen=True)
class FakeSchema:
    schema_str: str
    schema_type: str = "AVRO"


class FakeRegistry:
    """A schema registry holding ``schemas`` (id → Avro schema); any other id is a test failure."""

    def __init__(self, schemas: dict[int, dict[str, Any]]) -> None:
        self.schemas = schemas

    def get_schema(self, schema_id: int) -> FakeSchema:
        assert schema_id in self.schemas, f"unexpected schema id {schema_id}"
        return FakeSchema(json.dumps(self.schemas[schema_id]))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def strict(text: str) -> Any:
    def reject(token: str) -> Any:
        raise ValueError(token)

    return json.loads(text, parse_constant=reject)


def run(lines: list[str], fmt: str | None = None, decoder: Decoder | None = None) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = run_decode(lines, out, fmt, decoder)
    text = out.getvalue()
    assert text.endswith("\n") or text == ""
    return code, [strict(line) for line in text.splitlines()]


def line(**record: Any) -> str:
    return json.dumps(record) + "\n"


def test_mixed_input_produces_one_line_per_record_in_order() -> None:
    lines = [
        line(topic="fulfillment.inventory.customers", key={"id": "1004"}, value=MONGO_VALUE),
        line(topic="fulfillment.inventory.customers", key={"id": "1004"}, value=None),
        line(
            topic="PostgreSQL_server.public.customers",
            key_b64=b64(b'{"id": 1}'),
            value_b64=b64(json.dumps(PG_VALUE).encode()),
        ),
        line(topic="t", key=None, value_b64=b64(b"\xff\xfe\x00garbage")),
        "this is not json\n",
        "\n",
        line(key=None, value={}),
        line(
            topic="PostgreSQL_server.transaction",
            key=None,
            value={"status": "BEGIN", "id": "571:53195829", "event_count": None, "data_collections": None},
        ),
    ]
    code, out = run(lines)
    assert code == 0  # the input was read: errors are reported per line, not by the exit code
    assert [o["status"] for o in out] == ["ok", "skip", "ok", "error", "error", "error", "skip"]

    mongo = out[0]
    assert mongo == {
        "status": "ok",
        "format": "debezium-mongodb",
        "op": "insert",
        "namespace": "inventory.customers",
        "key": {"_id": 1004},
        "before": None,
        "after": {"_id": 1004, "score": "NaN", "when": "2026-07-03T17:59:45.729Z"},
        "update": None,
        "position": [1558965508000, 31, 0],
        "ts_ms": 1558965508000,
    }
    assert out[1] == {"status": "skip", "format": "debezium-mongodb", "reason": "tombstone"}
    assert out[2]["format"] == "debezium-sql" and out[2]["key"] == {"id": 1}
    assert out[2]["position"] == [9007199254740993]
    assert out[3]["error_class"] == "poison" and "magic byte 0xff" in out[3]["reason"]
    assert "garbage" not in out[3]["reason"]
    assert out[4] == {"status": "error", "error_class": "poison", "reason": out[4]["reason"]} and out[4][
        "reason"
    ].startswith("input line 5: not JSON")
    assert out[5]["reason"] == "input line 7: missing 'topic' (a non-empty string)"
    assert out[6] == {"status": "skip", "format": "debezium-sql", "reason": "transaction"}


def test_all_good_returns_zero_and_big_integers_stay_exact() -> None:
    value = dict(PG_VALUE, after={"id": 1, "big": 123456789012345678901234567890})
    out = io.StringIO()
    code = run_decode([line(topic="a.public.customers", key={"id": 1}, value=value)], out, None)
    assert code == 0
    assert "123456789012345678901234567890" in out.getvalue()
    assert strict(out.getvalue())["after"]["big"] == 123456789012345678901234567890


def test_fixed_format_and_offsets() -> None:
    code, out = run([line(topic="pfx.shop.orders", key=None, value={"_id": 5, "n": 1}, offset=17)], fmt="mongo-kafka")
    assert code == 0
    assert out == [
        {
            "status": "ok",
            "format": "mongo-kafka",
            "op": "upsert",
            "namespace": "shop.orders",
            "key": {"_id": 5},
            "before": None,
            "after": {"_id": 5, "n": 1},
            "update": None,
            "position": [17],
            "ts_ms": None,
        }
    ]
    code, out = run([line(topic="pfx.shop.orders", key=None, value={"_id": 5, "n": 1})])
    assert code == 0 and "set the format for topic 'pfx.shop.orders'" in out[0]["reason"]


def test_unknown_format_raises_before_any_output() -> None:
    out = io.StringIO()
    with pytest.raises(ConfigError, match="unknown format"):
        run_decode([line(topic="t", key=None, value=None)], out, "json")
    assert out.getvalue() == ""


def test_empty_value_bytes_and_bad_base64() -> None:
    code, out = run(
        [
            line(topic="t", key=None, value_b64=""),
            line(topic="t", key=None, value_b64="***"),
            line(topic="t", key=None, value_b64=None),
            line(topic="t", value=1, value_b64="AA=="),
        ]
    )
    assert code == 0  # the input was read: errors are reported per line, not by the exit code
    assert "empty" in out[0]["reason"]
    assert out[1]["reason"] == "input line 2: 'value_b64' is not valid base64"
    assert out[2] == {"status": "skip", "format": "debezium-sql", "reason": "tombstone"}
    assert out[3]["reason"] == "input line 4: both 'value' and 'value_b64'"


def test_avro_through_value_b64_with_a_decoder() -> None:
    import fastavro

    schema = {
        "type": "record",
        "name": "Envelope",
        "fields": [
            {"name": "op", "type": "string"},
            {
                "name": "after",
                "type": ["null", {"type": "record", "name": "Row", "fields": [{"name": "id", "type": "long"}]}],
            },
            {
                "name": "source",
                "type": {
                    "type": "record",
                    "name": "Source",
                    "fields": [
                        {"name": "connector", "type": "string"},
                        {"name": "schema", "type": "string"},
                        {"name": "table", "type": "string"},
                        {"name": "lsn", "type": "long"},
                    ],
                },
            },
        ],
    }
    buf = io.BytesIO()
    fastavro.schemaless_writer(
        buf,
        fastavro.parse_schema(schema),
        {"op": "r", "after": {"id": 3}, "source": {"connector": "postgresql", "schema": "s", "table": "t", "lsn": 5}},
    )

    data = b"\x00\x00\x00\x00\x09" + buf.getvalue()
    code, out = run(
        [line(topic="p.s.t", key={"id": 3}, value_b64=b64(data))],
        decoder=Decoder(schema_registry=FakeRegistry({9: schema})),
    )
    assert code == 0
    assert out[0]["op"] == "snapshot" and out[0]["after"] == {"id": 3} and out[0]["position"] == [5]


def test_read_dump_records() -> None:
    items = list(
        read_dump(
            [
                '{"topic": "t", "key": {"id": 1}, "value": {"a": NaN}, "offset": 4}',
                b'{"topic": "t", "key_b64": "e30=", "value": {"a": 1}}',
                '{"topic": "t", "value": null, "offset": "x"}',
            ]
        )
    )
    assert items[0] == DumpRecord(1, "t", {"id": 1}, {"a": "NaN"}, False, 4)
    assert items[1] == DumpRecord(2, "t", b"{}", b'{"a":1}', True, None)
    assert items[2] == DumpError(3, "input line 3: 'offset' is not an integer")
